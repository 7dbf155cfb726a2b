"""The simulated game's bridge HTTP API, discovery and port file, over real sockets."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, wait_until
from tests.integration.sim_process import (
    SimProcess,
    running_sim,
)


def _scene(sim: SimProcess) -> dict[str, Any]:
    return dict(sim.get("/scene").json())


def test_status_has_the_guide_shape_and_bridge_identity(project: Path) -> None:
    with running_sim(project, "--headless") as sim:
        status = sim.wait_ready()
        for key in ("debug_adapter", "language_server"):
            service = status[key]
            assert set(service) >= {"service_name", "port", "state", "retry_count", "last_activity"}
            assert service["state"] == 0  # no editor running
        assert status["overall_ready"] is False
        bridge = status["bridge"]
        assert bridge["protocol"] == "spacetime-bridge/1"
        assert bridge["godot_version"].startswith("4.5")
        assert bridge["pid"] == sim.pid
        assert bridge["http_port"] == sim.http_port
        assert bridge["telemetry_port"] == sim.telemetry_port
        assert Path(bridge["project"]) == project.resolve()


def test_status_reports_editor_services_connected_when_their_ports_accept(project: Path) -> None:
    lsp, dap = socket.socket(), socket.socket()
    try:
        for sock in (lsp, dap):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        env = {
            "SPACETIME_LSP_PORT": str(lsp.getsockname()[1]),
            "SPACETIME_DAP_PORT": str(dap.getsockname()[1]),
        }
        with running_sim(project, env=env) as sim:
            sim.wait_ready()
            status = wait_until(
                lambda: (s := sim.get("/status").json())["overall_ready"] and s,
                what="LSP and DAP to show as connected",
            )
            assert status["language_server"]["state"] == 2
            assert status["debug_adapter"]["state"] == 2
            assert status["language_server"]["last_activity"] > 0
    finally:
        lsp.close()
        dap.close()


def test_api_key_is_required_on_every_endpoint(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_API_KEY": "s3cret"}) as sim:
        good = {"Authorization": "Bearer s3cret"}
        sim.wait_ready(headers=good)
        for method, path in (("GET", "/status"), ("GET", "/scene"), ("POST", "/scene/reload")):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                response = (
                    sim.get(path, headers=headers)
                    if method == "GET"
                    else sim.post(path, headers=headers)
                )
                assert response.status_code == 401
                assert response.json() == {
                    "error": "Unauthorized",
                    "message": "Invalid or missing API key",
                }
        assert sim.get("/player", headers=good).status_code == 200


def test_main_scene_loads_then_player_spawns(project: Path) -> None:
    with running_sim(project) as sim:
        sim.wait_ready()
        wait_until(lambda: sim.get("/player").json()["spawned"], what="the player to spawn")
        assert _scene(sim) == {
            "loaded": True,
            "loading": False,
            "name": "vr_main",
            "path": "res://vr_main.tscn",
        }
        assert len(sim.get("/player").json()["position"]) == 3
        wait_until(lambda: "player spawned" in sim.stdout(), what="the log line")
        assert "scene loaded: res://vr_main.tscn" in sim.stdout()


def test_scene_given_on_the_command_line_wins_over_main_scene(project: Path) -> None:
    with running_sim(project, "res://scenes/menu.tscn") as sim:
        sim.wait_ready()
        scene = wait_until(lambda: (s := _scene(sim))["loaded"] and s, what="the scene to load")
        assert scene["name"] == "menu"


def test_scene_load_202_then_loading_then_loaded_and_spawned(project: Path) -> None:
    env = {"SPACETIME_SIM_LOAD_DELAY": "0.5"}
    with running_sim(project, env=env) as sim:
        sim.wait_ready()
        response = sim.post("/scene/load", json={"path": "res://scenes/test_room.tscn"})
        assert response.status_code == 202
        scene = _scene(sim)
        assert scene["loading"] is True
        assert scene["loaded"] is False
        assert sim.get("/player").json()["spawned"] is False
        wait_until(lambda: sim.get("/player").json()["spawned"], what="the player to spawn")
        assert _scene(sim)["name"] == "test_room"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("scenes/menu.tscn", 400),
        ("res://../outside.tscn", 400),
        ("res://icon.svg", 400),
        ("res://scenes/missing.tscn", 404),
    ],
)
def test_scene_load_refuses_bad_paths(project: Path, path: str, status: int) -> None:
    with running_sim(project) as sim:
        sim.wait_ready()
        response = sim.post("/scene/load", json={"path": path})
        assert response.status_code == status
        assert set(response.json()) == {"error", "message"}


def test_scene_load_without_json_body_is_400(project: Path) -> None:
    with running_sim(project) as sim:
        sim.wait_ready()
        json_type = {"Content-Type": "application/json"}
        response = sim.post("/scene/load", content=b"not json", headers=json_type)
        assert response.status_code == 400


def test_reload_respawns_the_player(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_SIM_LOAD_DELAY": "0.4"}) as sim:
        sim.wait_ready()
        wait_until(lambda: sim.get("/player").json()["spawned"], what="the first spawn")
        assert sim.post("/scene/reload", json={}).status_code == 202
        assert sim.get("/player").json()["spawned"] is False
        wait_until(lambda: sim.get("/player").json()["spawned"], what="the respawn")


def test_reload_without_a_scene_is_409(project: Path) -> None:
    config = project / "project.godot"
    config.write_text(config.read_text().replace('run/main_scene="res://vr_main.tscn"\n', ""))
    with running_sim(project) as sim:
        sim.wait_ready()
        assert _scene(sim)["path"] is None
        assert sim.post("/scene/reload", json={}).status_code == 409


def test_http_falls_back_to_the_next_port_when_the_first_is_busy(project: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    also_busy = socket.socket()
    also_busy.bind(("127.0.0.1", 0))
    also_busy.listen()
    fallback = free_port()
    try:
        env = {
            "SPACETIME_HTTP_PORT": str(busy.getsockname()[1]),
            "SPACETIME_HTTP_FALLBACK_PORTS": f"{also_busy.getsockname()[1]},{fallback}",
        }
        with running_sim(project, env=env) as sim:
            wait_until(lambda: "HTTP on" in sim.stdout(), what="the HTTP log line")
            line = next(ln for ln in sim.stdout().splitlines() if "HTTP on" in ln)
            assert int(line.rsplit(":", 1)[1]) == fallback
            sim.http_port = fallback
            assert sim.wait_ready()["bridge"]["http_port"] == fallback
    finally:
        busy.close()
        also_busy.close()


def test_default_fallbacks_are_the_guides_8083_to_8085() -> None:
    from spacetime_panel.sim.settings import GameSettings

    assert GameSettings.from_env({}).http_ports() == [8080, 8083, 8084, 8085]
    env = {"SPACETIME_HTTP_PORT": "9000", "SPACETIME_HTTP_FALLBACK_PORTS": ""}
    assert GameSettings.from_env(env).http_ports() == [9000]


def test_discovery_beacon_and_port_file(project: Path) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(10)
    try:
        env = {"SPACETIME_DISCOVERY_PORT": str(listener.getsockname()[1])}
        with running_sim(project, env=env) as sim:
            sim.wait_ready()
            beacon = json.loads(listener.recv(65536))
            assert beacon["service"] == "spacetime-bridge"
            assert beacon["pid"] == sim.pid
            assert beacon["http_port"] == sim.http_port
            assert beacon["telemetry_port"] == sim.telemetry_port
            for key in ("protocol", "project", "host", "godot_version"):
                assert key in beacon
            port_file = project / ".godot" / "spacetime_bridge.json"
            assert json.loads(port_file.read_text()) == beacon
            sim.terminate()
            assert sim.wait_exit() == 0
            assert not port_file.exists()
    finally:
        listener.close()


def test_sigterm_exits_quickly_and_cleanly(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_HTTP_PORT": str(free_port())}) as sim:
        sim.wait_ready()
        sim.terminate()
        assert sim.wait_exit(timeout=5) == 0
        assert "Traceback" not in sim.stderr()
