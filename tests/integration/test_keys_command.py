"""`spacetime-panel keys`, through `main()` as a user types it.

The keyring is an in-memory stand-in here (tests/integration/test_real_keyring.py
does the same through gnome-keyring's Secret Service); keyring's own `fail`
backend plays "no keyring at all".
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from spacetime_panel.cli import main
from spacetime_panel.commands.keys import parse_ttl
from spacetime_panel.secrets.tokens import TokenRejected, verify_token
from tests.conftest import TIME_SCALE
from tests.unit.test_secrets import MemoryKeyring, PlaintextKeyring

SERVICE = "spacetime-panel"


class StuckKeyring(MemoryKeyring):
    """A keyring whose every call waits, as behind a password prompt nobody sees."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait()
        return None


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    memory = MemoryKeyring()
    use_backend(monkeypatch, memory)
    return memory


@pytest.fixture(autouse=True)
def no_keys_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("SPACETIME_API_KEY", "SPACETIME_PANEL_API_KEY", "SPACETIME_PANEL_READ_KEY"):
        monkeypatch.delenv(variable, raising=False)


def use_backend(monkeypatch: pytest.MonkeyPatch, chosen: KeyringBackend) -> None:
    monkeypatch.setattr(keyring, "get_keyring", lambda: chosen)


