"""The bridge's HTTP rules before a handler runs: limits, Host, key, route, media type, body.

The order and the status codes are the protocol's (``protocol/README.md``,
"Order of checks"), so that the simulator answers exactly as the addon does:

1. request line and headers within limits (414, 431), well-formed (400) —
   :func:`check_head` on the raw bytes, in :class:`BridgeH11Protocol` before
   h11 parses them (uvicorn alone would answer any of these with a plain-text 400);
2. ``Host`` a loopback name (403), the API key (401), a known route (404) and
   method (405), ``Content-Type: application/json`` on a POST (415), no
   chunked body (411), a body within the limit (413) — :func:`check_request`,
   run by the :class:`BridgeGuard` ASGI middleware.

Both checks are plain functions over bytes and headers, testable without a socket.
Every answer is JSON and closes the connection (one request per connection).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True, kw_only=True)
class HttpLimits:
    """Sizes in bytes (``http.json``'s ``limits``).

    ``request_line`` excludes its line end; ``headers`` counts every header
    line with its line end, not the empty line that ends the head.
    """

    request_line: int = 8192
    headers: int = 16384
    header_count: int = 64
    body: int = 65536


LIMITS = HttpLimits()
LINGER = 2.0
"""Seconds a refused connection keeps reading (and dropping) what the client still
sends, so that closing with unread data does not reset the connection under the answer."""

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


@dataclass(frozen=True)
class Refusal:
    """An error answer: status, a one-word error and a one-line message."""

    status: int
    error: str
    message: str
    allow: str | None = None

    def body(self) -> bytes:
        return json.dumps({"error": self.error, "message": self.message}).encode()

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body())).encode()),
            (b"connection", b"close"),
        ]
        if self.allow is not None:
            headers.append((b"allow", self.allow.encode()))
        return headers

    def raw(self) -> bytes:
        """The whole HTTP/1.1 answer, for refusals made before h11 has parsed the request."""
        phrase = HTTPStatus(self.status).phrase
        head = f"HTTP/1.1 {self.status} {phrase}\r\n".encode()
        head += b"".join(name + b": " + value + b"\r\n" for name, value in self.headers())
        return head + b"\r\n" + self.body()

    async def send(self, send: Send) -> None:
        """Answer through ASGI."""
        await send(
            {"type": "http.response.start", "status": self.status, "headers": self.headers()}
        )
        await send({"type": "http.response.body", "body": self.body()})


def check_head(head: bytes, limits: HttpLimits = LIMITS) -> tuple[bool, Refusal | None]:
    """``(complete, refusal)`` for the start of a request: is its head complete, is it too big?

    Lines may end in CRLF or LF. A refusal comes as soon as a limit is
    certainly exceeded, without waiting for the rest.
    """
    line_end = head.find(b"\n")
    if line_end < 0:
        # One byte of slack for the CR of a CRLF that has not arrived yet.
        too_long = len(head) > limits.request_line + 1
        return False, _request_line_too_long(limits) if too_long else None
    if len(head[:line_end].removesuffix(b"\r")) > limits.request_line:
        return False, _request_line_too_long(limits)
    size = count = 0
    start = line_end + 1
    while True:
        end = head.find(b"\n", start)
        if end < 0:
            partial = len(head) - start
            if partial > 1 and size + partial > limits.headers:
                return False, _headers_too_large(f"over {limits.headers} bytes")
            return False, None
        line = head[start : end + 1]
        if line in (b"\n", b"\r\n"):
            return True, None
        size += len(line)
        count += 1
        if size > limits.headers:
            return False, _headers_too_large(f"over {limits.headers} bytes")
        if count > limits.header_count:
            return False, _headers_too_large(f"more than {limits.header_count} headers")
        start = end + 1


def _request_line_too_long(limits: HttpLimits) -> Refusal:
    return Refusal(414, "URITooLong", f"Request line longer than {limits.request_line} bytes")


def _headers_too_large(why: str) -> Refusal:
    return Refusal(431, "RequestHeaderFieldsTooLarge", f"Request headers too large ({why})")


MALFORMED = Refusal(400, "BadRequest", "Malformed HTTP request")


def is_loopback_host(value: str) -> bool:
    """``Host: 127.0.0.1``, ``localhost`` or ``[::1]``, each with or without ``:PORT``."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, port = value.partition("]")
        name += bracket
        if port:
            if not port.startswith(":"):
                return False
            port = port[1:]
    else:
        name, colon, port = value.partition(":")
        if colon and not port:
            return False
    if port and not (port.isascii() and port.isdigit() and len(port) <= 5):
        return False
    return name in LOOPBACK_NAMES


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def check_request(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    *,
    routes: Mapping[str, str],
    api_key: str | None,
    limits: HttpLimits = LIMITS,
) -> Refusal | None:
    """The refusal a parsed request gets before its handler runs, or None to go on.

    ``routes`` maps each path to its one method; ``headers`` have lower-case names.
    """
    values: dict[bytes, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value.decode("latin-1"))

    hosts = values.get(b"host", [])
    if len(hosts) != 1:
        return Refusal(400, "BadRequest", "A request needs exactly one Host header")
    if not is_loopback_host(hosts[0]):
        return Refusal(403, "Forbidden", "Host must be 127.0.0.1, localhost or [::1]")

    if api_key is not None:
        given = values.get(b"authorization", [])
        scheme, _, token = given[0].partition(" ") if len(given) == 1 else ("", "", "")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.encode("latin-1"), api_key.encode()
        ):
            return Refusal(401, "Unauthorized", "Invalid or missing API key")

    allowed = routes.get(path)
    if allowed is None:
        return Refusal(404, "NotFound", f"No endpoint {path[:100]!r}")
    if method != allowed:
        return Refusal(
            405, "MethodNotAllowed", f"{method[:20]} is not allowed here; use {allowed}", allowed
        )
    if method != "POST":
        return None

    content_types = values.get(b"content-type", [])
    if len(content_types) != 1 or _media_type(content_types[0]) != "application/json":
        return Refusal(415, "UnsupportedMediaType", "POST needs Content-Type: application/json")
    if b"transfer-encoding" in values:
        return Refusal(411, "LengthRequired", "Send the body with Content-Length, not chunked")
    lengths = values.get(b"content-length", ["0"])
    # h11 has refused a malformed Content-Length already (400).
    if any(v.strip().isdigit() and int(v) > limits.body for v in lengths):
        return Refusal(413, "PayloadTooLarge", f"Body over {limits.body} bytes")
    return None


