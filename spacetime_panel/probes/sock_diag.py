"""Linux: the kernel's socket table through netlink sock_diag, without walking /proc.

`psutil.net_connections()` reads `/proc/net/tcp*` and then every descriptor
of every process to find which pid holds each socket: about 11 ms of Python a
scan on a desktop, holding the GIL. The kernel answers "which sockets listen,
owned by which uid, with which inode" to one `SOCK_DIAG_BY_FAMILY` dump
request (`man 7 sock_diag`) in well under a millisecond. Only a socket not
seen before needs a pid: its owner's descriptors are searched once and the
answer is kept while that process holds that socket (`SocketTable`).

The messages are `struct inet_diag_req_v2` and `struct inet_diag_msg` from
`<linux/inet_diag.h>`. pyroute2 speaks this too, but costs about 0.5 s of
import and 25 MB of memory for four structs.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10
ALL_STATES = 0xFFFFFFFF

_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr: len, type, flags, seq, pid
# struct inet_diag_req_v2: family, protocol, ext, pad, states, then the 48-byte
# inet_diag_sockid (sport, dport big-endian, src[4], dst[4], if, cookie[2]).
_REQUEST = struct.Struct("=BBBxI48x")
# struct inet_diag_msg: family, state, timer, retrans, the sockid (its sport
# big-endian, then 46 bytes), expires, rqueue, wqueue, uid, inode.
_MESSAGE = struct.Struct("=4x2s46x12xII")
_PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


@dataclass(frozen=True, slots=True)
class KernelSocket:
    """One socket as the kernel lists it."""

    port: int
    uid: int
    inode: int


def listening(kind: str = "tcp") -> list[KernelSocket]:
    """TCP sockets in LISTEN, or every UDP socket, over IPv4 and IPv6.

    `kind` is psutil's: "tcp", "tcp4", "tcp6", "udp", "udp4" or "udp6".
    Raises OSError when the kernel has no sock_diag (not Linux, a kernel
    without `inet_diag`, a sandbox that forbids netlink).
    """
    protocol = _PROTOCOLS[kind[:3]]
    families = {"4": [socket.AF_INET], "6": [socket.AF_INET6]}.get(
        kind[3:], [socket.AF_INET, socket.AF_INET6]
    )
    states = (1 << TCP_LISTEN) if protocol == socket.IPPROTO_TCP else ALL_STATES
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as sock:
        return [s for family in families for s in _dump(sock, family, protocol, states)]


def _dump(sock: socket.socket, family: int, protocol: int, states: int) -> Iterator[KernelSocket]:
    body = _REQUEST.pack(family, protocol, 0, states)
    flags = NLM_F_REQUEST | NLM_F_DUMP
    sock.send(_HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, flags, 1, 0) + body)
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                raise OSError("sock_diag: a malformed netlink message")
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                raise OSError(-error, f"sock_diag: {os.strerror(-error)}")
            if kind == SOCK_DIAG_BY_FAMILY:
                sport, uid, inode = _MESSAGE.unpack_from(data, offset + _HEADER.size)
                yield KernelSocket(int.from_bytes(sport, "big"), uid, inode)
            offset += (length + 3) & ~3  # NLMSG_ALIGN


def pids_holding(
    inodes: Iterable[int], uid: int | None = None, proc: Path = Path("/proc")
) -> dict[int, int]:
    """Which process holds each socket inode: {inode: pid}, for those found.

    Walks the descriptors of `uid`'s processes only (the kernel said whose the
    socket is), and stops as soon as every inode is found. Descriptors we may
    not read (another user's process) are skipped: those inodes stay absent.
    """
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict[int, int] = {}
    try:
        entries = os.scandir(proc)
    except OSError:
        return found
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if uid is not None and entry.stat().st_uid != uid:
                    continue
                descriptors = os.scandir(f"{entry.path}/fd")
            except OSError:
                continue  # gone, or not ours to read
            with descriptors:
                for descriptor in descriptors:
                    try:
                        target = os.readlink(descriptor.path)
                    except OSError:
                        continue
                    inode = wanted.pop(target, None)
                    if inode is not None:
                        found[inode] = int(entry.name)
            if not wanted:
                break
    return found


class SocketTable:
    """Ports -> (pid or None) through sock_diag, remembering which pid holds which socket.

    A socket's inode is unique while it exists, and the process that created
    it keeps it, so a pid found once for an inode is kept as long as that pid
    is alive. A new listener (a restarted game) has a new inode and is looked
    up once. Thread-safe: the service checks call it from worker threads.
    """

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self._proc = proc
        self._pids: dict[int, int | None] = {}  # inode -> pid, None: not ours to see
        self._lock = threading.Lock()

    def holders(self, ports: Iterable[int], kind: str = "tcp") -> dict[int, int | None]:
        """{port: pid} for the wanted ports someone holds; pid None when we may not see it."""
        wanted = set(ports)
        sockets: dict[int, KernelSocket] = {}
        for found in listening(kind):
            if found.port in wanted and found.port not in sockets:
                sockets[found.port] = found
        with self._lock:
            live = {s.inode for s in sockets.values()}
            self._pids = {
                inode: pid
                for inode, pid in self._pids.items()
                if inode in live and (pid is None or (self._proc / str(pid)).exists())
            }
            by_uid: dict[int, set[int]] = {}
            for s in sockets.values():
                if s.inode not in self._pids:
                    by_uid.setdefault(s.uid, set()).add(s.inode)
            for uid, inodes in by_uid.items():
                pids = pids_holding(inodes, uid, self._proc)
                self._pids.update({inode: pids.get(inode) for inode in inodes})
            return {port: self._pids.get(s.inode) for port, s in sockets.items()}
