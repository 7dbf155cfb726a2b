"""MCP over streamable HTTP at `/mcp` on the management API, for agents that start no process.

`McpEndpoint(app, api)` adds the route `/mcp` to the management API's app (left
out of its OpenAPI document). It serves the same MCP server as
`spacetime-panel mcp` (`agents.server.build_mcp_server`), whose tools call the
API in-process (`httpx.ASGITransport` over this very app) with the caller's own
`Authorization` header. So one door decides everything, with the same answers:

- `/mcp` itself is behind the API's guards: without the key where one is
  required it is the API's 401 (the MCP client sees an HTTP error), a `Host`
  that is not allowed is the API's 403, and so on (`api.security`).
- Each tool's API call goes through the guards again with the caller's key: a
  read-only key may read health, but `restart` is a tool error carrying the
  API's 403 message. A mutating call is audited as the API call it made.
- The inner calls count (rate limit) and are audited for the client the
  `/mcp` request came from (the TCP peer, or who a trusted proxy forwarded),
  not for the panel itself.

The SDK's own DNS-rebinding check is off: the API's `HostCheck` and
`CrossSite` do that job, with `api.allowed_hosts` and `api.allowed_origins`,
for `/mcp` as for every other path. The server is stateless (no MCP session
kept between HTTP requests): every request carries its own key, and nothing
outlives it. The SDK is imported and the MCP server built on the first `/mcp`
request (a service no agent talks to does not carry the SDK: about 25 MB);
its session manager then runs in a task of its own until `stop()`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from spacetime_panel.agents.panel_client import PanelClient
from spacetime_panel.api.security import TrustedProxies, error
from spacetime_panel.config.settings import ApiSettings
from spacetime_panel.service import heap

#: Where the endpoint answers.
MCP_PATH = "/mcp"
#: Set by the endpoint on every request it gets (never taken from the caller): the
#: client the request counts for, so the tools' inner calls count for it too.
CLIENT_HEADER = "x-spacetime-panel-mcp-client"
#: The inner calls' base URL: a loopback name, which the API's Host check accepts.
INNER_URL = "http://127.0.0.1"

#: The headers of the `/mcp` request being served, for calls the SDK gives no
#: request context (resource reads); the stateless server's task is started
#: from the request's own task, so it sees them.
_request_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "spacetime_panel_mcp_request_headers", default=None
)


class McpEndpoint:
    """The `/mcp` route on `app`; `await stop()` after serving."""

    def __init__(
        self,
        app: FastAPI,
        api: ApiSettings,
        *,
        recordings: Path | None = None,
        freeze_heap: bool = False,
    ) -> None:
        """`freeze_heap`: freeze the SDK's modules out of garbage collection once
        imported (`heap.freeze_heap`), as the service froze its own start-up."""
        self._app = app
        self._freeze = freeze_heap
        self._api = api
        self._recordings = recordings
        self._proxies = TrustedProxies.parse(api.trusted_proxies)
        self._handler: ASGIApp | None = None
        self._building = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._running: asyncio.Task[None] | None = None
        # An ASGI app (this object, not a function) as the endpoint: every method reaches it.
        app.router.routes.append(Route(MCP_PATH, self, include_in_schema=False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request to /mcp, past the API's guards."""
        name = CLIENT_HEADER.encode()
        client = self._proxies.client(scope).encode("latin-1", "replace")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != name]
        scope = {**scope, "headers": [*headers, (name, client)]}
        handler = await self._ready()
        if handler is None:  # the service is stopping
            refusal = error(503, "Service Unavailable", "the panel is stopping")
            await refusal(scope, receive, send)
            return
        token = _request_headers.set(Headers(scope=scope))
        try:
            await handler(scope, receive, send)
        finally:
            _request_headers.reset(token)

    async def _ready(self) -> ASGIApp | None:
        """The SDK's handler, built and its session manager started on the first request."""
        async with self._building:
            if self._handler is None and not self._stopping.is_set():
                self._handler = await self._build()
            return None if self._stopping.is_set() else self._handler

    async def _build(self) -> ASGIApp:
        # The SDK takes a while to import: only a service that serves /mcp pays for it.
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
        from mcp.server.transport_security import TransportSecuritySettings

        from spacetime_panel.agents.server import build_mcp_server

        server = build_mcp_server(self._panel_for, recordings=self._recordings)
        server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            max_request_body_size=int(self._api.max_request_size_mb * 1024 * 1024),
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager
        started = asyncio.Event()

        async def run() -> None:
            async with manager.run():
                started.set()
                await self._stopping.wait()

        self._running = asyncio.create_task(run())
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({self._running, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._running.done():
            self._running.result()  # raises what kept it from starting
        if self._freeze:
            heap.freeze_heap("MCP started")  # the SDK's modules join the start-up's
        return StreamableHTTPASGIApp(manager)

    def _panel_for(self, headers: Mapping[str, str] | None) -> PanelClient:
        """A client of this app for one tool call, as the caller: its key, its address."""
        if headers is None:
            headers = _request_headers.get()
        headers = headers or {}
        client = headers.get(CLIENT_HEADER) or "127.0.0.1"
        transport = httpx.ASGITransport(app=self._app, client=(client, 0))
        return PanelClient(
            INNER_URL, authorization=headers.get("authorization"), transport=transport
        )

    async def stop(self) -> None:
        """End the session manager: whatever MCP work is still going is cancelled."""
        self._stopping.set()
        if self._running is not None:
            await self._running
            self._running = None
