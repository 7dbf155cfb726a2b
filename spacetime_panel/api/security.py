"""The management API's guards, each a small plain ASGI middleware.

In the order a request meets them (`install_guards` sets them up):

1. `Audit`: every POST, whatever its fate, gets one audit line (`api.audit`).
2. `HostCheck`, on a loopback bind only: a `Host` that is not a loopback name
   (or one of `api.allowed_hosts`) is refused with 403, so a DNS-rebinding page
   cannot read the API. On a non-loopback bind the names the API is reached by
   are unknown, so the check is off there: the management key guards it
   (the panel refuses such a bind without one).
3. CORS (starlette's), only for `api.allowed_origins`: other origins get no
   allow headers, so their preflights fail in the browser.
4. `RateLimit`: `api.rate_limit_per_minute` per client (the `limits` library,
   moving window); /health and /metrics are never limited. It runs before the
   key check, so guessing keys costs budget like any other request.
5. `RequireKey`, with a control key set: every path but /health and /metrics
   needs `Authorization: Bearer X`, X the control key, the read-only key (GET
   only, and POST to /mcp, whose tools ask the API again with that key;
   anything else is 403) or a token signed with the control key
   (`secrets.tokens`; an expired one is a 401 that says so).
6. `CrossSite`: a POST needs `Content-Type: application/json`, an empty one too
   (415): a web page can only send text/plain, form or multipart bodies
   without a preflight. A POST whose `Origin` is neither this server nor one of
   `api.allowed_origins` is refused (403).
7. `BodyLimit`: bodies over `api.max_request_size_mb` are 413, counted as the
   bytes arrive (chunked bodies included), never buffered first.

The client a request is counted (and audited) for is the TCP peer, or, only
when the peer is one of `api.trusted_proxies`, the last address in
`X-Forwarded-For` that is not itself a trusted proxy. uvicorn's own proxy
header handling is off (`api.server`), so nothing rewrites the peer.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from fastapi import FastAPI
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spacetime_panel.api.audit import BODY_SAMPLE_BYTES, AuditEntry, AuditLog, asked, fingerprint
from spacetime_panel.config.settings import ApiSettings
from spacetime_panel.secrets import PANEL_API_KEY, PANEL_READ_KEY, Secret, SecretStore
from spacetime_panel.secrets.tokens import TokenRejected, looks_like_token, verify_token

#: Paths that never need the key and are never rate limited.
OPEN_PATHS = frozenset({"/health", "/metrics"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
#: Methods the read-only key (or a read token) may use.
READ_METHODS = frozenset({"GET", "HEAD"})
#: Where the read-only key may POST as well: MCP's messages are POSTs, and its tools
#: call the API again with the caller's key, so what they do is decided there.
READ_POST_PATHS = frozenset({"/mcp"})
#: Where the credential a request was accepted with is noted for the audit line.
ROLE_KEY = "spacetime_panel.role"

Role = Literal["control", "read"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def error(status: int, title: str, message: str, **headers: str) -> JSONResponse:
    """The error shape of the bridge, reused here: {"error", "message"}."""
    return JSONResponse({"error": title, "message": message}, status_code=status, headers=headers)


def is_loopback(host: str) -> bool:
    """True for a bind address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The name in a `Host` header (or an `api.allowed_hosts` entry), lower case, no port."""
    value = value.strip().lower()
    if value.startswith("["):
        return value.partition("]")[0] + "]"
    if value.count(":") > 1:  # a bare IPv6 address (only a config entry can be one)
        return f"[{value}]"
    return value.partition(":")[0]


def bearer(headers: Headers) -> str | None:
    """The credential of `Authorization: Bearer X`, or None."""
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The peers whose `X-Forwarded-For` is believed (none by default)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """From addresses and networks (`10.0.0.5`, `10.0.0.0/8`, `::1`); ValueError if bad."""
        return cls(tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries))

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, scope: Scope) -> str:
        """The client a request counts for: the peer, or who a trusted proxy forwarded."""
        peer = scope["client"][0] if scope.get("client") else "unknown"
        if not self.networks or not self.trusts(peer):
            return peer
        forwarded = ",".join(Headers(scope=scope).getlist("x-forwarded-for"))
        # Right to left: each trusted proxy appended the address it got the request from.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self.trusts(hop):
                return hop[:64]
        return peer


@dataclass(frozen=True, slots=True)
class ManagementKeys:
    """The management API's keys; None means "not set"."""

    #: Full control: start, stop, restart, scenes, and everything a read key may do.
    control: str | None = field(default=None, repr=False)
    #: Read only: health, services, logs, telemetry, metrics, status, the docs.
    read: str | None = field(default=None, repr=False)

    def secrets(self) -> tuple[str, ...]:
        return tuple(key for key in (self.control, self.read) if key)