class BridgeGuard:
    """ASGI middleware: :func:`check_request` first, then the app; every answer closes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Mapping[str, str],
        api_key: str | None,
        limits: HttpLimits = LIMITS,
    ) -> None:
        self._app = app
        self._routes = dict(routes)
        self._api_key = api_key or None
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        refusal = check_request(
            scope["method"],
            scope["path"],
            list(scope.get("headers", [])),
            routes=self._routes,
            api_key=self._api_key,
            limits=self._limits,
        )
        if refusal is not None:
            await refusal.send(send)
            return

        async def send_and_close(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self._app(scope, receive, send_and_close)


class BridgeH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the bridge's head limits and JSON answers to bad requests.

    :func:`check_head` sees the bytes before h11 does; a request h11 cannot
    parse gets the JSON 400 instead of uvicorn's plain-text one. A refused
    connection is closed gracefully: the answer, then FIN, then whatever the
    client still sends is read and dropped until it closes (or ``LINGER`` s).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = bytearray()
        self._head_done = False
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._head_done:
            self._head += data
            complete, refusal = check_head(bytes(self._head))
            if refusal is not None:
                self._refuse(refusal)
                return
            if complete:
                self._head_done = True
                self._head = bytearray()
        super().data_received(data)

    def _unsupported_upgrade_warning(self) -> None:
        """Quiet: an Upgrade to this port (``ws="none"``) is answered as a plain request."""

    def send_400_response(self, msg: str) -> None:
        self._refuse(MALFORMED)

    def _refuse(self, refusal: Refusal) -> None:
        self._refused = True
        transport = self.transport
        transport.write(refusal.raw())
        if transport.can_write_eof():
            transport.write_eof()
            self._linger = self.loop.call_later(LINGER, transport.close)
        else:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)
