"""Who holds a port: asked of the OS (psutil), without connecting."""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class PortOwner:
    pid: int | None
    name: str | None

    def __str__(self) -> str:
        if self.pid is None:
            return "another process"
        return f"{self.name} (pid {self.pid})" if self.name else f"pid {self.pid}"


def port_owner(port: int, kind: str = "tcp") -> PortOwner | None:
    """The process listening on `port` (TCP) or bound to it (UDP), or None if nobody is.

    The pid is None when the OS does not say (another user's process without
    privileges, or platforms where psutil needs root for this).
    """
    try:
        connections = psutil.net_connections(kind=kind)
    except (psutil.Error, OSError):
        return None
    for conn in connections:
        if not conn.laddr or conn.laddr.port != port:
            continue
        if kind.startswith("tcp") and conn.status != psutil.CONN_LISTEN:
            continue
        if conn.pid is None:
            return PortOwner(None, None)
        try:
            return PortOwner(conn.pid, psutil.Process(conn.pid).name())
        except psutil.Error:
            return PortOwner(conn.pid, None)
    return None
