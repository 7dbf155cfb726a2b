"""Benchmark: one panel following 1, 4 and 16 simulated games: how its CPU and memory grow.

``spacetime-panel serve`` supervises one simulated game and reads its telemetry
at 144 Hz (fps + vr_tracking, 288 msg/s); ``N - 1`` more simulated games, each
on its own ports and its own copy of the demo project, are started beside it
and announce themselves on the panel's discovery port (a UDP beacon a second
each), so the panel discovers, ranks and lists all ``N`` (``GET /services``
``instances``). The panel follows one game's telemetry at a time (the one picked
in the instance picker); the others are discovered and listed. For ``N`` in 1,
4, 16: once all ``N`` are listed, the panel process's CPU share of one core
over ``--seconds`` and its RSS (the games are other processes and not
counted). Target: 16 games under 20 % of a core. Usage::

    .venv/bin/python tests/bench/scale.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from harness import Figure, free_port, free_udp_port

from spacetime_panel.config.settings import Settings
from spacetime_panel.godot.commands import game_command, godot_environment, simulator_executable
from spacetime_panel.service.panel_service import prepare_demo_project

RATE_HZ = 144
COUNTS = (1, 4, 16)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def game_settings(project: Path, discovery: int) -> Settings:
    return Settings.model_validate(
        {
            "godot": {"executable": simulator_executable(), "project_path": project},
            "ports": {
                "http": free_port(),
                "http_fallbacks": [],
                "telemetry": free_port(),
                "discovery": discovery,
                "lsp": free_port(),
                "dap": free_port(),
            },
        }
    )


def listed(client: httpx.Client) -> int:
    try:
        return len(client.get("/services").json().get("instances", []))
    except (httpx.HTTPError, ValueError):
        return 0


def one_count(folder: Path, games: int, seconds: float) -> tuple[float, float, int]:
    """(panel CPU share of a core, panel RSS in MB, games listed) with `games` running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME")}
    env.update(
        SPACETIME_SIM_RATE_HZ=str(RATE_HZ),
        XDG_DATA_HOME=str(folder / "data"),
        XDG_CONFIG_HOME=str(folder / "config"),
    )
    discovery = free_udp_port()
    own = game_settings(prepare_demo_project(folder / "game0"), discovery)
    ports = own.ports
    api = free_port()
    command = [
        sys.executable, "-m", "spacetime_panel", "serve",
        "--godot-path", own.godot.executable,
        "--project-path", str(own.godot.project_path),
        "--port", str(api),
        "--godot-port", str(ports.http), "--http-fallback-ports", "",
        "--telemetry-port", str(ports.telemetry), "--discovery-port", str(discovery),
        "--lsp-port", str(ports.lsp), "--dap-port", str(ports.dap),
        "--log-dir", str(folder / "logs"), "--state-dir", str(folder / "state"),
        "--log-level", "WARNING",
    ]  # fmt: skip
    panel_env = dict(env, SPACETIME__TELEMETRY__REFRESH_RATE_HZ=str(RATE_HZ))
    others: list[subprocess.Popen[bytes]] = []
    with (folder / "serve.out").open("wb") as out:
        panel = subprocess.Popen(command, env=panel_env, stdout=out, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{api}", timeout=5, trust_env=False)
    try:
        for number in range(1, games):
            config = game_settings(prepare_demo_project(folder / f"game{number}"), discovery)
            others.append(
                subprocess.Popen(
                    game_command(config),
                    env=godot_environment(config, env, None),
                    cwd=config.godot.project_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 90
        while listed(client) < games:
            if panel.poll() is not None:
                raise SystemExit(f"serve exited with {panel.returncode}: see {folder}/serve.out")
            if time.monotonic() > deadline:
                raise SystemExit(f"scale: the panel lists {listed(client)} of {games} games")
            time.sleep(0.2)
        time.sleep(2.0)  # settle: the games' starts are over
        process = psutil.Process(panel.pid)
        cpu0, wall0 = sum(process.cpu_times()[:2]), time.monotonic()
        time.sleep(seconds)  # the measurement window
        cpu = sum(process.cpu_times()[:2]) - cpu0
        share = cpu / (time.monotonic() - wall0)
        rss = process.memory_info().rss / 2**20
        return share, rss, listed(client)
    finally:
        client.close()
        for other in others:
            stop(other)
        stop(panel)


def run(seconds: float) -> dict[int, tuple[float, float, int]]:
    results = {}
    for games in COUNTS:
        with tempfile.TemporaryDirectory(prefix="spacetime-scale-") as tmp:
            results[games] = one_count(Path(tmp), games, seconds)
        share, rss, seen = results[games]
        print(
            f"{games:3d} games ({seen} listed): panel CPU {share:6.1%} of a core, RSS {rss:5.0f} MB"
        )
    first, last = results[COUNTS[0]], results[COUNTS[-1]]
    extra = COUNTS[-1] - COUNTS[0]
    print(
        f"per extra game: CPU {(last[0] - first[0]) / extra * 100:+.2f} points of a core,"
        f" RSS {(last[1] - first[1]) / extra:+.2f} MB"
    )
    return results


def measure(quick: bool) -> list[Figure]:
    results = run(3.0 if quick else 20.0)
    one = results[1]
    figures = []
    for games in COUNTS[1:]:
        share, rss, _ = results[games]
        figures.append(
            Figure(
                f"scale.cpu.{games}",
                f"panel CPU share of a core following {games} games",
                share * 100,
                "%",
                one[0] * 100,
                "1 game",
                target_value=20.0 if games == 16 else None,
            )
        )
        figures.append(
            Figure(
                f"scale.rss.{games}", f"panel RSS with {games} games", rss, "MB", one[1], "1 game"
            )
        )
    extra = COUNTS[-1] - COUNTS[0]
    figures.append(
        Figure(
            "scale.cpu_per_game",
            "panel CPU per extra game (1 -> 16)",
            (results[16][0] - one[0]) / extra * 100,
            "% of a core",
        )
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    run(parser.parse_args().seconds)


if __name__ == "__main__":
    main()
