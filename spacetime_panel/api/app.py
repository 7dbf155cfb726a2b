"""The management HTTP API (FastAPI): /health, /status, start/stop/restart, scenes, logs.

Every handler reads the Controller's held state or calls its public methods.
/health in particular never calls Godot on the request path. Every error is
`{"error", "message"}`, FastAPI's own (422, 404, 405) included, and the
OpenAPI document lists the ones each route can answer (`api.docs`).

The game's bridge answers are mapped, never passed through: a scene path
the game calls bad (400) or missing (404), or a reload with no scene (409),
is the user's to fix and keeps its status; any other error status from the
game (401 for a bridge key it refuses, 404, 500, ...) is a 502 whose message
carries the game's own and its status.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from spacetime_panel import __version__
from spacetime_panel.api.audit import AuditLog
from spacetime_panel.api.docs import (
    GUARDED,
    JSON_BODY,
    METRICS_TEXT,
    POSTED,
    SCENE_PATH_PATTERN,
    SCENE_PATH_RULE,
    LogLines,
    ProgramsAnswer,
    SceneLoading,
    Services,
    StartAnswer,
    document_bearer,
    errors,
    install_docs,
)
from spacetime_panel.api.metrics import metrics_registry
from spacetime_panel.api.security import OPEN_PATHS, ManagementKeys, error, install_guards
from spacetime_panel.core.controller import Controller, NotRunning
from spacetime_panel.core.health import program_json
from spacetime_panel.godot.bridge import BridgeError, BridgeRefused, SceneRefused
from spacetime_panel.godot.scenes import MAX_PATH_BYTES, InvalidScenePath

Which = Literal["game", "editor", "all"]


class ProgramRequest(BaseModel):
    """Which program to act on; an empty body (with its JSON content type) means all."""

    model_config = ConfigDict(extra="forbid")
    program: Annotated[Which, Field(examples=["game"])] = "all"


class SceneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Documented, not enforced here: validate_scene_path is the authority and says
    # what is wrong in its 400 (a regex mismatch would only say "no match").
    path: Annotated[
        str,
        Field(
            examples=["res://scenes/test_room.tscn"],
            description=SCENE_PATH_RULE,
            json_schema_extra={"pattern": SCENE_PATH_PATTERN, "maxLength": MAX_PATH_BYTES},
        ),
    ]


class SceneList(BaseModel):
    """/scenes' answer: the project's scenes and the one the game has loaded."""

    scenes: list[str] = Field(examples=[["res://scenes/test_room.tscn", "res://vr_main.tscn"]])
    loaded: str | None = Field(
        examples=["res://vr_main.tscn"], description="the game's scene; null when none is loaded"
    )
    loading: bool = Field(description="a scene load is in progress")


class NoOptions(BaseModel):
    """A body with nothing in it: `{}` or empty (with its JSON content type)."""

    model_config = ConfigDict(extra="forbid")


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of problems as one line: `body.program: Input should be ...`."""
    problems = []
    for problem in exc.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()))
        problems.append(f"{where}: {problem.get('msg', 'invalid')}")
    message = "; ".join(problems) or "the request does not match its schema"
    return message if len(message) <= 500 else message[:497] + "..."


def _not_json_message(problem: dict[str, Any]) -> str:
    """`the body is not JSON: Expecting value at character 9`."""
    why = str((problem.get("ctx") or {}).get("error") or problem.get("msg") or "decode error")
    where = [part for part in problem.get("loc", ()) if isinstance(part, int)]
    at = f" at character {where[0]}" if where else ""
    return f"the body is not JSON: {why}{at}"


