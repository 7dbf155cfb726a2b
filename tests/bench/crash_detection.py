"""Benchmark: how fast the supervisor sees a killed game, and how fast it is back.

Runs the real Controller on the simulated Godot (a real child process) and
kills the game with SIGKILL `--kills` times. Prints, over all kills:

- detection: SIGKILL -> the supervisor has left RUNNING (exit seen via pidfd);
- the game's own exit: SIGKILL -> the kernel has it gone (a pidfd of the
  benchmark's own), and the supervisor's part: gone -> left RUNNING;
- respawn overhead: game gone -> STARTING again (the spawn is next), minus
  the policy's backoff;
- recovery: SIGKILL -> RUNNING again, minus the backoff and minus the
  simulator's own start time (spawn -> its bridge answers) of that restart.

The failure window is shrunk so that every kill is a first failure (the
first backoff, 0.1 s) and the run never goes FATAL. The same figures beside
supervisord's are in ``versus_supervisord.py``. Usage:

    .venv/bin/python tests/bench/crash_detection.py [--kills 50] [--backoff 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import Figure, free_port, percentile

from spacetime_panel.config.settings import Settings
from spacetime_panel.core.controller import Controller
from spacetime_panel.godot.commands import demo_project, simulator_executable
from spacetime_panel.service.heap import freeze_heap
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.policy import RestartPolicy
from spacetime_panel.supervisor.program import ProgramStatus


def line(name: str, values_ms: list[float]) -> str:
    return (
        f"{name:<46} p50 {percentile(values_ms, 0.50):8.2f} ms   "
        f"p99 {percentile(values_ms, 0.99):8.2f} ms   max {max(values_ms):8.2f} ms"
    )


FIRST_BACKOFF = RestartPolicy().first_backoff


async def run(kills: int, backoff: float) -> dict[str, list[float]]:
    project = Path(tempfile.mkdtemp()) / "project"
    shutil.copytree(demo_project(), project)
    settings = Settings.model_validate(
        {
            "godot": {"executable": simulator_executable(), "project_path": project},
            "ports": {
                "http": free_port(),
                "telemetry": free_port(),
                "discovery": free_port(),
                "http_fallbacks": [],
            },
            "supervisor": {
                "first_backoff": backoff,
                "backoff_initial": backoff,
                "failure_window": 0.001,
                "check_interval": 30,
                "stop_timeout": 2,
            },
        }
    )
    left_running: list[float] = []
    spawned: list[float] = []
    running: list[float] = []
    async with httpx.AsyncClient(trust_env=False) as http:
        controller = Controller(settings, http=http)
        game = controller.programs["game"]

        def on_change(status: ProgramStatus) -> None:
            # The restart: BACKOFF -> STARTING, just before the new process is spawned (the
            # spawn itself, fork and exec, is in versus_supervisord's figures: it watches
            # for the new pid). Not the process's create time: psutil derives it from the
            # boot time, which drifts from time.time() by what the clock was adjusted.
            now = time.time()
            if status.state is ProgramState.STARTING:
                spawned.append(now)
            elif status.state is ProgramState.BACKOFF:
                left_running.append(now)
            elif status.state is ProgramState.RUNNING:
                running.append(now)

        game.subscribe(on_change)
        controller.start_up()
        await game.wait_for(lambda: game.state is ProgramState.RUNNING, 30)
        freeze_heap("benchmark started")  # as serve does once it has started

        kill_times: list[float] = []
        gone_times: list[float] = []
        loop = asyncio.get_running_loop()
        for number in range(kills):
            pid = game.status().pid
            assert pid is not None
            before = len(running)
            # A pidfd of our own: readable once the kernel has finished the game's exit.
            pidfd = os.pidfd_open(pid)
            gone = loop.create_future()
            loop.add_reader(pidfd, lambda f=gone: f.done() or f.set_result(time.time()))
            kill_times.append(time.time())
            os.kill(pid, signal.SIGKILL)
            gone_times.append(await asyncio.wait_for(gone, 10))
            loop.remove_reader(pidfd)
            os.close(pidfd)
            await game.wait_for(lambda b=before: len(running) > b, 30)
            print(f"\rkill {number + 1}/{kills}", end="", flush=True, file=sys.stderr)
        print(file=sys.stderr)
        await controller.close()

    # Spawn and RUNNING times after the first start line up with the kills.
    spawns_after = spawned[1:]
    runnings_after = running[1:]
    detection = [(d - k) * 1000 for k, d in zip(kill_times, left_running, strict=True)]
    own_exit = [(g - k) * 1000 for k, g in zip(kill_times, gone_times, strict=True)]
    after_gone = [(d - g) * 1000 for g, d in zip(gone_times, left_running, strict=True)]
    respawn = [(s - g - backoff) * 1000 for g, s in zip(gone_times, spawns_after, strict=True)]
    sim_start = [(r - s) * 1000 for s, r in zip(spawns_after, runnings_after, strict=True)]
    back = [(r - k - backoff) * 1000 for k, r in zip(kill_times, runnings_after, strict=True)]
    print(f"{kills} SIGKILLs of the simulated game, backoff {backoff:g} s, {os.cpu_count()} cores")
    print(line("detection (SIGKILL -> left RUNNING)", detection))
    print(line("  of which the game's own exit (pidfd)", own_exit))
    print(line("  of which the supervisor (gone -> left RUNNING)", after_gone))
    print(line("SIGKILL -> RUNNING again, minus backoff", back))
    print(line("  of which the simulator's start", sim_start))
    print(line("  of which gone -> STARTING again (- backoff)", respawn))
    print("target: detection p99 < 50 ms (supervisord polls up to 1 s; the guide's server 30 s)")
    shutil.rmtree(project.parent, ignore_errors=True)
    return {
        "detection": detection,
        "after_gone": after_gone,
        "back": back,
        "respawn": respawn,
        "sim_start": sim_start,
    }


def measure(quick: bool) -> list[Figure]:
    """For `python -m tests.bench`: in-process timings (state-change callbacks, no log)."""
    results = asyncio.run(run(10 if quick else 50, FIRST_BACKOFF))
    detection, respawn = results["detection"], results["respawn"]
    return [
        Figure(
            "crash_inprocess.detection.p99",
            "SIGKILL -> left RUNNING p99 (in process)",
            percentile(detection, 0.99),
            "ms",
            target_value=50.0,
        ),
        Figure(
            "crash_inprocess.after_gone.p99",
            "game gone (kernel) -> left RUNNING p99 (in process)",
            percentile(results["after_gone"], 0.99),
            "ms",
            target_value=3.0,
        ),
        Figure(
            "crash_inprocess.own_share.p99",
            "game gone -> STARTING again - backoff p99 (in process)",
            percentile(respawn, 0.99),
            "ms",
            target_value=5.0,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--backoff", type=float, default=FIRST_BACKOFF)
    args = parser.parse_args()
    asyncio.run(run(args.kills, args.backoff))


if __name__ == "__main__":
    main()
