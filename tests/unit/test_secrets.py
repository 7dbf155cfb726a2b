"""SecretStore: keyring first-class, environment as the explicit fallback, never a plain file.

A small in-memory backend stands in for the OS keyring here (the real `fail`
backend is used for the "no keyring" cases); tests/integration/test_real_keyring.py
goes through gnome-keyring's Secret Service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, fail
from keyring.errors import KeyringLocked, PasswordDeleteError

from spacetime_panel.secrets import (
    BRIDGE_API_KEY,
    PANEL_API_KEY,
    PANEL_READ_KEY,
    SECRETS,
    KeyringUnavailable,
    SecretStore,
)
from spacetime_panel.secrets.store import backend_label


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


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")


class StuckKeyring(MemoryKeyring):
    """Every read waits for `release`, as behind a password prompt nobody sees."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait()
        return super().get_password(service, username)


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("org.freedesktop.DBus.Error.NoReply\nmore detail")


@pytest.fixture
def stuck() -> Iterator[StuckKeyring]:
    backend = StuckKeyring()
    yield backend
    backend.release.set()


def test_three_secrets_with_their_own_entries_and_variables() -> None:
    assert PANEL_READ_KEY in SECRETS
    assert PANEL_READ_KEY.variable == "SPACETIME_PANEL_READ_KEY"
    assert len({s.name for s in SECRETS}) == len({s.variable for s in SECRETS}) == 3


def test_a_locked_keyring_reads_as_not_set_but_lookup_says_why() -> None:
    store = SecretStore(LockedKeyring(), environ={})
    assert store.get(PANEL_READ_KEY) == (None, None)
    with pytest.raises(KeyringUnavailable) as raised:
        store.lookup(PANEL_READ_KEY)
    assert str(raised.value) == (
        "the OS keyring is locked and could not be unlocked (Failed to unlock the collection!); "
        "set SPACETIME_PANEL_READ_KEY in the environment instead"
    )
    with_env = SecretStore(LockedKeyring(), environ={"SPACETIME_PANEL_READ_KEY": "r"})
    assert with_env.lookup(PANEL_READ_KEY) == ("r", "environment")


def test_a_keyring_that_never_answers_is_given_up_on(stuck: StuckKeyring) -> None:
    store = SecretStore(stuck, environ={}, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(KeyringUnavailable, match=r"did not answer within 0\.2 s"):
        store.lookup(BRIDGE_API_KEY)
    assert time.monotonic() - started < 5
    assert store.get(BRIDGE_API_KEY) == (None, None)

    # While that call is still stuck, the next ones fail at once instead of queueing up.
    started = time.monotonic()
    with pytest.raises(KeyringUnavailable, match="has not answered an earlier request yet"):
        store.set(PANEL_API_KEY, "k")
    assert time.monotonic() - started < 0.2

    stuck.release.set()
    stuck.entries[("spacetime-panel", "bridge_api_key")] = "back"
    deadline = time.monotonic() + 5
    while store.get(BRIDGE_API_KEY) != ("back", "keyring"):
        assert time.monotonic() < deadline, "the store did not recover"
        time.sleep(0.02)


def test_a_backend_failure_becomes_one_line() -> None:
    with pytest.raises(KeyringUnavailable) as raised:
        SecretStore(BrokenKeyring(), environ={}).set(BRIDGE_API_KEY, "x")
    assert str(raised.value) == (
        "the OS keyring failed (org.freedesktop.DBus.Error.NoReply more detail); "
        "set SPACETIME_API_KEY in the environment instead"
    )


def test_delete_says_whether_something_was_stored() -> None:
    store = SecretStore(MemoryKeyring(), environ={}, timeout=None)
    store.set(PANEL_READ_KEY, "r")
    assert store.stored(PANEL_READ_KEY) == "r"
    assert store.delete(PANEL_READ_KEY) is True
    assert store.delete(PANEL_READ_KEY) is False
    assert store.stored(PANEL_READ_KEY) is None


def test_backends_are_named_in_a_word() -> None:
    assert backend_label(SecretService.Keyring()) == "SecretService"
    assert backend_label(MemoryKeyring()) == "MemoryKeyring"
    assert SecretStore(fail.Keyring(), environ={}).backend_label == "fail"


def test_a_secret_file_named_by_the_variable_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "panel_api_key"
    secret.write_text("from-a-docker-secret\n", encoding="utf-8")
    store = SecretStore(fail.Keyring(), environ={"SPACETIME_PANEL_API_KEY_FILE": str(secret)})
    assert store.lookup(PANEL_API_KEY) == ("from-a-docker-secret", "environment")
    # the variable itself still wins over its file
    both = SecretStore(
        fail.Keyring(),
        environ={"SPACETIME_PANEL_API_KEY": "direct", "SPACETIME_PANEL_API_KEY_FILE": str(secret)},
    )
    assert both.lookup(PANEL_API_KEY) == ("direct", "environment")


@pytest.mark.parametrize("content", [None, "", "\n"], ids=["missing", "empty", "blank line"])
def test_a_secret_file_that_cannot_serve_is_one_clear_error(
    tmp_path: Path, content: str | None
) -> None:
    secret = tmp_path / "panel_api_key"
    if content is not None:
        secret.write_text(content, encoding="utf-8")
    store = SecretStore(MemoryKeyring(), environ={"SPACETIME_PANEL_API_KEY_FILE": str(secret)})
    with pytest.raises(KeyringUnavailable) as raised:
        store.lookup(PANEL_API_KEY)
    said = str(raised.value)
    assert said.startswith(f"SPACETIME_PANEL_API_KEY_FILE={secret}: ")
    assert ("No such file" in said) if content is None else said.endswith("the file is empty")
    assert store.get(PANEL_API_KEY) == (None, None)
