"""API keys in the OS keyring, never in a file.

Three secrets exist: the bridge's key (sent to Godot as SPACETIME_API_KEY and
on every bridge request), the management API's control key (everything, and
the signing key of its bearer tokens) and its read-only key (health, services,
logs, telemetry, metrics: what a Prometheus scrape or a dashboard needs). Each can come from
its environment variable (the explicit fallback, and what CI and systemd
use), from a file named by that variable with `_FILE` appended (Docker
secrets: `SPACETIME_PANEL_API_KEY_FILE=/run/secrets/panel_api_key`), or from
the OS keyring; the environment wins, so a deployment can always override
what a workstation stored.

There is no silent fallback: with no usable keyring, `set` raises
`KeyringUnavailable` with a one-line message that names the environment
variable to use instead. Backends that write plain files or ask for a
password on the terminal (keyrings.alt's) are refused: in the GUI nobody
reads stdin.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

T = TypeVar("T")

SERVICE = "spacetime-panel"

#: Seconds a keyring call may take before the store gives up on it (see SecretStore).
DEFAULT_TIMEOUT = 30.0

#: Backends that store in a plain file or prompt on the terminal.
REFUSED_BACKENDS = frozenset({"PlaintextKeyring", "EncryptedKeyring"})


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret: its keyring entry and its environment variable."""

    name: str
    variable: str
    label: str


BRIDGE_API_KEY = Secret("bridge_api_key", "SPACETIME_API_KEY", "Bridge API key (Godot)")
PANEL_API_KEY = Secret("panel_api_key", "SPACETIME_PANEL_API_KEY", "Management API key")
PANEL_READ_KEY = Secret(
    "panel_read_key", "SPACETIME_PANEL_READ_KEY", "Management API read-only key"
)
SECRETS = (BRIDGE_API_KEY, PANEL_API_KEY, PANEL_READ_KEY)

Source = Literal["environment", "keyring"]


class KeyringUnavailable(Exception):
    """No usable OS keyring; the message says what to do instead."""


