"""API keys in the OS keyring, never in a file.

Three secrets exist: the bridge's key (sent to Godot as SPACETIME_API_KEY and
on every bridge request), the management API's control key (everything, and
the signing key of its bearer tokens) and its read-only key (health, services,
logs, telemetry, metrics: what a Prometheus scrape or a dashboard needs). Each can come from
its environment variable (the explicit fallback, and what CI and systemd
use) or from the OS keyring; the environment wins, so a deployment can
always override what a workstation stored.

There is no silent fallback: with no usable keyring, `set` raises
`KeyringUnavailable` with a one-line message that names the environment
variable to use instead. Backends that write plain files or ask for a
password on the terminal (keyrings.alt's) are refused: in the GUI nobody
reads stdin.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

SERVICE = "spacetime-panel"

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
    """Reads secrets from the environment, then the keyring; writes only to the keyring."""

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._backend = backend if backend is not None else keyring.get_keyring()
        self._environ = os.environ if environ is None else environ

    @property
    def backend_name(self) -> str:
        backend = self._backend
        return f"{type(backend).__module__}.{type(backend).__name__}"

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
        """The secret's value and where it came from; (None, None) when it is not set."""
        value = self._environ.get(secret.variable)
        if value:
            return value, "environment"
        if not self.available():
            return None, None
        try:
            stored = self._backend.get_password(SERVICE, secret.name)
        except keyring.errors.KeyringError:
            return None, None
        return (stored, "keyring") if stored else (None, None)

    def set(self, secret: Secret, value: str) -> None:
        """Store in the OS keyring; KeyringUnavailable when there is none."""
        if not value:
            raise ValueError(f"{secret.label} is empty")
        self._require(secret)
        try:
            self._backend.set_password(SERVICE, secret.name, value)
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(self._advice(secret, str(error))) from None

    def delete(self, secret: Secret) -> None:
        """Remove from the keyring (the environment variable, if set, is not touched)."""
        self._require(secret)
        try:
            self._backend.delete_password(SERVICE, secret.name)
        except keyring.errors.PasswordDeleteError:
            return  # nothing stored: already cleared
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(self._advice(secret, str(error))) from None

    def _require(self, secret: Secret | None = None) -> None:
        reason = self.unavailable_reason()
        if reason is not None:
            raise KeyringUnavailable(self._advice(secret, reason))

    @staticmethod
    def _advice(secret: Secret | None, reason: str) -> str:
        variable = secret.variable if secret is not None else "the environment variable"
        return f"{reason}; set {variable} in the environment instead"
