"""Who holds a port: the kernel's answer through netlink sock_diag, against real processes.

Each holder is a real child process with a real socket; psutil's walk of the
socket table is the reference the kernel's answer must agree with.
"""

from __future__ import annotations

import errno
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from spacetime_panel.probes import owner, sock_diag
from spacetime_panel.probes.owner import port_owners, psutil_port_owners
from spacetime_panel.probes.sock_diag import SocketTable, listening, pids_holding
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="netlink sock_diag is Linux's")

HOLDER = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_DGRAM if sys.argv[3] == "udp" else socket.SOCK_STREAM
sock = socket.socket(family, kind)
sock.bind((sys.argv[1], int(sys.argv[2])))
if kind == socket.SOCK_STREAM:
    sock.listen()
print("ready", flush=True)
sys.stdin.read()
"""


class Holder:
    """A child process holding `port` until it is closed."""

    def __init__(self, port: int, host: str = "127.0.0.1", kind: str = "tcp") -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, host, str(port), kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == b"ready\n", "the holder did not bind"

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.close()


def test_a_listening_port_names_its_process_as_psutil_does(holders: list[Holder]) -> None:
    holders.append(Holder(free_port()))
    port = holders[0].port

    found = port_owners([port])

    assert found[port].pid == holders[0].pid
    assert found[port].name is not None and found[port].name.startswith("python")
    assert psutil_port_owners({port}) == found
    assert any(s.port == port for s in listening("tcp4"))


def test_an_ipv6_listener_is_found_and_only_when_ipv6_is_asked(holders: list[Holder]) -> None:
    tcp6 = Holder(free_port(), host="::1")
    holders.append(tcp6)

    assert port_owners([tcp6.port])[tcp6.port].pid == tcp6.pid
    assert tcp6.port not in port_owners([tcp6.port], "tcp4")  # asked of IPv4 only


def test_a_udp_socket_is_found_and_is_not_a_tcp_listener(holders: list[Holder]) -> None:
    udp = Holder(free_port(socket.SOCK_DGRAM), kind="udp")
    holders.append(udp)

    assert port_owners([udp.port], "udp")[udp.port].pid == udp.pid
    assert udp.port not in port_owners([udp.port], "tcp")


def test_a_port_nobody_listens_on_is_absent_even_with_a_connection_on_it(
    holders: list[Holder],
) -> None:
    server = Holder(free_port())
    holders.append(server)
    with socket.create_connection(("127.0.0.1", server.port)) as client:
        client_port = client.getsockname()[1]  # connected, not listening
        nobody = free_port()

        found = port_owners([server.port, client_port, nobody])

    assert set(found) == {server.port}


def test_a_new_holder_of_the_same_port_is_seen(holders: list[Holder]) -> None:
    """The pid is kept per socket inode: a restarted game's new listener is looked up again."""
    table = SocketTable()
    first = Holder(free_port())
    holders.append(first)
    assert table.holders([first.port]) == {first.port: first.pid}

    first.close()
    assert table.holders([first.port]) == {}
    second = Holder(first.port)
    holders.append(second)

    assert table.holders([first.port]) == {first.port: second.pid}


def test_only_the_sockets_owners_processes_are_searched(
    holders: list[Holder], tmp_path: Path
) -> None:
    holders.append(Holder(free_port()))
    inode = next(s.inode for s in listening("tcp4") if s.port == holders[0].port)

    assert pids_holding([inode]) == {inode: holders[0].pid}
    assert pids_holding([inode], uid=2**31) == {}  # nobody's processes: nothing to search
    assert pids_holding([inode], proc=tmp_path / "missing") == {}


def test_when_netlink_is_refused_psutil_answers(
    holders: list[Holder], monkeypatch: pytest.MonkeyPatch
) -> None:
    holders.append(Holder(free_port()))

    def refused(kind: str = "tcp") -> list[sock_diag.KernelSocket]:
        raise PermissionError(errno.EPERM, "netlink refused by a sandbox")

    monkeypatch.setattr(sock_diag, "listening", refused)
    assert owner._KERNEL_TABLE is not None
    with pytest.raises(PermissionError):
        owner._KERNEL_TABLE.holders([holders[0].port])

    assert port_owners([holders[0].port])[holders[0].port].pid == holders[0].pid


@contextmanager
def kernel_reply(*messages: bytes) -> Iterator[socket.socket]:
    """A datagram socket whose next reads return `messages`, as netlink would."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with ours, theirs:
        for message in messages:
            theirs.send(message)
        yield ours


def header(length: int, kind: int) -> bytes:
    return struct.pack("=IHHII", length, kind, 0, 1, 0)


def test_a_netlink_error_is_raised_with_its_errno() -> None:
    reply = header(20, sock_diag.NLMSG_ERROR) + struct.pack("=i", -errno.EACCES)
    with kernel_reply(reply) as sock, pytest.raises(OSError) as raised:
        list(sock_diag._dump(sock, socket.AF_INET, socket.IPPROTO_TCP, sock_diag.ALL_STATES))
    assert raised.value.errno == errno.EACCES


def test_a_malformed_netlink_message_is_an_error_not_a_loop() -> None:
    with kernel_reply(header(4, sock_diag.SOCK_DIAG_BY_FAMILY)) as sock, pytest.raises(OSError):
        list(sock_diag._dump(sock, socket.AF_INET, socket.IPPROTO_TCP, sock_diag.ALL_STATES))


def test_a_reply_is_read_until_done_across_datagrams() -> None:
    """Two sockets in two datagrams, then NLMSG_DONE: both are listed, ports big-endian."""

    def entry(port: int, uid: int, inode: int) -> bytes:
        body = struct.pack("=4x") + port.to_bytes(2, "big") + bytes(46) + bytes(12)
        body += struct.pack("=II", uid, inode)
        return header(16 + len(body), sock_diag.SOCK_DIAG_BY_FAMILY) + body

    replies = (entry(8090, 1000, 77), entry(6005, 0, 78), header(16, sock_diag.NLMSG_DONE))
    with kernel_reply(*replies) as sock:
        found = list(sock_diag._dump(sock, socket.AF_INET, socket.IPPROTO_TCP, 1 << 10))

    assert found == [sock_diag.KernelSocket(8090, 1000, 77), sock_diag.KernelSocket(6005, 0, 78)]
