"""Faults the simulator shows on request: crash, hang, slow start, no player,
a stubborn grandchild, and a supervisor that went away (broken stdout)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import TIME_SCALE, wait_until
from tests.integration.sim_process import (
    WAIT,
    running_sim,
)


def test_crash_after_exits_abruptly_with_the_chosen_code(project: Path) -> None:
    env = {"SPACETIME_SIM_CRASH_AFTER": "0.5", "SPACETIME_SIM_EXIT_CODE": "42"}
    with running_sim(project, env=env) as sim:
        sim.wait_ready()
        assert sim.wait_exit() == 42
        assert "crash" in sim.stderr()
        # An abrupt exit leaves the port file behind, as a real crash would.
        assert (project / ".godot" / "spacetime_bridge.json").exists()


def test_hang_after_keeps_the_process_but_stops_answering(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_SIM_HANG_AFTER": "0.6"}) as sim:
        sim.wait_ready()
        wait_until(lambda: "hanging" in sim.stderr(), what="the hang to begin")
        with pytest.raises(httpx.TimeoutException):
            httpx.get(sim.url("/status"), timeout=1.0)
        assert sim.proc.poll() is None
        start = time.monotonic()
        sim.terminate()
        sim.wait_exit(timeout=5)
        assert time.monotonic() - start < 1.0 * TIME_SCALE


def test_start_delay_serves_nothing_until_it_passes(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_SIM_START_DELAY": "1.0"}) as sim:
        wait_until(lambda: "Godot Engine" in sim.stdout(), what="the banner")
        start = time.monotonic()
        sim.wait_ready()
        assert time.monotonic() - start > 0.5


def test_sigterm_during_start_delay_exits_0(project: Path) -> None:
    with running_sim(project, env={"SPACETIME_SIM_START_DELAY": "30"}) as sim:
        wait_until(lambda: "Godot Engine" in sim.stdout(), what="the banner")
        sim.terminate()
        assert sim.wait_exit(timeout=5) == 0


def test_no_player_loads_the_scene_but_never_spawns(project: Path) -> None:
    env = {"SPACETIME_SIM_NO_PLAYER": "1", "SPACETIME_SIM_SPAWN_DELAY": "0.05"}
    with running_sim(project, env=env) as sim:
        sim.wait_ready()
        wait_until(lambda: sim.get("/scene").json()["loaded"], what="the scene to load")
        # The sim says when the spawn would have happened; after that, still no player.
        wait_until(lambda: "player spawn withheld" in sim.stdout(), what="the withheld spawn")
        assert sim.get("/player").json()["spawned"] is False


def test_spawn_child_leaves_a_grandchild_that_ignores_sigterm(project: Path) -> None:
    child_pid = None
    try:
        with running_sim(project, env={"SPACETIME_SIM_SPAWN_CHILD": "1"}) as sim:
            status = sim.wait_ready()
            child_pid = status["bridge"]["child_pid"]
            assert f"sim: spawned child pid {child_pid}" in sim.stdout()
            child = psutil.Process(child_pid)
            assert child.ppid() == sim.pid
            os.kill(child_pid, signal.SIGTERM)
            sim.terminate()
            assert sim.wait_exit() == 0
            # The sim is gone; the grandchild shrugged off SIGTERM and lives on.
            assert child.is_running()
            assert child.status() != psutil.STATUS_ZOMBIE
    finally:
        if child_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child_pid, signal.SIGKILL)


def test_broken_stdout_pipe_does_not_kill_the_sim(project: Path) -> None:
    with running_sim(project, stdout=subprocess.PIPE) as sim:
        sim.wait_ready()
        assert sim.proc.stdout is not None
        sim.proc.stdout.close()  # the supervisor went away
        for path in ("res://scenes/menu.tscn", "res://scenes/test_room.tscn"):
            assert sim.post("/scene/load", json={"path": path}).status_code == 202
            wait_until(
                lambda p=path: (
                    sim.get("/scene").json()
                    == {  # type: ignore[misc]
                        "loaded": True,
                        "loading": False,
                        "name": Path(p).stem,
                        "path": p,
                    }
                ),
                what=f"{path} to load",
            )
        assert sim.proc.poll() is None
        sim.terminate()
        assert sim.wait_exit(timeout=WAIT) == 0
        assert "Traceback" not in sim.stderr()