class SecretStore:
    """Reads secrets from the environment, then the keyring; writes only to the keyring.

    Every keyring call runs with a deadline (`timeout`, seconds; None waits
    forever): a locked keyring may be showing a password prompt that nobody
    answers, and a command or a dialog must then fail with one line, not hang.
    """

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self._backend = backend if backend is not None else keyring.get_keyring()
        self._environ = os.environ if environ is None else environ
        self._timeout = timeout
        # A call that timed out and may still be stuck in the backend: later calls fail
        # at once instead of each waiting out the deadline again behind it.
        self._stuck: threading.Event | None = None

    @property
    def backend_name(self) -> str:
        backend = self._backend
        return f"{type(backend).__module__}.{type(backend).__name__}"

    @property
    def backend_label(self) -> str:
        """The backend in a word: SecretService, kwallet, macOS, WinVaultKeyring."""
        return backend_label(self._backend)

    def unavailable_reason(self) -> str | None:
        """None when the keyring can be used, else why not (one line)."""
        backend = self._backend
        name = type(backend).__name__
        module = type(backend).__module__
        if module.startswith("keyring.backends.fail") or backend.priority <= 0:
            return "no OS keyring is available (no Secret Service, KWallet or Keychain found)"
        if module.startswith("keyrings.alt") or name in REFUSED_BACKENDS:
            return f"the keyring backend {name} stores secrets in a file or asks on the terminal"
        return None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def get(self, secret: Secret) -> tuple[str | None, Source | None]:
        """The secret's value and where it came from; (None, None) when it is not set.

        A keyring that cannot be read reads as "not set"; `lookup` says why instead.
        """
        try:
            return self.lookup(secret)
        except KeyringUnavailable:
            return None, None

    def lookup(self, secret: Secret) -> tuple[str | None, Source | None]:
        """Like `get`, but a keyring that cannot be read (none, refused, locked, silent)
        raises `KeyringUnavailable` unless the environment provides the secret.

        `VARIABLE_FILE` names a file holding the secret (its first line): a file that
        cannot be read, or is empty, raises `KeyringUnavailable` saying so."""
        value = self._environ.get(secret.variable)
        if value:
            return value, "environment"
        if named := self._environ.get(f"{secret.variable}_FILE"):
            return _read_secret_file(f"{secret.variable}_FILE", named), "environment"
        stored = self.stored(secret)
        return (stored, "keyring") if stored else (None, None)

    def names_a_file(self, secret: Secret) -> bool:
        """Whether `VARIABLE_FILE` is set: then the secret must be read, or the reason said."""
        return bool(self._environ.get(f"{secret.variable}_FILE"))

    def stored(self, secret: Secret) -> str | None:
        """What the keyring holds for `secret`, whatever the environment says."""
        self.require(secret)
        stored = self._call(secret, lambda: self._backend.get_password(SERVICE, secret.name))
        return stored or None

    def set(self, secret: Secret, value: str) -> None:
        """Store in the OS keyring; KeyringUnavailable when there is none."""
        if not value:
            raise ValueError(f"{secret.label} is empty")
        self.require(secret)
        self._call(secret, lambda: self._backend.set_password(SERVICE, secret.name, value))

    def delete(self, secret: Secret) -> bool:
        """Remove from the keyring (the environment variable, if set, is not touched).

        False when nothing was stored: clearing twice is fine.
        """
        self.require(secret)

        def delete() -> bool:
            try:
                self._backend.delete_password(SERVICE, secret.name)
            except keyring.errors.PasswordDeleteError:
                return False
            return True

        return self._call(secret, delete)

    def require(self, secret: Secret | None = None) -> None:
        """Raise KeyringUnavailable (naming `secret`'s variable) when the keyring is unusable."""
        reason = self.unavailable_reason()
        if reason is not None:
            raise KeyringUnavailable(self._advice(secret, reason))

    def _call(self, secret: Secret, action: Callable[[], T]) -> T:
        """Run one backend call under the deadline; any failure becomes KeyringUnavailable."""
        if self._stuck is not None and not self._stuck.is_set():
            raise KeyringUnavailable(
                self._advice(secret, "the OS keyring has not answered an earlier request yet")
            )
        outcome = _Outcome[T]()
        if self._timeout is None:
            outcome.run(action)
        else:
            # A daemon thread: one stuck in a prompt nobody answers must not keep the
            # process alive once the caller has given up on it.
            worker = threading.Thread(
                target=outcome.run, args=(action,), name="keyring call", daemon=True
            )
            worker.start()
            if not outcome.done.wait(self._timeout):
                self._stuck = outcome.done
                raise KeyringUnavailable(
                    self._advice(
                        secret,
                        f"the OS keyring did not answer within {self._timeout:g} s "
                        "(locked, and waiting for a password nobody can type?)",
                    )
                )
        if outcome.error is None:
            return outcome.value  # type: ignore[return-value]  # set when error is None
        raise KeyringUnavailable(self._advice(secret, _failure(outcome.error))) from None

    @staticmethod
    def _advice(secret: Secret | None, reason: str) -> str:
        variable = secret.variable if secret is not None else "the environment variable"
        return f"{reason}; set {variable} in the environment instead"


class _Outcome(Generic[T]):
    """What a keyring call returned or raised, and when it was over."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: Exception | None = None

    def run(self, action: Callable[[], T]) -> None:
        try:
            self.value = action()
        except Exception as error:  # mapped to KeyringUnavailable by the caller
            self.error = error
        finally:
            self.done.set()


def _read_secret_file(variable: str, named: str) -> str:
    """The first line of the file `variable` names (Docker and systemd secrets end in a
    newline); KeyringUnavailable when it cannot be read or holds nothing."""
    try:
        with open(named, encoding="utf-8") as file:
            value = file.readline().strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise KeyringUnavailable(f"{variable}={named}: cannot read it ({reason})") from None
    if not value:
        raise KeyringUnavailable(f"{variable}={named}: the file is empty")
    return value


def _failure(error: Exception) -> str:
    """A backend's failure in one line."""
    detail = " ".join(str(error).split())[:200] or type(error).__name__
    if isinstance(error, keyring.errors.KeyringLocked):
        return f"the OS keyring is locked and could not be unlocked ({detail})"
    return f"the OS keyring failed ({detail})"


def backend_label(backend: KeyringBackend) -> str:
    """A backend in a word. A chain of backends is named by the one that gets writes."""
    if isinstance(backend, ChainerBackend):
        chained = list(backend.backends)
        if chained:
            return backend_label(chained[0])
    cls = type(backend)
    if cls.__name__ == "Keyring":  # SecretService.Keyring, macOS.Keyring: the module names it
        return cls.__module__.rsplit(".", 1)[-1]
    return cls.__name__
