"""The bridge HTTP API the game serves: status, scene control, player.

Built on Starlette and served by uvicorn on a socket bound here, so the port
fallback (8080, then 8083-8085) is decided before the server starts. The
protocol's checks before a handler runs (limits, Host, key, route, media
type, body size) live in :mod:`spacetime_panel.sim.http_guard`; the handlers
here check the body's JSON and the scene.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from spacetime_panel.sim.http_guard import LIMITS, BridgeGuard, BridgeH11Protocol
from spacetime_panel.sim.project import GodotProject, SceneNotFoundError, ScenePathError
from spacetime_panel.sim.world import World

DISCONNECTED, CONNECTING, CONNECTED, CIRCUIT_BREAKER_OPEN = 0, 1, 2, 3


class PortsBusyError(OSError):
    """None of the bridge's HTTP ports could be bound."""


def bind_first_free(ports: list[int], host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on the first port of ``ports`` that can be bound."""
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # No SO_REUSEADDR games beyond the usual: a port someone listens on is busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(128)
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    raise PortsBusyError(f"all bridge HTTP ports are busy on {host}: {ports}")


@dataclass
class EditorService:
    """What the bridge knows about one editor service (LSP or DAP), guide-shaped."""

    service_name: str
    port: int
    state: int = DISCONNECTED
    retry_count: int = 0
    last_activity: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "service_name": self.service_name,
            "port": self.port,
            "state": self.state,
            "retry_count": self.retry_count,
            "last_activity": self.last_activity,
        }


class EditorProbe:
    """Checks in the background, once a second, whether the editor's LSP/DAP ports accept."""

    def __init__(self, lsp_port: int, dap_port: int, interval: float = 1.0) -> None:
        self.language_server = EditorService("Language Server", lsp_port)
        self.debug_adapter = EditorService("Debug Adapter", dap_port)
        self._interval = interval

    async def run(self) -> None:
        """Probe forever (cancel to stop)."""
        while True:
            await asyncio.gather(self._check(self.language_server), self._check(self.debug_adapter))
            await asyncio.sleep(self._interval)

    @staticmethod
    async def _check(service: EditorService) -> None:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", service.port), timeout=0.5
            )
        except (OSError, TimeoutError):
            service.state = DISCONNECTED
            service.retry_count += 1
            return
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        service.state = CONNECTED
        service.retry_count = 0
        service.last_activity = time.time()


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


Handler = Callable[[Request], Awaitable[Response]]


class BridgeApi:
    """The HTTP endpoints; reads and changes the shared :class:`World`."""

    def __init__(
        self,
        *,
        world: World,
        project: GodotProject,
        probe: EditorProbe,
        identity: Callable[[], dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
        on_scene_request: Callable[[str], None] | None = None,
    ) -> None:
        self._world = world
        self._project = project
        self._probe = probe
        self._identity = identity
        self._clock = clock
        self._on_scene_request = on_scene_request

    def asgi(self, api_key: str | None) -> ASGIApp:
        """The Starlette app behind the protocol's checks (Host, key, route, media type)."""
        table: dict[str, tuple[str, Handler]] = {
            "/status": ("GET", self.status),
            "/scene": ("GET", self.scene),
            "/scene/load": ("POST", self.scene_load),
            "/scene/reload": ("POST", self.scene_reload),
            "/player": ("GET", self.player),
        }
        routes = [
            Route(path, handler, methods=[method]) for path, (method, handler) in table.items()
        ]
        app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error})
        methods = {path: method for path, (method, _) in table.items()}
        return BridgeGuard(app, routes=methods, api_key=api_key)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
        return _error(status, detail.replace(" ", ""), f"{request.method} {request.url.path}")

    async def status(self, request: Request) -> Response:
        lsp, dap = self._probe.language_server, self._probe.debug_adapter
        return JSONResponse(
            {
                "debug_adapter": dap.as_json(),
                "language_server": lsp.as_json(),
                "overall_ready": lsp.state == CONNECTED and dap.state == CONNECTED,
                "bridge": self._identity(),
            }
        )

    async def scene(self, request: Request) -> Response:
        self._world.advance(self._clock())
        return JSONResponse(self._world.scene_snapshot())

    async def player(self, request: Request) -> Response:
        self._world.advance(self._clock())
        return JSONResponse(self._world.player_snapshot())

    async def scene_load(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _error(400, "BadRequest", 'Body must be a JSON object: {"path": "res://..."}')
        path = body.get("path")
        if not isinstance(path, str):
            return _error(400, "BadRequest", 'Missing "path" (a res:// scene path)')
        try:
            self._project.scene_file(path)
        except ScenePathError as exc:
            return _error(400, "BadRequest", str(exc))
        except SceneNotFoundError as exc:
            return _error(404, "NotFound", str(exc))
        self._world.load(path, self._clock(), self._project.load_errors(path))
        if self._on_scene_request is not None:
            self._on_scene_request(f"loading scene: {path}")
        return JSONResponse({"status": "loading", "path": path}, status_code=202)

    async def scene_reload(self, request: Request) -> Response:
        raw = await request.body()
        if raw and not isinstance(await _json_body(request), dict):
            return _error(400, "BadRequest", "Body must be empty or a JSON object")
        current = self._world.scene_path
        errors = self._project.load_errors(current) if current is not None else []
        if not self._world.reload(self._clock(), errors):
            return _error(409, "Conflict", "No scene is loaded")
        if self._on_scene_request is not None:
            self._on_scene_request(f"reloading scene: {self._world.scene_path}")
        return JSONResponse({"status": "loading", "path": self._world.scene_path}, status_code=202)


async def _json_body(request: Request) -> Any:
    """The request's JSON body, or None when it is empty or not JSON (no NaN, no Infinity)."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class BridgeHttpServer(uvicorn.Server):
    """uvicorn's server without its SIGINT/SIGTERM handling (the simulator owns the
    signals), with an event set once it is serving."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: ASGIApp) -> BridgeHttpServer:
    """A quiet uvicorn server (no access log, warnings only) for ``serve(sockets=[...])``."""
    config = uvicorn.Config(
        app,
        http=BridgeH11Protocol,
        ws="none",  # telemetry has its own port; an Upgrade here is a plain request
        # Above check_head's own limits, so that those answer first (414/431, not h11's 400).
        h11_max_incomplete_event_size=2 * (LIMITS.request_line + LIMITS.headers),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    return BridgeHttpServer(config)
