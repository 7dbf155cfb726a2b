"""What the API says about itself: the OpenAPI models of its answers and errors, and /docs.

The document states the real constraints (the scene path rule, the `lines`
bounds) and every error a route can answer, so that a client (or
schemathesis, `tests/fuzz/api_fuzz.py`) can hold the server to it. Every
error, FastAPI's own included, is `{"error", "message"}` (`Error`).

/docs is Swagger UI from files shipped inside the package
(`static/swagger-ui`, swagger-ui-dist from npm; see its README.md), never
from a CDN: a workstation may be offline, and a third-party script on a page
that can stop the game is a risk of its own.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from spacetime_panel.api.security import error

#: The rule of `godot.scenes.validate_scene_path` (the authority) as a JSON Schema
#: pattern, without look-arounds so that any regex engine reads it the same way:
#: `res://`, then no leading `/`, no `:`, `\`, NUL or `..`, then `.tscn` or `.scn`.
#: A path is a run of tokens, each a character other than those (and `.`) or a `.`
#: followed by one: so no two dots touch, and none touches the final `.tscn`.
_CHAR = r"[^:\\\x00.]"
SCENE_PATH_PATTERN = rf"^res://(?:(?:[^/:\\\x00.]|\.{_CHAR})(?:{_CHAR}|\.{_CHAR})*)?\.(?:tscn|scn)$"

#: The rule in words, with what a pattern cannot say: lengths count UTF-8 bytes
#: (`maxLength` counts characters, so a shorter non-ASCII path can still be refused).
SCENE_PATH_RULE = (
    "A res:// scene path ending in .tscn or .scn, without '..', ':' or a leading '/' "
    "after res://, no backslash or NUL; no name (folder or file) over 255 bytes and no "
    "path over 1024 bytes in UTF-8. A path the rule refuses is a 400 that says why."
)

SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui"
ASSETS = "/docs/assets"
#: The files the page loads, and their types (nothing else of the folder is served).
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


class Error(BaseModel):
    """Every error of this API, as the bridge's: a title and a one-line message."""

    model_config = ConfigDict(extra="forbid")
    error: str = Field(examples=["Unauthorized"])
    message: str = Field(examples=["Invalid or missing API key"])


class ProgramJson(BaseModel):
    """One supervised program (game or editor), as /health and the control routes show it."""

    state: Literal["STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"]
    pid: int | None
    uptime_seconds: float | None
    restarts: int
    last_exit_code: int | None
    last_failure: str | None
    adopted: bool
    #: A start asked for during a stop: it happens when the stop ends.
    start_queued: bool = False


class ProgramsAnswer(BaseModel):
    programs: dict[str, ProgramJson]


class StartAnswer(ProgramsAnswer):
    """/start's answer: a program that is stopping starts when its stop ends (`queued`)."""

    queued: list[str] = Field(examples=[["game"]])
    message: str = Field(examples=["game is stopping: it will start when the stop ends"])


class SceneLoading(BaseModel):
    path: str | None = None
    state: Literal["loading"]


class LogLine(BaseModel):
    timestamp: float
    program: str
    stream: str
    text: str


class LogLines(BaseModel):
    lines: list[LogLine]


class Services(BaseModel):
    services: list[dict[str, Any]]
    all_expected_up: bool
    expected: list[str]
    instances: list[dict[str, Any]]


_WHY: dict[int, str] = {
    400: "A body that cannot be parsed, or a request for something this panel cannot do "
    "(the message says what)",
    401: "No key, a wrong key or an expired token, while a management key is set",
    403: "A Host that is not a loopback name on a loopback bind, a foreign Origin on a POST, "
    "or the read-only key on a route that acts",
    404: "Not found (the message says what; for a scene, the game has no such file)",
    409: "Godot is not running (or, for a reload, the game has no scene loaded)",
    413: "The body is over api.max_request_size_mb",
    415: "A POST without Content-Type: application/json (an empty body needs it too)",
    422: "A parameter or a body field outside its schema",
    429: "Over api.rate_limit_per_minute; Retry-After says when to try again",
    502: "Godot's bridge is not reachable, refused the panel's request or failed: the "
    "message carries the game's own and its HTTP status",
}

#: What every route can answer (bar /health and /metrics, which need no key and
#: have no rate limit, and meet only the Host check).
GUARDED = (401, 403, 429)
#: What a POST can answer besides.
POSTED = (400, 413, 415, 422)


#: The content of /metrics' 200: Prometheus' text format.
METRICS_TEXT: dict[str, Any] = {"content": {"text/plain": {"schema": {"type": "string"}}}}

#: Every POST takes a JSON body: the guards refuse a POST without
#: `Content-Type: application/json` (415), so the document says the body is
#: required; `{}` asks for the defaults (an empty body with that type does too).
JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON, with Content-Type: application/json; {} for the defaults",
    }
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for FastAPI: each code answered with `Error`, described once here."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes)):
        documented[code] = {"model": Error, "description": _WHY[code]}
    if 429 in documented:
        documented[429]["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    if 401 in documented:
        documented[401]["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return documented


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from the package's own files (the app has docs_url=None)."""

    @app.get(ASSETS + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media = ASSET_TYPES.get(name)
        if media is None:
            return error(404, "Not Found", f"no such file of the docs page: {name[:100]!r}")
        file = SWAGGER_UI / name
        if not file.is_file():
            # A package built without its data: /docs breaks, never the API.
            return error(404, "Not Found", f"{file} is missing: reinstall spacetime-panel")
        return FileResponse(file, media_type=media)

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - docs",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            # No badge that sends the document to the online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )


def document_bearer(app: FastAPI, open_paths: Collection[str]) -> None:
    """With a management key set, the document says which routes need it (the
    `bearer` scheme): clients know, and Swagger UI shows its Authorize button."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # FastAPI's, made once and kept in app.openapi_schema
        components = document.setdefault("components", {})
        if "securitySchemes" not in components:
            components["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The control key, the read-only key (GET only) or a token "
                    "from `spacetime-panel keys token`",
                }
            }
            for path, operations in document["paths"].items():
                if path not in open_paths:
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