def refusal_message(exc: BridgeRefused) -> str:
    """What a 502 says when the game's bridge answered with an error status."""
    verb = "failed" if exc.status_code >= 500 else "refused the request"
    message = f"the game {verb}: {exc.message} (HTTP {exc.status_code} from its bridge)"
    if exc.status_code == 401:
        message += "; the panel's bridge key is not the game's: spacetime-panel keys set bridge"
    return message


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
        docs_url=None,  # install_docs: Swagger UI from the package, not a CDN
        redoc_url=None,
    )
    api = controller.settings.api
    install_guards(app, api, keys or ManagementKeys(), audit=audit)
    install_docs(app)
    if keys is not None and keys.control:
        document_bearer(app, OPEN_PATHS)

    # FastAPI's own errors in the API's shape: {"error", "message"}, headers kept (Allow).
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A body that is not JSON at all cannot be parsed: 400, as the document says;
        # JSON that does not fit the schema is a 422.
        for problem in exc.errors():
            if problem.get("type") == "json_invalid":
                return error(400, "Bad Request", _not_json_message(problem))
        return error(422, "Unprocessable Entity", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        where = f"{request.method} {request.url.path[:200]}"
        message = exc.detail if isinstance(exc.detail, str) and exc.detail != title else title
        if exc.status_code == 404 and message == title:
            message = f"no such route: {where}"
        elif exc.status_code == 405 and message == title:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"method not allowed: {where} (allowed: {allowed})"
        return error(exc.status_code, title, message, **(exc.headers or {}))

    # Errors of the game side, mapped once for every endpoint.
    @app.exception_handler(InvalidScenePath)
    async def invalid_scene(_: Request, exc: InvalidScenePath) -> JSONResponse:
        return error(400, "Bad Request", str(exc))

    @app.exception_handler(NotRunning)
    async def not_running(request: Request, exc: NotRunning) -> JSONResponse:
        if request.url.path == "/status":
            return error(502, "Bad Gateway", f"Godot API not reachable: {exc}")
        return error(409, "Conflict", str(exc))

    # The game's answers are mapped to the panel's own, never passed through: a game
    # that refuses the bridge key is not a panel 401, nor a failing game a panel 500.
    # What the user asked of a scene and can fix (a path the game calls bad or
    # missing, a reload with nothing loaded) keeps its status; anything else the
    # game refuses or fails is a 502 that carries the game's message.
    @app.exception_handler(SceneRefused)
    async def scene_refused(_: Request, exc: SceneRefused) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        return error(exc.status_code, title, f"the game says: {exc.message}")

    @app.exception_handler(BridgeRefused)
    async def refused(_: Request, exc: BridgeRefused) -> JSONResponse:
        return error(502, "Bad Gateway", refusal_message(exc))

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

        @app.get(
            "/metrics",
            summary="Prometheus metrics (the guide's names)",
            response_class=Response,  # no media type of its own: the errors stay JSON
            responses={200: {"description": "The text format", **METRICS_TEXT}, **errors(403)},
        )
        async def metrics() -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    document = {"content": {"application/json": {"schema": {"type": "object"}}}}

    @app.get(
        "/health",
        summary="The guide's health document; 200 when healthy, 503 when not",
        responses={
            200: {"description": "Healthy", **document},
            503: {"description": "Not healthy: blocking_issues say why", **document},
            **errors(403),
        },
    )
    async def health() -> JSONResponse:
        verdict = controller.health()
        return JSONResponse(verdict.body, status_code=verdict.status_code)

    @app.get(
        "/services",
        summary="The port table: the six services, and the games discovered",
        response_model=Services,
        responses=errors(*GUARDED),
    )
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

    @app.get(
        "/telemetry/summary",
        summary="Rolling telemetry statistics (FPS, frame times, ...)",
        responses={200: document, **errors(*GUARDED, 404)},
    )
    async def telemetry_summary() -> JSONResponse:
        if controller.telemetry is None:
            return error(404, "Not Found", "telemetry is off (no game, or telemetry.enabled=false)")
        return JSONResponse(controller.telemetry.summary().to_json())

    @app.get(
        "/status",
        summary="Godot's own /status (retried); 502 when unreachable",
        responses={200: document, **errors(*GUARDED, 502)},
    )
    async def godot_status() -> JSONResponse:
        return JSONResponse(await controller.godot_status())

    control = errors(*GUARDED, *POSTED)

    @app.post(
        "/start",
        status_code=202,
        summary="Launch Godot (clears a FATAL state); during a stop, once the stop ends",
        response_model=StartAnswer,
        responses=control,
        openapi_extra=JSON_BODY,
    )
    async def start(request: ProgramRequest | None = None) -> JSONResponse:
        which = request.program if request else "all"
        if (refusal := select_error(which)) is not None:
            return refusal
        queued = controller.start(which)
        if queued:
            names = " and ".join(queued)
            verb = "is" if len(queued) == 1 else "are"
            message = f"{names} {verb} stopping: the start follows when the stop ends"
        else:
            message = "start requested"
        body = {"programs": programs(), "queued": queued, "message": message}
        return JSONResponse(body, status_code=202)

    @app.post(
        "/stop",
        summary="Stop Godot and every process it started; returns when done",
        response_model=ProgramsAnswer,
        responses=control,
        openapi_extra=JSON_BODY,
    )
    async def stop(request: ProgramRequest | None = None) -> JSONResponse:
        which = request.program if request else "all"
        if (refusal := select_error(which)) is not None:
            return refusal
        await controller.stop(which)
        return JSONResponse({"programs": programs()})

    @app.post(
        "/restart",
        status_code=202,
        summary="Stop, then launch again",
        response_model=ProgramsAnswer,
        responses=control,
        openapi_extra=JSON_BODY,
    )
    async def restart(request: ProgramRequest | None = None) -> JSONResponse:
        which = request.program if request else "all"
        if (refusal := select_error(which)) is not None:
            return refusal
        await controller.restart(which)
        return JSONResponse({"programs": programs()}, status_code=202)

    @app.get(
        "/scenes",
        summary="The project's scenes (res:// paths) and the one the game has loaded",
        response_model=SceneList,
        responses=errors(*GUARDED),
    )
    async def scenes() -> JSONResponse:
        found = await asyncio.to_thread(controller.scenes)
        view = controller.view
        loaded = view.scene_path if view.scene_loaded else None
        return JSONResponse({"scenes": found, "loaded": loaded, "loading": view.scene_loading})

    @app.post(
        "/scene/load",
        status_code=202,
        summary="Load a res:// scene in the game",
        response_model=SceneLoading,
        responses=errors(*GUARDED, *POSTED, 404, 409, 502),
        openapi_extra=JSON_BODY,
    )
    async def load_scene(request: SceneRequest) -> JSONResponse:
        await controller.load_scene(request.path)
        return JSONResponse({"path": request.path, "state": "loading"}, status_code=202)

    @app.post(
        "/scene/reload",
        status_code=202,
        summary="Reload the current scene",
        response_model=SceneLoading,
        responses=errors(*GUARDED, *POSTED, 409, 502),
        openapi_extra=JSON_BODY,
    )
    async def reload_scene(request: NoOptions | None = None) -> JSONResponse:
        await controller.reload_scene()
        return JSONResponse({"state": "loading"}, status_code=202)

    @app.get(
        "/logs",
        summary="The last lines of Godot's output and the supervisor's events",
        response_model=LogLines,
        responses=errors(*GUARDED, 422),
    )
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
