"""API keys in the OS keyring, with the environment as the explicit fallback."""

from spacetime_panel.secrets.store import (
    BRIDGE_API_KEY,
    PANEL_API_KEY,
    PANEL_READ_KEY,
    SECRETS,
    KeyringUnavailable,
    Secret,
    SecretStore,
)

__all__ = [
    "BRIDGE_API_KEY",
    "PANEL_API_KEY",
    "PANEL_READ_KEY",
    "SECRETS",
    "KeyringUnavailable",
    "Secret",
    "SecretStore",
]
