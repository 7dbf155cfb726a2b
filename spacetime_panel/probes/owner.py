"""Who holds a port: asked of the OS, without connecting.

On Linux the kernel's socket table answers through netlink sock_diag
(`sock_diag.SocketTable`); elsewhere, or where netlink is refused, psutil
walks the socket table and every process's descriptors.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from spacetime_panel.probes.sock_diag import SocketTable


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

    A monitor checking six ports asks once. Ports nobody holds are absent.
    """
    wanted = set(ports)
    if _KERNEL_TABLE is not None:
        try:
            holders = _KERNEL_TABLE.holders(wanted, kind)
        except OSError:
            pass  # netlink refused here (a sandbox, a kernel without inet_diag): psutil's walk
        else:
            return {port: _owner_of(pid) for port, pid in holders.items()}
    return psutil_port_owners(wanted, kind)


def psutil_port_owners(wanted: set[int], kind: str = "tcp") -> dict[int, PortOwner]:
    """`port_owners` by psutil's walk of every process's descriptors (about 11 ms a scan)."""
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


_KERNEL_TABLE = SocketTable() if sys.platform == "linux" else None


def _owner_of(pid: int | None) -> PortOwner:
    if pid is None:
        return PortOwner(None, None)
    try:
        return PortOwner(pid, psutil.Process(pid).name())
    except psutil.Error:
        return PortOwner(pid, None)
