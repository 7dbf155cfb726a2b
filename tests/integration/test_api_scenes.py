"""GET /scenes: the project's scenes and the one the game has loaded."""

from __future__ import annotations

from tests.integration.conftest import Serve

KEY = "scenes-test-control-key-0123456789abcdef"


def test_scenes_lists_the_project_and_the_loaded_scene(serve: Serve) -> None:
    (serve.project / "levels").mkdir()
    (serve.project / "levels" / "extra.tscn").write_text("[gd_scene format=3]\n")
    (serve.project / ".hidden").mkdir()
    (serve.project / ".hidden" / "secret.tscn").write_text("[gd_scene format=3]\n")
    serve.start()
    serve.wait_healthy(30)
    answer = serve.get("/scenes")
    assert answer.status_code == 200
    body = answer.json()
    assert body["loaded"] == "res://vr_main.tscn"
    assert body["loading"] is False
    assert "res://levels/extra.tscn" in body["scenes"]
    assert "res://scenes/test_room.tscn" in body["scenes"]
    assert not any(".hidden" in scene for scene in body["scenes"])
    assert body["scenes"] == sorted(body["scenes"])


def test_scenes_without_a_game_has_none_loaded(gameless_serve: Serve) -> None:
    body = gameless_serve.get("/scenes").json()
    assert body["loaded"] is None
    assert "res://vr_main.tscn" in body["scenes"]


def test_scenes_needs_the_key_when_one_is_set(serve: Serve) -> None:
    serve.start("--no-game", env={"SPACETIME_PANEL_API_KEY": KEY})
    refused = serve.get("/scenes")
    assert refused.status_code == 401
    assert set(refused.json()) == {"error", "message"}
    allowed = serve.get("/scenes", headers={"Authorization": f"Bearer {KEY}"})
    assert allowed.status_code == 200 and allowed.json()["scenes"]


def test_scenes_is_documented(gameless_serve: Serve) -> None:
    document = gameless_serve.get("/openapi.json").json()
    route = document["paths"]["/scenes"]["get"]
    schema = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SceneList"}
    fields = document["components"]["schemas"]["SceneList"]["properties"]
    assert set(fields) == {"scenes", "loaded", "loading"}
