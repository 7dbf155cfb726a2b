"""The real OS keyring: gnome-keyring's Secret Service on a private D-Bus session.

Each test gets its own `dbus-run-session` with `gnome-keyring-daemon` in a
temporary HOME (tests/keyring_session.py), so nothing touches the machine's
own keyring. The code under test goes through keyring's real SecretService
backend: `spacetime-panel keys` as a child process in that session, the
SecretStore and the settings dialog in this process with the session's bus.
`secret-tool` (libsecret) is the independent witness of what was stored.

A keyring that cannot be unlocked is tested twice: locked with no prompt
possible (gnome-keyring answers "dismissed" at once), and locked behind a
prompter that never answers (the command gives up after --keyring-timeout).

`.ci/run` installs dbus, gnome-keyring and libsecret-tools; there (CI=true)
missing tools fail these tests, elsewhere they are skipped.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from keyring.backends import SecretService
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from spacetime_panel.config import Settings
from spacetime_panel.secrets import (
    BRIDGE_API_KEY,
    PANEL_API_KEY,
    PANEL_READ_KEY,
    SecretStore,
)
from spacetime_panel.secrets.tokens import verify_token
from spacetime_panel.ui.settings_dialog import SettingsDialog
from tests.conftest import TIME_SCALE
from tests.keyring_session import KeyringSession, missing_tools, start_keyring_session

MISSING = [*missing_tools(), *(["secret-tool"] if shutil.which("secret-tool") is None else [])]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

pytestmark = [
    pytest.mark.skipif(
        bool(MISSING) and not IN_CI,
        reason=f"needs {', '.join(MISSING)} (apt-get install dbus gnome-keyring libsecret-tools)",
    ),
    pytest.mark.timeout(120 * TIME_SCALE),
]

StartSession = Callable[[str], KeyringSession]


@pytest.fixture
def start_session() -> Iterator[StartSession]:
    if MISSING:
        pytest.fail(
            f"{', '.join(MISSING)} not found, and CI must test the real keyring: "
            "install dbus, gnome-keyring and libsecret-tools (.ci/run does)"
        )
    sessions: list[KeyringSession] = []

    def start(state: str) -> KeyringSession:
        session = start_keyring_session(state, timeout=30 * TIME_SCALE)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


@pytest.fixture
def unlocked(start_session: StartSession) -> KeyringSession:
    return start_session("unlocked")


@pytest.fixture
def on_session_bus(unlocked: KeyringSession, monkeypatch: pytest.MonkeyPatch) -> KeyringSession:
    """This process talks to the test session's keyring (never the machine's)."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", unlocked.bus_address)
    return unlocked


def real_store() -> SecretStore:
    return SecretStore(SecretService.Keyring(), environ={}, timeout=20 * TIME_SCALE)


def stored_by_secret_tool(session: KeyringSession, name: str) -> str | None:
    """What libsecret's own client reads for our entry (None when there is none)."""
    result = session.run("secret-tool", "lookup", "service", "spacetime-panel", "username", name)
    return result.stdout if result.returncode == 0 else None


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and text.endswith("\n"), text
    return text.strip()


def test_keys_go_through_the_secret_service_and_back(
    on_session_bus: KeyringSession,
) -> None:
    session = on_session_bus

    generated = session.panel("keys", "generate", "panel")
    assert generated.returncode == 0, generated.stderr
    key = one_line(generated.stdout)
    assert "in the OS keyring (SecretService)" in one_line(generated.stderr)
    assert key not in generated.stderr

    assert session.panel("keys", "where", "panel").stdout == "keyring (SecretService)\n"
    assert stored_by_secret_tool(session, "panel_api_key") == key
    assert real_store().lookup(PANEL_API_KEY) == (key, "keyring")

    again = session.panel("keys", "generate", "panel")
    assert again.returncode == 1 and "--force" in one_line(again.stderr)
    assert stored_by_secret_tool(session, "panel_api_key") == key

    token = session.panel("keys", "token", "--scope", "read", "--ttl", "30m")
    assert token.returncode == 0, token.stderr
    assert verify_token(key, one_line(token.stdout)) == "read"

    listing = session.panel("keys", "where")
    assert listing.stdout == "panel: keyring (SecretService)\npanel-read: none\nbridge: none\n"
    assert key not in listing.stdout + listing.stderr

    deleted = session.panel("keys", "delete", "panel")
    assert deleted.returncode == 0, deleted.stderr
    assert session.panel("keys", "where", "panel").stdout == "none\n"
    assert stored_by_secret_tool(session, "panel_api_key") is None
    assert real_store().lookup(PANEL_API_KEY) == (None, None)


def test_the_secret_store_writes_what_the_command_reads(on_session_bus: KeyringSession) -> None:
    store = real_store()
    assert store.available() and store.backend_label == "SecretService"

    store.set(BRIDGE_API_KEY, "br1dge-in-process")

    assert stored_by_secret_tool(on_session_bus, "bridge_api_key") == "br1dge-in-process"
    assert on_session_bus.panel("keys", "where", "bridge").stdout == "keyring (SecretService)\n"
    environment_wins = SecretStore(
        SecretService.Keyring(), environ={"SPACETIME_API_KEY": "from-env"}
    )
    assert environment_wins.get(BRIDGE_API_KEY) == ("from-env", "environment")
    assert store.delete(BRIDGE_API_KEY) is True
    assert store.delete(BRIDGE_API_KEY) is False
    assert store.get(BRIDGE_API_KEY) == (None, None)


