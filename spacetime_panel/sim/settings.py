"""Settings the simulated Godot reads from its environment.

The panel passes everything through environment variables (as it does for real
Godot), so the simulator parses them here into typed, frozen models. A bad value
raises :class:`SettingsError` with a one-line message; ``main`` turns it into
exit code 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

PROTOCOL = "spacetime-bridge/1"
GODOT_VERSION = "4.5.1.stable.sim"
BRIDGE_VERSION = "0.1.0"
HTTP_FALLBACK_PORTS = (8083, 8084, 8085)


class SettingsError(ValueError):
    """An environment variable has a value the simulator cannot use."""


def env_port(env: Mapping[str, str], name: str, default: int, *, allow_zero: bool = False) -> int:
    """A TCP/UDP port from ``env[name]``; 0 only when ``allow_zero`` (meaning "off")."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number") from None
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise SettingsError(f"{name}={raw!r} is out of range ({low}..65535)")
    return port


def env_ports(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """A comma-separated list of ports from ``env[name]``; set but empty means none."""
    if name not in env:
        return default
    ports = []
    for part in env[name].split(","):
        if part.strip():
            ports.append(env_port({name: part}, name, 0))
    return tuple(ports)


def env_seconds(env: Mapping[str, str], name: str) -> float | None:
    """A non-negative duration in seconds from ``env[name]``, or None when unset/empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise SettingsError(f"{name}={raw!r} must be a finite number >= 0")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    """An integer in ``low..high`` from ``env[name]``."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} is out of range ({low}..{high})")
    return value


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean switch: 1/true/yes/on or 0/false/no/off (unset = off)."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={raw!r} is not a switch (use 1 or 0)")


@dataclass(frozen=True, kw_only=True)
class GameSettings:
    """What the game-side bridge serves and how the simulated world paces itself."""

    http_port: int = 8080
    http_fallbacks: tuple[int, ...] = HTTP_FALLBACK_PORTS
    telemetry_port: int = 8081
    discovery_port: int | None = 8087
    api_key: str | None = None
    rate_hz: float = 90.0
    lsp_port: int = 6005
    dap_port: int = 6006
    load_delay: float = 0.3
    spawn_delay: float = 0.2

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GameSettings:
        """Read ``SPACETIME_*`` variables; raises SettingsError on a bad value."""
        rate_raw = env.get("SPACETIME_SIM_RATE_HZ", "").strip()
        rate = 90.0
        if rate_raw:
            try:
                rate = float(rate_raw)
            except ValueError:
                raise SettingsError(f"SPACETIME_SIM_RATE_HZ={rate_raw!r} is not a number") from None
            if not (math.isfinite(rate) and 0 < rate <= 1000):
                raise SettingsError(f"SPACETIME_SIM_RATE_HZ={rate_raw!r} must be in (0, 1000]")
        discovery = env_port(env, "SPACETIME_DISCOVERY_PORT", 8087, allow_zero=True)
        load_delay = env_seconds(env, "SPACETIME_SIM_LOAD_DELAY")
        spawn_delay = env_seconds(env, "SPACETIME_SIM_SPAWN_DELAY")
        return cls(
            http_port=env_port(env, "SPACETIME_HTTP_PORT", 8080),
            http_fallbacks=env_ports(env, "SPACETIME_HTTP_FALLBACK_PORTS", HTTP_FALLBACK_PORTS),
            telemetry_port=env_port(env, "SPACETIME_TELEMETRY_PORT", 8081),
            discovery_port=discovery or None,
            api_key=env.get("SPACETIME_API_KEY") or None,
            rate_hz=rate,
            lsp_port=env_port(env, "SPACETIME_LSP_PORT", 6005),
            dap_port=env_port(env, "SPACETIME_DAP_PORT", 6006),
            load_delay=0.3 if load_delay is None else load_delay,
            spawn_delay=0.2 if spawn_delay is None else spawn_delay,
        )

    def http_ports(self) -> list[int]:
        """The port to try first, then the protocol's fallbacks (no duplicates)."""
        ports = [self.http_port]
        ports += [p for p in self.http_fallbacks if p not in ports]
        return ports
