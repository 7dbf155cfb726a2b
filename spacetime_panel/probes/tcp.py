"""Connection-level checks: TCP connect, the passive "who listens" check, and the runner
that the LSP and DAP probes use for their conversations.

Every check has a deadline and turns network trouble into a `ServiceStatus`
(see `status.py` for the mapping) instead of raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Protocol

from spacetime_panel.probes.owner import PortOwner, port_owner
from spacetime_panel.probes.status import (
    Answer,
    ProbeError,
    ProbeTarget,
    ServiceState,
    ServiceStatus,
    Transport,
    elapsed_ms,
    find_owner,
    is_local_host,
    status_for_error,
)

GOODBYE_TIMEOUT = 1.0
STREAM_LIMIT = 256 * 1024


async def open_socket(host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket (tries each address the name resolves to)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"cannot resolve {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error


async def probe_tcp(
    host: str, port: int, *, service: str = "tcp", timeout: float = 2.0, owner: bool = True
) -> ServiceStatus:
    """UP when something accepts a TCP connection on host:port; the connection is closed."""
    target = ProbeTarget(service, host, port)
    port_holder = await find_owner(target, owner)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            sock = await open_socket(host, port)
    except (OSError, TimeoutError) as exc:
        status = status_for_error(target, exc, accepted=False, timeout=timeout)
    else:
        latency = elapsed_ms(started, time.perf_counter())
        sock.close()
        status = target.status(ServiceState.UP, "accepts connections", latency_ms=latency)
    return status.with_owner(port_holder)


def probe_passive(
    host: str, port: int, *, service: str = "tcp", protocol: Transport = "tcp"
) -> ServiceStatus:
    """Who listens on the port, from the OS's socket table only: no connection is made.

    Cheap enough for every tick and invisible to the peer (Godot logs every LSP/DAP
    connection in its Output panel). Synchronous: call it in a thread from a loop.
    """
    target = ProbeTarget(service, host, port, protocol)
    if not is_local_host(host):
        return passive_status(target, None)
    return passive_status(target, port_owner(port, protocol))


def passive_status(target: ProbeTarget, owner: PortOwner | None) -> ServiceStatus:
    """The passive verdict from an owner already looked up (None: nobody holds the port)."""
    if not is_local_host(target.host):
        return target.status(ServiceState.UNKNOWN, "passive check needs a local host")
    if owner is None:
        return target.status(ServiceState.DOWN, "nobody listening")
    return target.status(ServiceState.UP, "listening (passive)").with_owner(owner)


class Conversation(Protocol):
    """One protocol exchange over a fresh connection: `hello` proves the service works,
    `goodbye` ends the session politely (its failures do not change the verdict)."""

    async def hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Answer:
        """Talk until the service proved itself; raise ProbeError if it did not."""
        ...

    async def goodbye(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """End the session (best effort, short deadline)."""
        ...


async def run_conversation(
    target: ProbeTarget, conversation: Conversation, *, timeout: float, owner: bool = True
) -> ServiceStatus:
    """Connect, run `conversation.hello` within `timeout` (connect included), then
    `goodbye` within a short deadline of its own, and always close the connection."""
    port_holder = await find_owner(target, owner)
    started = time.perf_counter()
    accepted = False
    sock: socket.socket | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        try:
            async with asyncio.timeout(timeout):
                sock = await open_socket(target.host, target.port)
                accepted = True
                reader, writer = await asyncio.open_connection(sock=sock, limit=STREAM_LIMIT)
                answer = await conversation.hello(reader, writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ProbeError) as exc:
            status = status_for_error(target, exc, accepted=accepted, timeout=timeout)
        else:
            status = target.status(
                answer.state,
                answer.detail,
                latency_ms=elapsed_ms(started, answer.answered_at),
                server=answer.server,
            )
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(GOODBYE_TIMEOUT, timeout)):
                    await conversation.goodbye(reader, writer)
    finally:
        if writer is not None:
            await close_writer(writer)
        elif sock is not None:
            sock.close()
    return status.with_owner(port_holder)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Flush and close; never wait on a peer that stopped reading."""
    writer.close()
    try:
        async with asyncio.timeout(GOODBYE_TIMEOUT):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()
