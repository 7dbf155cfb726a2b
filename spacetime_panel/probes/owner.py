"""Who holds a port: asked of the OS (psutil), without connecting."""

from __future__ import annotations

from collections.abc import Iterable
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
    return port_owners([port], kind).get(port)


def port_owners(ports: Iterable[int], kind: str = "tcp") -> dict[int, PortOwner]:
    """`port_owner` for several ports with one scan of the OS's socket table.

    The scan is the expensive part (it walks every process's descriptors), so a
    monitor checking six ports asks once. Ports nobody holds are absent.
    """
    wanted = set(ports)
    try:
        connections = psutil.net_connections(kind=kind)
    except (psutil.Error, OSError):
        return {}
    owners: dict[int, PortOwner] = {}
    for conn in connections:
        if not conn.laddr or conn.laddr.port not in wanted or conn.laddr.port in owners:
            continue
        if kind.startswith("tcp") and conn.status != psutil.CONN_LISTEN:
            continue
        owners[conn.laddr.port] = _owner_of(conn.pid)
    return owners


def _owner_of(pid: int | None) -> PortOwner:
    if pid is None:
        return PortOwner(None, None)
    try:
        return PortOwner(pid, psutil.Process(pid).name())
    except psutil.Error:
        return PortOwner(pid, None)
