"""`spacetime-panel serve` end to end: a real panel process supervising the simulated Godot."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest

from tests.integration.conftest import PANEL, Serve, alive, wait_until

GUIDE_FIELDS = {
    "server",
    "timestamp",
    "godot_process",
    "godot_api",
    "scene",
    "player",
    "overall_healthy",
    "blocking_issues",
}


def test_serve_becomes_healthy_with_every_field_of_the_guide(serve: Serve) -> None:
    serve.start("--auto-load-scene")
    body = serve.wait_healthy(15)

    assert body.keys() >= GUIDE_FIELDS
    assert body["server"] == "healthy"
    assert body["godot_process"]["running"] is True
    assert isinstance(body["godot_process"]["pid"], int)
    assert body["godot_api"]["reachable"] is True
    assert body["scene"] == {**body["scene"], "loaded": True, "name": "vr_main"}
    assert body["player"]["spawned"] is True
    assert body["blocking_issues"] == []
    assert serve.get("/health").status_code == 200


def test_game_killed_with_sigkill_is_replaced_without_user_action(serve: Serve) -> None:
    serve.start("--auto-load-scene")
    first = serve.wait_healthy()["godot_process"]["pid"]

    os.kill(first, signal.SIGKILL)

    def replaced() -> bool:
        body = serve.health()
        return body["overall_healthy"] and body["godot_process"]["pid"] not in (None, first)

    wait_until(replaced, 20, "a new healthy game")
    game = serve.game()
    assert game["restarts"] == 1
    assert game["last_failure"] == "killed by SIGKILL"
    assert any("killed by SIGKILL" in line for line in serve.log_lines())


def test_crash_loop_ends_in_fatal_after_exactly_three_failures(serve: Serve) -> None:
    serve.start(env={"SPACETIME_SIM_CRASH_AFTER": "0.5", "SPACETIME_SIM_EXIT_CODE": "3"})

    wait_until(lambda: serve.game()["state"] == "FATAL", 30, "FATAL")
    response = serve.get("/health")
    body = response.json()
    assert response.status_code == 503
    assert body["overall_healthy"] is False
    assert any("failed 3 times" in issue for issue in body["blocking_issues"])
    assert any("exited with code 3" in issue for issue in body["blocking_issues"])

    lines = serve.log_lines()
    assert len([line for line in lines if line.startswith("starting game")]) == 3
    # FATAL schedules nothing: the last restart announced is the one after failure 2.
    assert [line for line in lines if line.startswith("restarting game in")] == [
        "restarting game in 0.1 s",
        "restarting game in 1 s",
    ]


def test_the_first_backoff_is_a_setting(serve: Serve) -> None:
    serve.start(
        env={"SPACETIME_SIM_CRASH_AFTER": "0.3", "SPACETIME__SUPERVISOR__FIRST_BACKOFF": "0.25"}
    )

    def first_restart() -> str | None:
        found = [line for line in serve.log_lines() if line.startswith("restarting game in")]
        return found[0] if found else None

    assert wait_until(first_restart, 30, "the first restart") == "restarting game in 0.25 s"


def test_launch_after_fatal_clears_the_failures(serve: Serve) -> None:
    serve.start(env={"SPACETIME_SIM_CRASH_AFTER": "0.3"})
    wait_until(lambda: serve.game()["state"] == "FATAL", 30, "FATAL")

    assert serve.post("/start", json={"program": "game"}).status_code == 202
    wait_until(lambda: serve.game()["state"] in ("STARTING", "RUNNING", "BACKOFF"), 10, "a start")
    starts = [line for line in serve.log_lines() if line.startswith("starting game")]
    assert len(starts) >= 4


def test_hung_game_is_killed_by_the_watchdog_and_restarted(serve: Serve) -> None:
    serve.start(
        "--check-interval", "0.2", "--stop-timeout", "2",
        env={"SPACETIME_SIM_HANG_AFTER": "1.5"},
    )  # fmt: skip
    first = wait_until(lambda: serve.game()["pid"], 15, "the first game")

    def restarted() -> bool:
        game = serve.game()
        return game["pid"] not in (None, first) and game["restarts"] >= 1

    wait_until(restarted, 30, "a watchdog restart")
    assert "health checks failed in a row" in (serve.game()["last_failure"] or "")
    assert not alive(first)


def test_stop_leaves_no_process_of_the_tree_alive(serve: Serve) -> None:
    serve.start("--stop-timeout", "2", env={"SPACETIME_SIM_SPAWN_CHILD": "1"})
    serve.wait_healthy()
    game_pid = serve.health()["godot_process"]["pid"]
    grandchild = wait_until(
        lambda: next(
            (int(t.split()[-1]) for t in serve.log_lines() if t.startswith("sim: spawned child")),
            None,
        ),
        10,
        "the grandchild's pid",
    )
    serve.godot_pids.add(grandchild)
    assert alive(grandchild)

    response = serve.post("/stop", json={})

    assert response.status_code == 200
    assert response.json()["programs"]["game"]["state"] == "STOPPED"
    assert not alive(game_pid)
    assert not alive(grandchild), "the grandchild that ignores SIGTERM outlived the stop"
    assert serve.get("/health").status_code == 503


def test_restarted_panel_adopts_the_running_game(serve: Serve) -> None:
    serve.start("--auto-load-scene")
    pid = serve.wait_healthy()["godot_process"]["pid"]

    assert serve.stop_panel(signal.SIGKILL) == -signal.SIGKILL
    assert alive(pid)

    serve.start("--auto-load-scene")
    body = serve.wait_healthy()
    assert body["godot_process"]["pid"] == pid
    assert body["programs"]["game"]["adopted"] is True
    assert not [line for line in serve.log_lines() if line.startswith("starting game")]

    # The adopted game is still supervised: its death is seen and it is replaced.
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: serve.game()["pid"] not in (None, pid), 20, "a replacement")


def test_scene_paths_are_validated_before_reaching_godot(serve: Serve) -> None:
    serve.start("--auto-load-scene")
    serve.wait_healthy()

    for bad in ("res://../x.tscn", "/etc/passwd", "res://a.gd"):
        response = serve.post("/scene/load", json={"path": bad})
        assert response.status_code == 400, bad
        assert response.json()["message"]
    missing = serve.post("/scene/load", json={"path": "res://nowhere.tscn"})
    assert missing.status_code == 404

    response = serve.post("/scene/load", json={"path": "res://scenes/test_room.tscn"})
    assert response.status_code == 202

    def loaded() -> bool:
        body = serve.health()
        return body["scene"]["name"] == "test_room" and body["player"]["spawned"]

    wait_until(loaded, 15, "test_room loaded and the player spawned")


def test_status_proxies_godot_and_says_502_when_it_is_down(serve: Serve) -> None:
    serve.start()
    serve.wait_healthy()
    status = serve.get("/status")
    assert status.status_code == 200
    assert status.json()["bridge"]["pid"] == serve.health()["godot_process"]["pid"]

    serve.post("/stop", json={})
    down = serve.get("/status")
    assert down.status_code == 502
    assert "not reachable" in down.json()["message"]


def test_logs_and_openapi(serve: Serve) -> None:
    serve.start("--auto-load-scene")
    serve.wait_healthy()
    lines = serve.get("/logs", params={"lines": 3}).json()["lines"]
    assert len(lines) == 3
    assert {"timestamp", "program", "stream", "text"} <= lines[0].keys()
    paths = serve.get("/openapi.json").json()["paths"]
    assert {"/health", "/status", "/start", "/stop", "/restart", "/scene/load", "/logs"} <= set(
        paths
    )
    assert serve.get("/logs", params={"lines": 0}).status_code == 422


def test_oversized_request_is_refused(serve: Serve) -> None:
    serve.start()
    body = b"{" + b" " * (11 * 1024 * 1024) + b"}"
    response = serve.post("/scene/load", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_sigterm_stops_godot_and_exits_zero(serve: Serve) -> None:
    serve.start()
    pid = serve.wait_healthy()["godot_process"]["pid"]

    assert serve.stop_panel(signal.SIGTERM) == 0
    assert not alive(pid)


def test_leave_running_keeps_godot_for_the_next_panel(serve: Serve) -> None:
    serve.start("--leave-running")
    pid = serve.wait_healthy()["godot_process"]["pid"]

    assert serve.stop_panel(signal.SIGTERM) == 0
    assert alive(pid)
    serve.start()
    assert serve.wait_healthy()["godot_process"]["pid"] == pid


def test_busy_port_is_a_one_line_error_naming_the_holder(serve: Serve) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", serve.port))
    holder.listen()
    try:
        result = subprocess.run(serve.args(), capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert result.returncode == 1
    message = result.stderr.strip()
    assert "\n" not in message
    assert f"port {serve.port}" in message and "already in use" in message
    assert f"pid {os.getpid()}" in message
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--port", "70000"], ["--port", "api.port", "65535"]),
        (["--player-timeout", "-1"], ["--player-timeout", "supervisor.player_timeout"]),
    ],
)
def test_invalid_setting_is_a_one_line_error_with_exit_2(
    serve: Serve, args: list[str], names: list[str]
) -> None:
    result = subprocess.run(serve.args(*args), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    for name in names:
        assert name in result.stderr


def test_project_without_project_godot_is_refused(serve: Serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    serve.project = tmp_path / "empty"
    serve.project.mkdir()
    result = subprocess.run(serve.args(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no project.godot" in result.stderr


def test_missing_godot_is_a_one_line_error(serve: Serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    args = serve.args()
    args[args.index("--godot-path") + 1] = str(tmp_path / "no-godot-here")
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Godot not found" in result.stderr and "--godot-path" in result.stderr

    args[args.index("--godot-path") + 1] = "godot-4-surely-not-on-path"
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "not on PATH" in result.stderr and "--demo" in result.stderr


def test_no_subcommand_runs_the_supervisor_headless(serve: Serve) -> None:
    args = serve.args()
    args.remove("serve")
    serve.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)  # fmt: skip
    wait_until(serve.answers, 20, "the API")
    serve.wait_healthy()


def test_version_flag() -> None:
    result = subprocess.run([*PANEL, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith("spacetime-panel ")


def test_demo_runs_game_and_editor(serve: Serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    serve.process = subprocess.Popen(
        serve.args("--demo", godot=False), env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until(serve.answers, 20, "the API")
    body = serve.wait_healthy(15)
    assert body["programs"]["editor"]["state"] == "RUNNING"
    assert body["scene"]["name"] == "vr_main"
    assert (tmp_path / "data" / "spacetime-panel" / "demo_project" / "project.godot").exists()


def _metrics(serve: Serve) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = serve.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_use_the_guides_names_and_follow_a_crash(serve: Serve) -> None:
    serve.start("--auto-load-scene", "--check-interval", "0.2")
    first = serve.wait_healthy()["godot_process"]["pid"]
    metrics = _metrics(serve)
    for name in (
        "spacetime_health_status",
        "spacetime_godot_running",
        "spacetime_scene_loaded",
        "spacetime_player_spawned",
    ):
        assert metrics[(name, ())] == 1.0, name
    assert metrics[("spacetime_restart_total", (("program", "game"),))] == 0.0
    assert metrics[("spacetime_api_response_time_seconds_count", ())] > 0

    os.kill(first, signal.SIGKILL)
    wait_until(lambda: serve.health()["godot_process"]["pid"] not in (None, first), 20, "restart")
    serve.wait_healthy()
    metrics = _metrics(serve)
    assert metrics[("spacetime_restart_total", (("program", "game"),))] == 1.0
    assert metrics[("spacetime_error_total", (("type", "crash"),))] == 1.0


def test_management_key_guards_everything_but_health_and_metrics(serve: Serve) -> None:
    serve.start(env={"SPACETIME_PANEL_API_KEY": "panel-secret"})
    serve.wait_healthy()
    assert serve.get("/metrics").status_code == 200

    refused = serve.get("/logs")
    assert refused.status_code == 401
    assert refused.json() == {"error": "Unauthorized", "message": "Invalid or missing API key"}
    assert serve.post("/stop", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert serve.health()["godot_process"]["running"] is True

    ok = serve.get("/logs", headers={"Authorization": "Bearer panel-secret"})
    assert ok.status_code == 200


def test_auth_required_without_a_key_refuses_to_start(serve: Serve) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    env["API_KEY_REQUIRED"] = "true"
    result = subprocess.run(serve.args(), capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "SPACETIME_PANEL_API_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_rate_limit_answers_429_with_retry_after(serve: Serve) -> None:
    serve.start(env={"SPACETIME__API__RATE_LIMIT_PER_MINUTE": "5"})
    codes = [serve.get("/logs").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429]
    limited = serve.get("/logs")
    assert int(limited.headers["retry-after"]) >= 1
    assert "5 requests per minute" in limited.json()["message"]
    # Health checks are never limited.
    assert all(serve.get("/health").status_code in (200, 503) for _ in range(10))


def test_telemetry_summary_and_metrics_follow_the_game(serve: Serve) -> None:
    serve.start("--auto-load-scene")
    serve.wait_healthy()

    def flowing() -> dict | None:  # type: ignore[type-arg]
        summary = serve.get("/telemetry/summary").json()
        return summary if summary["state"] == "connected" and summary["fps_now"] else None

    summary = wait_until(flowing, 15, "telemetry to flow")
    assert 30 < summary["fps_now"] <= 200
    assert summary["frame_time_p99_ms"] >= summary["frame_time_p50_ms"] > 0
    assert summary["hello"]["pid"] == serve.health()["godot_process"]["pid"]
    metrics = _metrics(serve)
    assert metrics[("spacetime_telemetry_connected", ())] == 1.0
    assert metrics[("spacetime_fps", ())] > 0
    assert metrics[("spacetime_frame_time_seconds_count", ())] > 0
