"""The management HTTP API (FastAPI): /health, /status, start/stop/restart, scenes, logs.

Every handler reads the Controller's held state or calls its public methods.
/health in particular never calls Godot on the request path.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from spacetime_panel import __version__
from spacetime_panel.api.audit import AuditLog
from spacetime_panel.api.metrics import metrics_registry
from spacetime_panel.api.security import ManagementKeys, error, install_guards
from spacetime_panel.core.controller import Controller, NotRunning
from spacetime_panel.core.health import program_json
from spacetime_panel.godot.bridge import BridgeError, BridgeRefused
from spacetime_panel.godot.scenes import InvalidScenePath

Which = Literal["game", "editor", "all"]


class ProgramRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program: Which = "all"


class SceneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str


def create_app(
    controller: Controller,
    *,
    keys: ManagementKeys | None = None,
    audit: AuditLog | None = None,
) -> FastAPI:
    """The API for one controller. Bind it with `spacetime_panel.api.server`.

    With a control key in `keys`, every path but /health and /metrics needs
    `Authorization: Bearer KEY` (or the read key, or a token; see
    `api.security`). Mutating calls are audited to `audit` (and the panel log).
    """
    app = FastAPI(
        title="SpaceTime Panel management API",
        version=__version__,
        description="Supervises Godot for SpaceTime VR: health, process control, scenes, logs.",
    )
    api = controller.settings.api
    install_guards(app, api, keys or ManagementKeys(), audit=audit)

    # Errors of the game side, mapped once for every endpoint.
    @app.exception_handler(InvalidScenePath)
    async def invalid_scene(_: Request, exc: InvalidScenePath) -> JSONResponse:
        return error(400, "Bad Request", str(exc))

    @app.exception_handler(NotRunning)
    async def not_running(request: Request, exc: NotRunning) -> JSONResponse:
        if request.url.path == "/status":
            return error(502, "Bad Gateway", f"Godot API not reachable: {exc}")
        return error(409, "Conflict", str(exc))

    @app.exception_handler(BridgeRefused)
    async def refused(_: Request, exc: BridgeRefused) -> JSONResponse:
        return error(exc.status_code, "Refused by Godot", exc.message)

    @app.exception_handler(BridgeError)
    async def unreachable(_: Request, exc: BridgeError) -> JSONResponse:
        return error(502, "Bad Gateway", f"Godot API not reachable: {exc}")

    def programs() -> dict[str, Any]:
        return {name: program_json(s) for name, s in controller.statuses().items()}

    def select_error(which: str) -> JSONResponse | None:
        if which != "all" and which not in controller.programs:
            return error(400, "Bad Request", f"{which} is not enabled in this panel's settings")
        return None

    if api.metrics_enabled:
        registry, latency = metrics_registry(controller)
        controller.game.observe_bridge_latency(latency.observe)

        @app.get("/metrics", summary="Prometheus metrics (the guide's names)")
        async def metrics() -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", summary="The guide's health document; 200 when healthy, 503 when not")
    async def health() -> JSONResponse:
        verdict = controller.health()
        return JSONResponse(verdict.body, status_code=verdict.status_code)

    @app.get("/services", summary="The port table: the six services, and the games discovered")
    async def services() -> JSONResponse:
        now = time.monotonic()
        return JSONResponse(
            {
                "services": [status.to_json() for status in controller.services()],
                "all_expected_up": controller.monitor.all_expected_up(),
                "expected": sorted(controller.monitor.expected),
                "instances": [instance.to_json(now) for instance in controller.instances()],
            }
        )

    @app.get("/telemetry/summary", summary="Rolling telemetry statistics (FPS, frame times, ...)")
    async def telemetry_summary() -> JSONResponse:
        if controller.telemetry is None:
            return error(404, "Not Found", "telemetry is off (no game, or telemetry.enabled=false)")
        return JSONResponse(controller.telemetry.summary().to_json())

    @app.get("/status", summary="Godot's own /status (retried); 502 when unreachable")
    async def godot_status() -> JSONResponse:
        return JSONResponse(await controller.godot_status())

    @app.post("/start", status_code=202, summary="Launch Godot (clears a FATAL state)")
    async def start(request: ProgramRequest | None = None) -> JSONResponse:
        which = request.program if request else "all"
        if (refusal := select_error(which)) is not None:
            return refusal
        controller.start(which)
        return JSONResponse({"programs": programs()}, status_code=202)

    @app.post("/stop", summary="Stop Godot and every process it started; returns when done")
    async def stop(request: ProgramRequest | None = None) -> JSONResponse:
        which = request.program if request else "all"
        if (refusal := select_error(which)) is not None:
            return refusal
        await controller.stop(which)
        return JSONResponse({"programs": programs()})

    @app.post("/restart", status_code=202, summary="Stop, then launch again")
    async def restart(request: ProgramRequest | None = None) -> JSONResponse:
        which = request.program if request else "all"
        if (refusal := select_error(which)) is not None:
            return refusal
        await controller.restart(which)
        return JSONResponse({"programs": programs()}, status_code=202)

    @app.post("/scene/load", status_code=202, summary="Load a res:// scene in the game")
    async def load_scene(request: SceneRequest) -> JSONResponse:
        await controller.load_scene(request.path)
        return JSONResponse({"path": request.path, "state": "loading"}, status_code=202)

    @app.post("/scene/reload", status_code=202, summary="Reload the current scene")
    async def reload_scene() -> JSONResponse:
        await controller.reload_scene()
        return JSONResponse({"state": "loading"}, status_code=202)

    @app.get("/logs", summary="The last lines of Godot's output and the supervisor's events")
    async def logs(lines: Annotated[int, Query(ge=1, le=100_000)] = 100) -> JSONResponse:
        return JSONResponse(
            {
                "lines": [
                    {
                        "timestamp": line.timestamp,
                        "program": line.program,
                        "stream": line.stream,
                        "text": line.text,
                    }
                    for line in controller.logs(lines)
                ]
            }
        )

    return app