class HostCheck:
    """On a loopback bind, refuse a `Host` that is not a loopback name nor allowed (403)."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self._allowed = LOOPBACK_NAMES | {host_name(h) for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = Headers(scope=scope).getlist("host")
            if len(hosts) != 1:
                message = "a request needs exactly one Host header"
            elif host_name(hosts[0]) not in self._allowed:
                message = (
                    f"Host {hosts[0][:100]!r} is not a loopback name; "
                    "add it to api.allowed_hosts to accept it"
                )
            else:
                message = ""
            if message:
                await error(403, "Forbidden", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CrossSite:
    """POSTs only with `Content-Type: application/json` (415), from no foreign `Origin` (403)."""

    def __init__(self, app: ASGIApp, *, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self._origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = Headers(scope=scope)
            media = headers.get("content-type", "").partition(";")[0].strip().lower()
            origin = headers.get("origin", "").rstrip("/").lower()
            refusal = None
            if media != "application/json":
                got = f"got {media[:60]!r}" if media else "got none"
                refusal = error(
                    415,
                    "Unsupported Media Type",
                    f"POST needs Content-Type: application/json ({got}), an empty body too",
                )
            elif origin and not self._same_origin(origin, headers) and origin not in self._origins:
                refusal = error(
                    403,
                    "Forbidden",
                    f"Origin {origin[:100]!r} may not post here; "
                    "add it to api.allowed_origins to accept it",
                )
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _same_origin(origin: str, headers: Headers) -> bool:
        """The API's own pages (/docs) post with an Origin naming this very server."""
        host = headers.get("host", "").lower()
        return bool(host) and origin in (f"http://{host}", f"https://{host}")


