"""The management API's guards: API key, rate limit, request size (the guide's security defaults).

/health and /metrics stay open: health checks (Docker, systemd, load
balancers) and Prometheus scrape them without credentials, and they reveal
no secret. Everything that acts or reads logs needs the key when one is set.
Rate limiting uses the `limits` library (a moving window per client address).
"""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import dataclass

from fastapi import FastAPI
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from spacetime_panel.config.settings import ApiSettings

#: Paths that never need the key and are never rate limited.
OPEN_PATHS = frozenset({"/health", "/metrics"})


def error(status: int, title: str, message: str, **headers: str) -> JSONResponse:
    """The error shape of the bridge, reused here: {"error", "message"}."""
    return JSONResponse({"error": title, "message": message}, status_code=status, headers=headers)


class BodySizeLimit(BaseHTTPMiddleware):
    """Refuse request bodies over the configured size before reading them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return error(413, "Payload Too Large", f"request body over {self.max_bytes} bytes")
        return await call_next(request)


class RequireApiKey(BaseHTTPMiddleware):
    """`Authorization: Bearer KEY` on every path but the open ones."""

    def __init__(self, app: ASGIApp, *, key: str) -> None:
        super().__init__(app)
        self._expected = f"Bearer {key}".encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path not in OPEN_PATHS:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, self._expected):
                return error(401, "Unauthorized", "Invalid or missing API key")
        return await call_next(request)


class RateLimit(BaseHTTPMiddleware):
    """At most `per_minute` requests per client address in any 60 s window."""

    def __init__(self, app: ASGIApp, *, per_minute: int) -> None:
        super().__init__(app)
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path not in OPEN_PATHS:
            client = request.client.host if request.client else "unknown"
            if not self._limiter.hit(self._item, client):
                reset = self._limiter.get_window_stats(self._item, client).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                return error(
                    429,
                    "Too Many Requests",
                    f"rate limit of {self._item.amount} requests per minute reached; "
                    f"retry in {wait} s",
                    **{"Retry-After": str(wait)},
                )
        return await call_next(request)


@dataclass(frozen=True, slots=True)
class ManagementKeys:
    """The management API's keys; None means "not set"."""

    #: Full control: start, stop, restart, scenes, and everything a read key may do.
    control: str | None = None


def install_guards(app: FastAPI, api: ApiSettings, keys: ManagementKeys) -> None:
    """Add the API's guards to `app`, in the order they must run."""
    # Added last = runs first: size, then key, then rate (a wrong key costs no budget).
    if api.rate_limit_enabled:
        app.add_middleware(RateLimit, per_minute=api.rate_limit_per_minute)
    if keys.control:
        app.add_middleware(RequireApiKey, key=keys.control)
    if api.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(api.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodySizeLimit, max_bytes=int(api.max_request_size_mb * 1024 * 1024))
