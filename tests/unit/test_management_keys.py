"""Which management keys the API is served with: never fewer than the user set."""

from __future__ import annotations

import pytest
from keyring.backends import fail

from spacetime_panel.api.security import management_keys
from spacetime_panel.commands.common import read_management_keys
from spacetime_panel.secrets import KeyringUnavailable, SecretStore
from tests.unit.test_secrets import LockedKeyring, MemoryKeyring


def test_keys_come_from_the_keyring_and_the_environment() -> None:
    backend = MemoryKeyring()
    backend.set_password("spacetime-panel", "panel_api_key", "control-from-keyring")
    store = SecretStore(backend, environ={"SPACETIME_PANEL_READ_KEY": "read-from-env"})
    keys = management_keys(store)
    assert (keys.control, keys.read) == ("control-from-keyring", "read-from-env")


def test_without_any_keyring_only_the_environment_counts() -> None:
    store = SecretStore(fail.Keyring(), environ={"SPACETIME_PANEL_API_KEY": "k" * 32})
    keys = management_keys(store)
    assert (keys.control, keys.read) == ("k" * 32, None)


def test_a_keyring_that_cannot_be_read_is_an_error_not_an_open_api() -> None:
    # A locked keyring may hold the control key: serving without it would drop auth.
    with pytest.raises(KeyringUnavailable, match="locked"):
        management_keys(SecretStore(LockedKeyring(), environ={}))


def test_serve_refuses_with_one_line_when_the_keyring_cannot_be_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert read_management_keys(SecretStore(LockedKeyring(), environ={})) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("spacetime-panel: cannot read the management API key: ")
    assert "SPACETIME_PANEL_API_KEY" in line


def test_the_environment_still_wins_over_a_locked_keyring() -> None:
    environ = {"SPACETIME_PANEL_API_KEY": "c" * 32, "SPACETIME_PANEL_READ_KEY": "r" * 32}
    keys = management_keys(SecretStore(LockedKeyring(), environ=environ))
    assert (keys.control, keys.read) == ("c" * 32, "r" * 32)
