"""A project without the bridge addon: its game is still supervised, and /health says why
the bridge's features are off and how to add them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.integration.conftest import Serve, wait_until

NO_BRIDGE = {"SPACETIME_SIM_NO_BRIDGE": "1"}


def remove_addon_lines(project: Path) -> None:
    """The demo project as it was before `install-addon`: no autoload, no plugin."""
    config = project / "project.godot"
    kept = [
        line
        for line in config.read_text(encoding="utf-8").splitlines(keepends=True)
        if "spacetime_bridge" not in line
    ]
    config.write_text("".join(kept), encoding="utf-8")
    assert "SpaceTimeBridge" not in config.read_text(encoding="utf-8")


def test_game_without_the_addon_runs_supervised_and_health_names_install_addon(
    serve: Serve,
) -> None:
    remove_addon_lines(serve.project)
    # A short start timeout: were the bridge awaited, the game would be killed within 4 s.
    serve.start("--start-timeout", "4", env=NO_BRIDGE)

    def running() -> dict[str, object] | None:
        game = serve.game()
        return game if game["state"] == "RUNNING" else None

    first = wait_until(running, 20, "the game to be RUNNING")["pid"]
    assert isinstance(first, int)
    serve.godot_pids.add(first)

    # Well past the start timeout: still the same process, never restarted.
    wait_until(lambda: (serve.game()["uptime_seconds"] or 0) > 8, 30, "8 s of uptime")
    game = serve.game()
    assert (game["state"], game["pid"], game["restarts"]) == ("RUNNING", first, 0)

    response = serve.get("/health")
    body = response.json()
    assert response.status_code == 503
    assert body["godot_process"] == {"running": True, "pid": first}
    assert body["godot_api"]["bridge_installed"] is False
    [issue] = body["blocking_issues"]
    assert f"spacetime-panel install-addon {serve.project}" in issue
    assert any("no SpaceTime bridge" in line for line in serve.log_lines())

    # What needs the bridge says so, instead of timing out.
    load = serve.post("/scene/load", json={"path": "res://scenes/test_room.tscn"})
    assert load.status_code == 409
    assert "install-addon" in load.json()["message"]

    # A crash is still recovered.
    os.kill(first, signal.SIGKILL)

    def replaced() -> dict[str, object] | None:
        game = serve.game()
        return game if game["state"] == "RUNNING" and game["pid"] not in (None, first) else None

    second = wait_until(replaced, 30, "a new running game")
    assert second["restarts"] == 1
    assert second["last_failure"] == "killed by SIGKILL"


def test_start_timeout_with_the_addon_says_what_was_awaited(serve: Serve) -> None:
    # The project declares the bridge, but the game never answers: a timeout that explains.
    serve.start("--start-timeout", "2", env=NO_BRIDGE)

    def failed() -> str | None:
        failure = serve.game()["last_failure"]
        return failure if isinstance(failure, str) else None

    failure = wait_until(failed, 30, "a start timeout")
    assert failure.startswith("not ready within 2 s")
    assert f"GET /status on 127.0.0.1:{serve.godot_port}" in failure
    assert "likely causes" in failure
