"""Every error is {"error", "message"}, FastAPI's own too, and the OpenAPI document says
which ones each route can answer (what tests/fuzz/api_fuzz.py holds the server to)."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetime_panel.api.docs import SCENE_PATH_PATTERN
from spacetime_panel.godot.commands import demo_project
from spacetime_panel.godot.scenes import InvalidScenePath, validate_scene_path
from tests.integration.conftest import Serve, wait_until

GUARDED = {"401", "403", "429"}
POSTED = GUARDED | {"400", "413", "415", "422"}


@pytest.fixture(scope="module")
def document(gameless_serve: Serve) -> dict[str, Any]:
    body: dict[str, Any] = gameless_serve.get("/openapi.json").json()
    return body


def problem(response: httpx.Response, status: int) -> str:
    """The message of an error answer, after checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"]
    message: str = body["message"]
    assert message and "\n" not in message
    return message


def test_unknown_routes_and_methods_answer_in_the_api_shape(gameless_serve: Serve) -> None:
    assert problem(gameless_serve.get("/nowhere"), 404) == "no such route: GET /nowhere"

    not_allowed = httpx.delete(gameless_serve.url + "/health", timeout=10)
    assert "DELETE /health" in problem(not_allowed, 405)
    assert not_allowed.headers["allow"] == "GET"
    # A POST with the JSON type reaches routing: 405 with Allow, like any method.
    posted = gameless_serve.post("/health", json={})
    problem(posted, 405)
    assert posted.headers["allow"] == "GET"
    # Without it, the cross-site guard answers first (tests/fuzz/hooks.py says why).
    problem(httpx.post(gameless_serve.url + "/health", timeout=10), 415)


def test_validation_errors_name_the_field_in_one_line(gameless_serve: Serve) -> None:
    assert "query.lines" in problem(gameless_serve.get("/logs", params={"lines": 0}), 422)
    assert "query.lines" in problem(gameless_serve.get("/logs", params={"lines": "many"}), 422)
    assert "query.lines" in problem(gameless_serve.get("/logs", params={"lines": 100_001}), 422)
    assert "body.program" in problem(gameless_serve.post("/stop", json={"program": "nobody"}), 422)
    assert "body.path" in problem(gameless_serve.post("/scene/load", json={}), 422)
    assert "body.path" in problem(gameless_serve.post("/scene/load", json={"path": 5}), 422)
    assert "body.extra" in problem(gameless_serve.post("/scene/reload", json={"extra": 1}), 422)
    broken = gameless_serve.post(
        "/scene/load", content=b'{"path": ', headers={"content-type": "application/json"}
    )
    assert problem(broken, 400) == "the body is not JSON: Expecting value at character 9"


def test_a_bad_scene_path_is_a_400_that_says_what_is_wrong(gameless_serve: Serve) -> None:
    # validate_scene_path is the authority: the document's pattern only states its rule.
    for path, why in [
        ("res://../x.tscn", "'..'"),
        ("/etc/passwd", "res://"),
        ("res://a.gd", ".tscn or .scn"),
        ("res:///etc/x.tscn", "inside the project"),
    ]:
        assert why in problem(gameless_serve.post("/scene/load", json={"path": path}), 400)
    # A good path gets past the check; there is no game to load it in.
    problem(gameless_serve.post("/scene/load", json={"path": "res://scenes/test_room.tscn"}), 409)