def test_keys_set_from_a_pipe_and_from_the_environment(unlocked: KeyringSession) -> None:
    piped = unlocked.panel("keys", "set", "bridge", input="piped-br1dge-key\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "" and "piped-br1dge" not in piped.stderr
    assert stored_by_secret_tool(unlocked, "bridge_api_key") == "piped-br1dge-key"

    unlocked.env["READ_KEY_FOR_SETUP"] = "env-read-key"
    from_env = unlocked.panel("keys", "set", "panel-read", "--from-env", "READ_KEY_FOR_SETUP")
    assert from_env.returncode == 0, from_env.stderr
    assert stored_by_secret_tool(unlocked, "panel_read_key") == "env-read-key"


def read_until(fd: int, wanted: bytes | None, timeout: float) -> bytes:
    """Read a pty until `wanted` shows up (or, with None, until the other side closes)."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while wanted is None or wanted not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {wanted!r}; got {data!r}")
            if not selector.select(left):
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                if wanted is None:
                    return data
                raise AssertionError(f"the terminal closed before {wanted!r}; got {data!r}")
            data += chunk
    return data


def test_keys_set_on_a_terminal_does_not_echo(unlocked: KeyringSession) -> None:
    import pty  # POSIX only: imported here so that Windows can collect this module

    leader, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "spacetime_panel", "keys", "set", "bridge"],
        env=unlocked.env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        shown = read_until(leader, b"(not shown): ", timeout=30)
        os.write(leader, b"typed-on-a-tty-k3y\n")
        shown += read_until(leader, None, timeout=30)
        assert child.wait(timeout=30 * TIME_SCALE) == 0, shown
    finally:
        os.close(leader)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert b"typed-on-a-tty-k3y" not in shown
    assert b"stored the Bridge API key (Godot) in the OS keyring (SecretService)" in shown
    assert stored_by_secret_tool(unlocked, "bridge_api_key") == "typed-on-a-tty-k3y"


def test_the_settings_dialog_stores_through_the_secret_service(
    qtbot: QtBot, on_session_bus: KeyringSession, tmp_path: Path
) -> None:
    dialog = SettingsDialog(Settings(), real_store(), tmp_path / "config.toml")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.tabs.setCurrentWidget(dialog.keys)
    row = dialog.keys.row(PANEL_READ_KEY)
    assert row.source_label.text() == "not set"

    qtbot.keyClicks(row.value_edit, "dialog-read-k3y")
    qtbot.mouseClick(row.set_button, Qt.MouseButton.LeftButton)

    assert row.status_label.text() == "Saved in the OS keyring."
    assert row.source_label.text() == "stored in the OS keyring"
    assert stored_by_secret_tool(on_session_bus, "panel_read_key") == "dialog-read-k3y"
    where = on_session_bus.panel("keys", "where", "panel-read")
    assert where.stdout == "keyring (SecretService)\n"

    qtbot.mouseClick(row.clear_button, Qt.MouseButton.LeftButton)

    assert row.source_label.text() == "not set"
    assert on_session_bus.panel("keys", "where", "panel-read").stdout == "none\n"


def test_a_locked_keyring_fails_at_once_in_one_line(start_session: StartSession) -> None:
    session = start_session("locked")

    for args, variable in (
        (("keys", "where", "panel"), "SPACETIME_PANEL_API_KEY"),
        (("keys", "generate", "bridge"), "SPACETIME_API_KEY"),
        (("keys", "token"), "SPACETIME_PANEL_API_KEY"),
    ):
        started = time.monotonic()
        result = session.panel(*args, input="")
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert one_line(result.stderr) == (
            "spacetime-panel: the OS keyring is locked and could not be unlocked (Failed to "
            f"unlock the collection!); set {variable} in the environment instead"
        )
        assert time.monotonic() - started < 20 * TIME_SCALE
    assert stored_by_secret_tool(session, "bridge_api_key") is None


def test_the_settings_dialog_says_a_locked_keyring_is_locked(
    qtbot: QtBot, start_session: StartSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    session = start_session("locked")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session.bus_address)
    dialog = SettingsDialog(Settings(), real_store(), tmp_path / "config.toml")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.tabs.setCurrentWidget(dialog.keys)
    row = dialog.keys.row(BRIDGE_API_KEY)
    assert row.source_label.text().startswith("unknown: the OS keyring is locked")

    qtbot.keyClicks(row.value_edit, "not-st0red")
    qtbot.mouseClick(row.set_button, Qt.MouseButton.LeftButton)

    assert row.status_label.isVisible()
    assert "locked" in row.status_label.text()
    assert "SPACETIME_API_KEY" in row.status_label.text()
    assert "not-st0red" not in row.status_label.text() + row.source_label.text()
    assert row.value_edit.text() == ""


def test_a_keyring_whose_prompt_never_answers_gives_up(start_session: StartSession) -> None:
    session = start_session("hanging")

    started = time.monotonic()
    result = session.panel("keys", "--keyring-timeout", "2", "where", "bridge")
    elapsed = time.monotonic() - started

    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert one_line(result.stderr) == (
        "spacetime-panel: the OS keyring did not answer within 2 s (locked, and waiting for a "
        "password nobody can type?); set SPACETIME_API_KEY in the environment instead"
    )
    assert 2 <= elapsed < 20 * TIME_SCALE
