"""SecretStore: keyring first-class, environment as the explicit fallback, never a plain file.

There is no keyring daemon on a headless test machine, so a small in-memory
backend stands in for the OS keyring (the real `fail` backend is used for the
"no keyring" cases).
"""

from __future__ import annotations

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from spacetime_panel.secrets import (
    BRIDGE_API_KEY,
    PANEL_API_KEY,
    KeyringUnavailable,
    SecretStore,
)


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError("not set")
        del self.entries[(service, username)]


class PlaintextKeyring(MemoryKeyring):
    """Named like keyrings.alt's file backend, which must be refused."""


def test_set_get_delete_through_the_keyring() -> None:
    backend = MemoryKeyring()
    store = SecretStore(backend, environ={})
    assert store.get(BRIDGE_API_KEY) == (None, None)

    store.set(BRIDGE_API_KEY, "s3cret")

    assert store.get(BRIDGE_API_KEY) == ("s3cret", "keyring")
    assert backend.entries == {("spacetime-panel", "bridge_api_key"): "s3cret"}
    assert store.get(PANEL_API_KEY) == (None, None)
    store.delete(BRIDGE_API_KEY)
    assert store.get(BRIDGE_API_KEY) == (None, None)
    store.delete(BRIDGE_API_KEY)  # clearing twice is fine


def test_environment_wins_over_the_keyring() -> None:
    backend = MemoryKeyring()
    store = SecretStore(backend, environ={"SPACETIME_API_KEY": "from-env"})
    store.set(BRIDGE_API_KEY, "stored")
    assert store.get(BRIDGE_API_KEY) == ("from-env", "environment")


def test_no_keyring_says_so_and_names_the_variable() -> None:
    store = SecretStore(fail.Keyring(), environ={})
    assert not store.available()
    assert "no OS keyring" in (store.unavailable_reason() or "")
    with pytest.raises(KeyringUnavailable) as raised:
        store.set(PANEL_API_KEY, "x")
    message = str(raised.value)
    assert "SPACETIME_PANEL_API_KEY" in message and "\n" not in message
    assert store.get(PANEL_API_KEY) == (None, None)


def test_environment_still_works_without_a_keyring() -> None:
    store = SecretStore(fail.Keyring(), environ={"SPACETIME_PANEL_API_KEY": "k"})
    assert store.get(PANEL_API_KEY) == ("k", "environment")


def test_file_backends_are_refused() -> None:
    backend = PlaintextKeyring()
    store = SecretStore(backend, environ={})
    assert "file" in (store.unavailable_reason() or "")
    with pytest.raises(KeyringUnavailable):
        store.set(BRIDGE_API_KEY, "x")
    assert backend.entries == {}


def test_empty_value_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        SecretStore(MemoryKeyring(), environ={}).set(BRIDGE_API_KEY, "")