def keys(
    capsys: pytest.CaptureFixture[str], *args: str, stdin: str | None = None
) -> tuple[int, str, str]:
    """Run `spacetime-panel keys ARGS`; (exit code, stdout, stderr)."""
    if stdin is not None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.stdin", io.StringIO(stdin))
            code = main(["keys", *args])
    else:
        code = main(["keys", *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and text.endswith("\n"), text
    return text.strip()


def test_generate_stores_a_key_and_prints_it_once(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring
) -> None:
    code, out, err = keys(capsys, "generate", "panel")

    assert code == 0
    key = one_line(out)
    assert len(key) >= 43 and "." not in key
    assert backend.entries == {(SERVICE, "panel_api_key"): key}
    assert key not in err
    assert one_line(err) == (
        "spacetime-panel: stored the Management API key in the OS keyring (MemoryKeyring); "
        "where there is no keyring, set SPACETIME_PANEL_API_KEY instead"
    )

    code, out, err = keys(capsys, "where", "panel")
    assert (code, out, err) == (0, "keyring (MemoryKeyring)\n", "")


def test_generate_refuses_to_overwrite_without_force(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring
) -> None:
    keys(capsys, "generate", "bridge")
    first = backend.entries[(SERVICE, "bridge_api_key")]

    code, out, err = keys(capsys, "generate", "bridge")
    assert (code, out) == (1, "")
    assert "--force" in one_line(err) and first not in err
    assert backend.entries[(SERVICE, "bridge_api_key")] == first

    code, out, _err = keys(capsys, "generate", "bridge", "--force")
    assert code == 0
    assert backend.entries[(SERVICE, "bridge_api_key")] == out.strip() != first


def test_replacing_the_panel_key_says_old_tokens_stop_working(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring
) -> None:
    _code, old_key, _err = keys(capsys, "generate", "panel")
    _code, token, _err = keys(capsys, "token")

    code, new_key, err = keys(capsys, "generate", "panel", "--force")

    assert code == 0
    assert one_line(err).endswith("; tokens signed with the earlier panel key no longer work")
    with pytest.raises(TokenRejected, match="signature does not match"):
        verify_token(new_key.strip(), token.strip())
    assert verify_token(old_key.strip(), token.strip()) == "read"


def test_set_reads_the_first_line_of_a_pipe_and_prints_nothing(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring
) -> None:
    code, out, err = keys(capsys, "set", "panel-read", stdin="  read-k3y-from-pipe \nignored\n")

    assert (code, out) == (0, "")
    assert backend.entries == {(SERVICE, "panel_read_key"): "read-k3y-from-pipe"}
    assert "read-k3y" not in err
    assert "Management API read-only key" in one_line(err)


def test_set_from_an_environment_variable(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_BRIDGE_KEY", "br1dge-from-env")

    code, out, err = keys(capsys, "set", "bridge", "--from-env", "MY_BRIDGE_KEY")

    assert (code, out) == (0, "")
    assert backend.entries == {(SERVICE, "bridge_api_key"): "br1dge-from-env"}
    assert "br1dge" not in err

    code, out, err = keys(capsys, "set", "bridge", "--from-env", "NOT_SET_ANYWHERE")
    assert (code, out) == (1, "")
    assert (
        one_line(err) == "spacetime-panel: NOT_SET_ANYWHERE is not set or empty: nothing to store"
    )


@pytest.mark.parametrize("stdin", ["", "\n", "   \n"])
def test_set_refuses_an_empty_key(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring, stdin: str
) -> None:
    code, out, err = keys(capsys, "set", "panel", stdin=stdin)
    assert (code, out) == (1, "")
    assert "nothing stored" in one_line(err)
    assert backend.entries == {}


def test_delete_then_where_says_none(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring
) -> None:
    keys(capsys, "set", "bridge", stdin="k3y\n")

    code, out, err = keys(capsys, "delete", "bridge")
    assert (code, out) == (0, "")
    assert one_line(err).startswith("spacetime-panel: removed the Bridge API key (Godot) from")
    assert backend.entries == {}

    code, out, err = keys(capsys, "delete", "bridge")
    assert code == 0 and "no Bridge API key (Godot) was stored" in one_line(err)
    assert keys(capsys, "where", "bridge") == (0, "none\n", "")


def test_where_lists_every_key_and_never_prints_one(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPACETIME_PANEL_API_KEY", "env-c0ntrol-key")
    keys(capsys, "set", "bridge", stdin="st0red-bridge-key\n")
    keys(capsys, "set", "panel", stdin="st0red-panel-key\n")

    code, out, err = keys(capsys, "where")

    assert (code, err) == (0, "")
    assert out == (
        "panel: environment (SPACETIME_PANEL_API_KEY)\n"
        "panel-read: none\n"
        "bridge: keyring (MemoryKeyring)\n"
    )


def test_a_token_is_signed_by_the_panel_key(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring
) -> None:
    _code, key, _err = keys(capsys, "generate", "panel")

    code, out, err = keys(capsys, "token", "--scope", "control", "--ttl", "30m")

    assert code == 0
    before = time.time()
    assert verify_token(key.strip(), one_line(out)) == "control"
    assert verify_token(key.strip(), out.strip(), now=before + 29 * 60) == "control"
    assert "a control token, valid until about" in one_line(err)
    assert key.strip() not in err

    code, out, _err = keys(capsys, "token")  # read, 8 h by default
    assert code == 0 and verify_token(key.strip(), out.strip()) == "read"


def test_a_token_needs_a_control_key(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring
) -> None:
    keys(capsys, "generate", "panel-read")

    code, out, err = keys(capsys, "token", "--scope", "read")

    assert (code, out) == (1, "")
    assert one_line(err) == (
        "spacetime-panel: no Management API key to sign the token with: run "
        "`spacetime-panel keys generate panel`, or set SPACETIME_PANEL_API_KEY"
    )


def test_a_short_control_key_cannot_sign(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPACETIME_PANEL_API_KEY", "short")
    code, out, err = keys(capsys, "token")
    assert (code, out) == (1, "")
    assert "too short" in one_line(err) and "short\n" not in err


@pytest.mark.parametrize(
    "args",
    [
        ("generate", "panel"),
        ("set", "bridge"),
        ("delete", "panel-read"),
        ("where", "panel"),
        ("token",),
    ],
)
def test_without_a_keyring_one_line_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    use_backend(monkeypatch, fail.Keyring())
    variable = {
        "panel": "SPACETIME_PANEL_API_KEY",
        "bridge": "SPACETIME_API_KEY",
        "panel-read": "SPACETIME_PANEL_READ_KEY",
    }[args[1] if len(args) > 1 else "panel"]

    code, out, err = keys(capsys, *args, stdin="typed-key\n")

    assert (code, out) == (1, "")
    assert one_line(err) == (
        "spacetime-panel: no OS keyring is available (no Secret Service, KWallet or Keychain "
        f"found); set {variable} in the environment instead"
    )


def test_without_a_keyring_the_environment_still_answers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, fail.Keyring())
    monkeypatch.setenv("SPACETIME_API_KEY", "env-k3y")
    assert keys(capsys, "where", "bridge") == (0, "environment (SPACETIME_API_KEY)\n", "")


def test_a_file_backend_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plaintext = PlaintextKeyring()
    use_backend(monkeypatch, plaintext)

    code, out, err = keys(capsys, "generate", "bridge")

    assert (code, out) == (1, "")
    assert "stores secrets in a file" in one_line(err) and "SPACETIME_API_KEY" in err
    assert plaintext.entries == {}


@pytest.fixture
def stuck(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckKeyring]:
    backend = StuckKeyring()
    use_backend(monkeypatch, backend)
    yield backend
    backend.release.set()


@pytest.mark.timeout(30)
def test_a_keyring_that_never_answers_gives_up_in_one_line(
    capsys: pytest.CaptureFixture[str], stuck: StuckKeyring
) -> None:
    started = time.monotonic()
    code, out, err = keys(capsys, "--keyring-timeout", "0.5", "where", "panel")

    assert (code, out) == (1, "")
    assert one_line(err) == (
        "spacetime-panel: the OS keyring did not answer within 0.5 s (locked, and waiting for "
        "a password nobody can type?); set SPACETIME_PANEL_API_KEY in the environment instead"
    )
    assert time.monotonic() - started < 10 * TIME_SCALE


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("8h", 28800), ("2d", 172800), ("90", 90), ("45s", 45), ("1.5h", 5400)],
)
def test_lifetimes(text: str, seconds: float) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize(
    "args",
    [
        ("token", "--ttl", "0"),
        ("token", "--ttl", "8 hours"),
        ("token", "--ttl", "400d"),
        ("token", "--scope", "admin"),
        ("generate", "godot"),
        ("where", "panel", "bridge"),
        (),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], backend: MemoryKeyring, args: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["keys", *args])
    assert raised.value.code == 2
    assert "usage: spacetime-panel" in capsys.readouterr().err
    assert backend.entries == {}
