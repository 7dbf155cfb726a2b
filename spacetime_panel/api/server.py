"""Serving the management API inside the panel's own event loop (uvicorn).

The socket is bound here first, so that a busy port is a clear one-line
error naming who holds it, and uvicorn is told not to touch signals: the
panel handles SIGTERM/SIGINT itself (it must stop Godot before it exits).

What this server does not trust or wait for:

- uvicorn's proxy headers are off: the client is the TCP peer, and only the
  guards (`api.security`) look at `X-Forwarded-For`, from a trusted proxy.
- A client has `api.request_timeout` seconds to send a whole request, from
  connecting or from the previous answer (uvicorn has no such timeout: a
  half-sent request would hold its connection forever); an idle kept-alive
  connection closes after `KEEP_ALIVE` s.
- No WebSocket: the API has no WebSocket route, and an `Upgrade` request is
  answered as the plain HTTP request it also is, through every guard.
- With `api.tls_cert` and `api.tls_key` it speaks HTTPS only. The files are
  checked before anything starts (`serving_problem`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import sys
from collections.abc import Generator
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from spacetime_panel.api.security import ManagementKeys, TrustedProxies, is_loopback
from spacetime_panel.config.settings import ApiSettings
from spacetime_panel.probes.owner import port_owner

KEEP_ALIVE = 5.0
BACKLOG = 1024


class CannotServe(Exception):
    """The API cannot be served as configured; the message (one line) says what to do."""


class PortBusy(CannotServe):
    """The management port is taken; the message names the owner when the OS tells."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or PortBusy with a message that says what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose protocol
    # says TCP, and without it every keep-alive request after the first waits ~40 ms
    # for Nagle's algorithm (a Prometheus scrape, the panel's own httpx client).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if sys.platform == "win32":
        # On Windows SO_REUSEADDR lets another socket bind the same port and take its
        # connections (keys included); exclusive use makes a busy port an error.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
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
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def tls_problem(api: ApiSettings) -> str | None:
    """Why the configured certificate and key cannot serve HTTPS (one line), or None."""
    cert, key = api.tls_cert, api.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        return "--tls-cert and --tls-key go together (api.tls_cert, api.tls_key): give both"
    for what, path in (("certificate", cert), ("key", key)):
        try:
            path.read_bytes()
        except OSError as error:
            return f"cannot read the TLS {what} {path}: {error.strerror or error}"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as error:
        if "KEY_VALUES_MISMATCH" in str(error) or "key values mismatch" in str(error):
            return f"the TLS key {key} does not belong to the certificate {cert}"
        reason = error.reason or str(error)
        return f"{cert} and {key} are not a PEM certificate and its key ({reason})"
    return None


def serving_problem(api: ApiSettings, keys: ManagementKeys) -> str | None:
    """Why the API must not be served as configured (one line), or None."""
    if not is_loopback(api.host) and not keys.control:
        return (
            f"--host {api.host} exposes the management API to the network; set a management "
            "key first: spacetime-panel keys generate panel (or SPACETIME_PANEL_API_KEY)"
        )
    try:
        TrustedProxies.parse(api.trusted_proxies)
    except ValueError as error:
        return f"api.trusted_proxies: {error} (use addresses or networks like 10.0.0.0/8)"
    return tls_problem(api)


def _protocol(request_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on receiving each whole request."""

    class ManagementH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def _request_received(self) -> None:
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                self._disarm()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._request_received()

        def on_response_complete(self) -> None:
            self._arm()
            super().on_response_complete()
            self._request_received()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _unsupported_upgrade_warning(self) -> None:
            """Quiet: an Upgrade (`ws="none"`) is answered as a plain request."""

    return ManagementH11Protocol


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the panel owns signal handling


class ManagementServer:
    """uvicorn serving `app` on an already-bound socket, in the running loop."""

    def __init__(self, app: FastAPI, sock: socket.socket, api: ApiSettings | None = None) -> None:
        api = api if api is not None else ApiSettings()
        self.socket = sock
        self.scheme = "https" if api.tls_cert is not None else "http"
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=int(KEEP_ALIVE),
            proxy_headers=False,
            server_header=False,
            http=_protocol(api.request_timeout),
            ws="none",
            ssl_certfile=api.tls_cert,
            ssl_keyfile=api.tls_key,
        )
        self._server = _QuietServer(config)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    async def serve(self) -> None:
        await self._server.serve(sockets=[self.socket])

    def shutdown(self) -> None:
        self._server.should_exit = True
