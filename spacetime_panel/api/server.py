"""Serving the management API inside the panel's own event loop (uvicorn).

The socket is bound here first, so that a busy port is a clear one-line
error naming who holds it, and uvicorn is told not to touch signals: the
panel handles SIGTERM/SIGINT itself (it must stop Godot before it exits).
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from spacetime_panel.probes.owner import port_owner


class PortBusy(Exception):
    """The management port is taken; the message names the owner when the OS tells."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or PortBusy with a message that says what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            owner = port_owner(port)
            held = f" by {owner}" if owner is not None else ""
            raise PortBusy(
                f"port {port} on {host} is already in use{held}; "
                f"stop it or choose another port with --port"
            ) from None
        raise PortBusy(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the panel owns signal handling


class ManagementServer:
    """uvicorn serving `app` on an already-bound socket, in the running loop."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.socket = sock
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = _QuietServer(config)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    async def serve(self) -> None:
        await self._server.serve(sockets=[self.socket])

    def shutdown(self) -> None:
        self._server.should_exit = True
