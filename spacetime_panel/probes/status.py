"""What a probe found out about one service, and the pieces every probe shares.

A probe never raises for network trouble: it turns what happened into a
`ServiceStatus`. Inside a probe, failures travel as these exceptions and are
mapped to a state once, in `status_for_error`:

    OSError
     ├─ ConnectionRefusedError     -> DOWN "connection refused"
     └─ other OSError at connect   -> DOWN with the OS's reason
    ProbeError                     (raised by probe code after the peer accepted)
     ├─ BadAnswerError             -> DEGRADED with the reason ("bad header", "not JSON")
     └─ PeerClosedError            -> DEGRADED "closed the connection without answering"
    TimeoutError at connect        -> DOWN "no answer to connect within X s"
    TimeoutError after accept      -> DEGRADED "accepted but did not answer within X s"
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

from spacetime_panel.probes.owner import PortOwner, port_owner

Transport = Literal["tcp", "udp"]

# Service names, in the order of DESIGN.md's port table.
MANAGEMENT_API = "management_api"
BRIDGE_HTTP = "bridge_http"
TELEMETRY = "telemetry"
DAP = "dap"
LSP = "lsp"
DISCOVERY = "discovery"
SERVICE_ORDER = (MANAGEMENT_API, BRIDGE_HTTP, TELEMETRY, DAP, LSP, DISCOVERY)


class ServiceState(enum.Enum):
    UP = "up"
    DOWN = "down"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One service's state at `checked_at` (wall clock), as the port table shows it."""

    service: str
    host: str
    port: int
    protocol: Transport
    state: ServiceState
    latency_ms: float | None
    detail: str
    owner_pid: int | None = None
    owner_name: str | None = None
    checked_at: float = 0.0
    server: str | None = None

    @property
    def is_up(self) -> bool:
        return self.state is ServiceState.UP

    def with_owner(self, owner: PortOwner | None) -> ServiceStatus:
        """This status with the port's owner filled in (unchanged when nobody holds it)."""
        if owner is None:
            return self
        return replace(self, owner_pid=owner.pid, owner_name=owner.name)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "state": self.state.value,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "detail": self.detail,
            "owner_pid": self.owner_pid,
            "owner_name": self.owner_name,
            "checked_at": self.checked_at,
            "server": self.server,
        }


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """Which service a probe checks, and where."""

    service: str
    host: str
    port: int
    protocol: Transport = "tcp"

    def status(
        self,
        state: ServiceState,
        detail: str,
        *,
        latency_ms: float | None = None,
        server: str | None = None,
    ) -> ServiceStatus:
        return ServiceStatus(
            service=self.service,
            host=self.host,
            port=self.port,
            protocol=self.protocol,
            state=state,
            latency_ms=latency_ms,
            detail=detail,
            checked_at=time.time(),
            server=server,
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What a well-behaved peer told us; `answered_at` is `time.perf_counter()`."""

    detail: str
    answered_at: float
    server: str | None = None
    state: ServiceState = ServiceState.UP


class ProbeError(Exception):
    """The peer accepted the connection but did not speak the expected protocol."""


class BadAnswerError(ProbeError):
    """The peer answered with something else (garbage, wrong protocol, an error reply)."""


class PeerClosedError(ProbeError):
    """The peer closed the connection before answering."""


def status_for_error(
    target: ProbeTarget, exc: BaseException, *, accepted: bool, timeout: float
) -> ServiceStatus:
    """Map a failure to DOWN (never connected) or DEGRADED (connected, but wrong or silent)."""
    if isinstance(exc, TimeoutError):
        if accepted:
            return target.status(
                ServiceState.DEGRADED, f"accepted but did not answer within {timeout:g} s"
            )
        return target.status(ServiceState.DOWN, f"no answer to connect within {timeout:g} s")
    if isinstance(exc, ProbeError):
        return target.status(ServiceState.DEGRADED, str(exc))
    if isinstance(exc, ConnectionRefusedError):
        return target.status(ServiceState.DOWN, "connection refused")
    if isinstance(exc, (ConnectionError, asyncio.IncompleteReadError)) and accepted:
        return target.status(ServiceState.DEGRADED, "closed the connection without answering")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        state = ServiceState.DEGRADED if accepted else ServiceState.DOWN
        return target.status(state, f"connection failed: {reason}")
    return target.status(ServiceState.DEGRADED, f"{type(exc).__name__}: {exc}")


def is_local_host(host: str) -> bool:
    """True when `host` is this machine, so the OS can tell who holds its ports."""
    if host in ("localhost", "", "0.0.0.0", "::"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def find_owner(target: ProbeTarget, enabled: bool = True) -> PortOwner | None:
    """Who holds the target's port, asked of the OS in a thread (the scan walks every
    process). Probes ask before connecting: some servers stop listening once their
    client leaves (debugpy's adapter does)."""
    if not enabled or not is_local_host(target.host):
        return None
    return await asyncio.to_thread(port_owner, target.port, target.protocol)


def elapsed_ms(started: float, answered_at: float) -> float:
    return max(0.0, (answered_at - started) * 1000.0)