def test_the_document_states_the_constraints(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 shape is never answered
    assert schemas["SceneRequest"]["properties"]["path"]["pattern"] == SCENE_PATH_PATTERN
    (lines,) = document["paths"]["/logs"]["get"]["parameters"]
    assert (lines["schema"]["minimum"], lines["schema"]["maximum"]) == (1, 100_000)


def test_the_document_lists_every_error_a_route_can_answer(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            answers = operation["responses"]
            for status, answer in answers.items():
                if status.startswith(("4", "5")) and (path, status) != ("/health", "503"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)
            if path in ("/health", "/metrics"):
                assert "403" in answers  # the Host check; no key, no rate limit there
                continue
            expected = POSTED if method == "post" else GUARDED
            assert expected <= set(answers), (method, path, sorted(answers))
            if method == "post":
                assert operation["requestBody"]["required"] is True
            assert "Retry-After" in answers["429"]["headers"]

    assert set(paths["/health"]["get"]["responses"]) == {"200", "503", "403"}
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    for path in ("/status",):
        assert "502" in paths[path]["get"]["responses"]
    for path in ("/scene/load", "/scene/reload"):
        assert {"409", "502"} <= set(paths[path]["post"]["responses"])
    assert "404" in paths["/scene/load"]["post"]["responses"]
    assert "404" in paths["/telemetry/summary"]["get"]["responses"]


def test_with_a_key_the_document_declares_the_bearer_scheme(
    serve: Serve, document: dict[str, Any]
) -> None:
    assert "securitySchemes" not in document.get("components", {})  # no key: none needed
    key = "fuzz-" + "k" * 30
    serve.start("--no-game", env={"SPACETIME_PANEL_API_KEY": key})
    assert problem(serve.get("/openapi.json"), 401)
    keyed = serve.get("/openapi.json", headers={"authorization": f"Bearer {key}"}).json()
    scheme = keyed["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, operations in keyed["paths"].items():
        for operation in operations.values():
            needed = operation.get("security")
            assert needed == (None if path in ("/health", "/metrics") else [{"bearer": []}])


def test_metrics_answer_in_the_documented_text_format(gameless_serve: Serve) -> None:
    metrics = gameless_serve.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE " in metrics.text


# --- the pattern in the document says what validate_scene_path says ----------------

# ECMA and Rust read `$` as the end of the text; Python's `re` also before a final "\n".
AS_ECMA = re.compile(SCENE_PATH_PATTERN.removesuffix("$") + r"\Z")

PIECES = ["a", "Z", "é", " ", "/", ".", "..", ":", "\\", "\x00", "\n", "tscn", "scn", "_"]
paths = st.builds(
    lambda prefix, middle, suffix: prefix + "".join(middle) + suffix,
    st.sampled_from(["res://", "res:/", "RES://", "", "res://res://", "user://"]),
    st.lists(st.sampled_from(PIECES), max_size=8),
    st.sampled_from([".tscn", ".scn", ".gd", "", ".tscn\n", ".TSCN", "tscn"]),
)


def valid(path: str) -> bool:
    try:
        validate_scene_path(path)
    except InvalidScenePath:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(paths)
def test_scene_path_pattern_agrees_with_validate_scene_path(path: str) -> None:
    assert (AS_ECMA.match(path) is not None) == valid(path), repr(path)


@pytest.mark.parametrize(
    "path",
    ["res://.tscn", "res://a/.scn", "res://a.b.tscn", "res://.a/b.tscn", "res://a\nb.tscn"],
)
def test_scene_path_pattern_edge_cases(path: str) -> None:
    assert (AS_ECMA.match(path) is not None) == valid(path), repr(path)


# --- the game's answers are mapped to the panel's own ------------------------------

#: A "Godot" whose bridge answers /status (with its own pid, so the panel adopts it as
#: its game) and refuses or fails each scene request in its own way.
FAKE_GAME = r"""
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDENTITY = {"protocol": "spacetime-bridge/1", "version": "0", "godot_version": "4.5",
            "pid": os.getpid(), "project": "fake", "http_port": 0, "telemetry_port": 0}
SERVICE = {"service_name": "x", "port": 1, "state": 0, "retry_count": 0, "last_activity": 0}
LOADS = {
    "res://boom.tscn": (500, {"error": "InternalError", "message": "boom"}),
    "res://locked.tscn": (401, {"error": "Unauthorized", "message": "Invalid or missing API key"}),
    "res://gone.tscn": (404, {"error": "NotFound", "message": "Scene not found: res://gone.tscn"}),
    "res://odd.tscn": (400, {"error": "BadRequest", "message": "not a scene this game loads"}),
}


class Bridge(BaseHTTPRequestHandler):
    def answer(self, status, body, kind="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        bodies = {
            "/status": {"debug_adapter": SERVICE, "language_server": SERVICE,
                        "overall_ready": False, "bridge": IDENTITY},
            "/scene": {"loaded": True, "loading": False, "name": "vr_main",
                       "path": "res://vr_main.tscn"},
            "/player": {"spawned": True, "position": [0, 0, 0]},
        }
        if self.path in bodies:
            self.answer(200, bodies[self.path])
        else:
            self.answer(404, {"error": "NotFound", "message": "No route " + self.path})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/scene/reload":
            self.answer(409, {"error": "Conflict", "message": "No scene is loaded"})
            return
        path = json.loads(raw or b"{}").get("path")
        if path == "res://crash.tscn":  # not JSON, several lines: a crashed handler
            self.answer(500, b"Traceback (most recent call last):\n  OSError: too long\n",
                        "text/plain")
            return
        self.answer(*LOADS.get(path, (202, {"status": "loading", "path": path})))

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["SPACETIME_HTTP_PORT"])), Bridge).serve_forever()
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """A `serve` whose game is FAKE_GAME, running (its bridge found by its pid)."""
    tmp = tmp_path_factory.mktemp("gateway")
    project = tmp / "project"
    shutil.copytree(demo_project(), project, ignore=shutil.ignore_patterns(".godot"))
    godot = tmp / "fake-godot"
    godot.write_text(f"#!{sys.executable}\n{FAKE_GAME}", encoding="utf-8")
    godot.chmod(0o755)
    serve = Serve(tmp=tmp, project=project)
    try:
        serve.start("--godot-path", str(godot))
        wait_until(lambda: serve.game()["state"] == "RUNNING", 20, "the fake game to run")
        yield serve
    finally:
        serve.cleanup()


@pytest.mark.parametrize(
    ("scene", "says"),
    [
        ("res://boom.tscn", "the game failed: boom (HTTP 500 from its bridge)"),
        ("res://crash.tscn", "the game failed: Traceback (most recent call last): OSError: too"),
        ("res://locked.tscn", "the game refused the request: Invalid or missing API key (HTTP 401"),
    ],
)
def test_a_game_that_fails_or_refuses_is_a_502_with_its_message(
    gateway: Serve, scene: str, says: str
) -> None:
    message = problem(gateway.post("/scene/load", json={"path": scene}), 502)
    assert message.startswith(says), message
    assert gateway.post("/scene/load", json={"path": scene}).json()["error"] == "Bad Gateway"


def test_what_the_user_can_fix_keeps_its_status_with_the_games_message(gateway: Serve) -> None:
    gone = problem(gateway.post("/scene/load", json={"path": "res://gone.tscn"}), 404)
    assert gone == "the game says: Scene not found: res://gone.tscn"
    odd = problem(gateway.post("/scene/load", json={"path": "res://odd.tscn"}), 400)
    assert odd == "the game says: not a scene this game loads"
    assert problem(gateway.post("/scene/reload"), 409) == "the game says: No scene is loaded"
    # And a scene the game takes is taken.
    loading = gateway.post("/scene/load", json={"path": "res://scenes/test_room.tscn"})
    assert loading.status_code == 202, loading.text


def test_an_over_long_scene_name_is_a_400_before_the_game_is_asked(gameless_serve: Serve) -> None:
    # The case: a name of 251 characters (256 bytes with .tscn) was a 500.
    message = problem(
        gameless_serve.post("/scene/load", json={"path": "res://" + "a" * 251 + ".tscn"}), 400
    )
    assert "256 bytes, over 255" in message and len(message) < 200
    long_path = "res://" + "/".join(["d" * 200] * 6) + "/x.tscn"  # 1,219 bytes
    assert "over 1024" in problem(gameless_serve.post("/scene/load", json={"path": long_path}), 400)


def test_the_document_bounds_the_scene_path(document: dict[str, Any]) -> None:
    path = document["components"]["schemas"]["SceneRequest"]["properties"]["path"]
    assert path["maxLength"] == 1024
    assert "255 bytes" in path["description"]