class RequireKey:
    """`Authorization: Bearer` control key, read key (GET, POST /mcp) or token, off open paths."""

    def __init__(self, app: ASGIApp, *, keys: ManagementKeys) -> None:
        assert keys.control, "RequireKey needs a control key"
        self.app = app
        self._control = keys.control
        self._read = keys.read

    def _role(self, credential: str | None) -> Role | str:
        """The role a credential grants, or the message of a 401."""
        if credential is None:
            return "Invalid or missing API key"
        given = credential.encode("utf-8", "surrogateescape")
        if hmac.compare_digest(given, self._control.encode()):
            return "control"
        if self._read is not None and hmac.compare_digest(given, self._read.encode()):
            return "read"
        if looks_like_token(credential):
            try:
                return verify_token(self._control, credential)
            except TokenRejected as rejected:
                return str(rejected)
        return "Invalid or missing API key"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        role = self._role(bearer(Headers(scope=scope)))
        if role not in ("control", "read"):
            refusal = error(401, "Unauthorized", role, **{"WWW-Authenticate": "Bearer"})
            await refusal(scope, receive, send)
            return
        scope[ROLE_KEY] = role
        if (
            role == "read"
            and scope["method"] not in READ_METHODS
            and not (scope["method"] == "POST" and scope["path"] in READ_POST_PATHS)
        ):
            refusal = error(
                403,
                "Forbidden",
                f"read-only key: {scope['method']} {scope['path'][:100]} needs the control key",
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _declared_within(length: str, limit: int) -> bool:
    """A `Content-Length` that is a number no larger than `limit` (else: 413)."""
    length = length.strip()
    return length.isascii() and length.isdigit() and int(length) <= limit


class _BodyTooLarge(Exception):
    """Raised into the app when the body passes the limit; the 413 is ours to send."""


class BodyLimit:
    """413 for a body over `max_bytes`: at once when declared, else as the bytes arrive."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self) -> JSONResponse:
        return error(413, "Payload Too Large", f"request body over {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and not _declared_within(length, self.max_bytes):
            await self._refusal()(scope, receive, send)
            return
        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                return  # whatever the app makes of the cut body, the answer is the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refusal()(scope, receive, send)


class RateLimit:
    """At most `per_minute` requests per client in any 60 s window (429 with Retry-After)."""

    def __init__(self, app: ASGIApp, *, per_minute: int, proxies: TrustedProxies) -> None:
        self.app = app
        self._proxies = proxies
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            client = self._proxies.client(scope)
            if not self._limiter.hit(self._item, client):
                reset = self._limiter.get_window_stats(self._item, client).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                refusal = error(
                    429,
                    "Too Many Requests",
                    f"rate limit of {self._item.amount} requests per minute reached; "
                    f"retry in {wait} s",
                    **{"Retry-After": str(wait)},
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: POSTs that carry other calls: audited only when refused, since each call they make
#: is audited itself (an MCP tool call is the API call it makes; its envelope is noise).
ENVELOPE_PATHS = frozenset({"/mcp"})


class Audit:
    """One audit line per POST: client, key fingerprint, route, what it asked, the status."""

    def __init__(self, app: ASGIApp, *, log: AuditLog, proxies: TrustedProxies) -> None:
        self.app = app
        self._log = log
        self._proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        sample = bytearray()
        status = 500  # unless the app answers: it failed

        async def teed() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(sample) < BODY_SAMPLE_BYTES:
                sample.extend(message.get("body", b"")[: BODY_SAMPLE_BYTES - len(sample)])
            return message

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, teed, noted)
        finally:
            if scope["path"] not in ENVELOPE_PATHS or status >= 400:
                self._write(scope, sample, status)

    def _write(self, scope: Scope, sample: bytearray, status: int) -> None:
        role = scope.get(ROLE_KEY)
        credential = bearer(Headers(scope=scope))
        key = fingerprint(credential)
        self._log.write(
            AuditEntry(
                client=self._proxies.client(scope),
                key=f"{key}({role})" if role and key != "no key" else key,
                method=scope["method"],
                path=scope["path"],
                asked=asked(bytes(sample)),
                status=status,
                time=datetime.now(UTC),
            ),
            redact=(credential,),
        )


def install_guards(
    app: FastAPI, api: ApiSettings, keys: ManagementKeys, *, audit: AuditLog | None = None
) -> None:
    """Add the API's guards to `app`, in the order they must run (see the module's doc).

    `audit` is where audit lines go; without one (and `api.audit_log` on) they
    go to the panel log only.
    """
    proxies = TrustedProxies.parse(api.trusted_proxies)
    # Added last = runs first.
    app.add_middleware(BodyLimit, max_bytes=int(api.max_request_size_mb * 1024 * 1024))
    app.add_middleware(CrossSite, allowed_origins=api.allowed_origins)
    if keys.control:
        app.add_middleware(RequireKey, keys=keys)
    if api.rate_limit_enabled:
        app.add_middleware(RateLimit, per_minute=api.rate_limit_per_minute, proxies=proxies)
    if api.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(api.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if is_loopback(api.host):
        app.add_middleware(HostCheck, allowed_hosts=api.allowed_hosts)
    if api.audit_log:
        log = audit if audit is not None else AuditLog(None, secrets=keys.secrets())
        app.add_middleware(Audit, log=log, proxies=proxies)


def management_keys(secrets: SecretStore) -> ManagementKeys:
    """The management API's control and read-only keys, from the environment or keyring.

    With no OS keyring at all only the environment counts. A keyring that exists
    but cannot be read (locked, silent, failing), or a `VARIABLE_FILE` that cannot
    be read, raises `KeyringUnavailable`: serving without the key it may hold would
    quietly turn authentication off.
    """

    def key(secret: Secret) -> str | None:
        must_read = secrets.available() or secrets.names_a_file(secret)
        value, _ = secrets.lookup(secret) if must_read else secrets.get(secret)
        return value

    return ManagementKeys(control=key(PANEL_API_KEY), read=key(PANEL_READ_KEY))
