"""Start-up on a virtual X display: `serve --demo --xvfb`, or the desktop panel on Xvfb.

Default (`--serve`): runs `spacetime-panel serve --demo --xvfb` without DISPLAY
(free ports, a temporary folder) `--runs` times and prints, per run, Xvfb's
own start (the panel's "ready after" line), launch to /health healthy with
every service up, and SIGTERM to exit; then checks that no Xvfb was left.
Needs Debian's xvfb (Xvfb, xauth).

`--gui`: the desktop panel on a virtual display started through
`spacetime_panel.supervisor.virtual_display` (Xvfb picks its display, a fresh
cookie): the time from launch to the window existing (xdotool), to /health
healthy with every service up, and a screenshot after `--settle` seconds
(ImageMagick's `import`). Also needs xdotool, imagemagick and Qt's xcb
libraries (libxcb-cursor0 ...): see .ci/run.

    .venv/bin/python tests/bench/xvfb_startup.py [--runs 5]
    .venv/bin/python tests/bench/xvfb_startup.py --gui [--screenshot docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from harness import Figure, free_port, percentile

from spacetime_panel.supervisor.virtual_display import VirtualDisplay

READY = re.compile(r"virtual display (:\d+) \(Xvfb, pid (\d+)\) ready after ([\d.]+) s")


def port_flags(tmp: Path) -> tuple[int, list[str]]:
    port = free_port()
    flags = ["--port", str(port), "--godot-port", str(free_port()),
             "--telemetry-port", str(free_port()), "--lsp-port", str(free_port()),
             "--dap-port", str(free_port()), "--discovery-port", str(free_port()),
             "--log-dir", str(tmp / "logs"), "--state-dir", str(tmp / "state")]  # fmt: skip
    return port, flags


def all_up(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
        services = body.get("services", [])
        return bool(
            body["overall_healthy"] and services and all(s["state"] == "up" for s in services)
        )
    return False


def serve_once(tmp: Path) -> tuple[float, float, float]:
    """One `serve --demo --xvfb`: (Xvfb ready, healthy, SIGTERM to exit) in seconds."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}
    env = {k: v for k, v in env.items() if not k.startswith("SPACETIME_")}
    env["XDG_DATA_HOME"] = str(tmp / "data")
    port, flags = port_flags(tmp)
    started = time.monotonic()
    panel = subprocess.Popen(
        [sys.executable, "-m", "spacetime_panel", "serve", "--demo", "--xvfb", *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    healthy = None
    try:
        while time.monotonic() - started < 60 and healthy is None:
            if panel.poll() is not None:
                sys.exit(f"serve exited with {panel.returncode}; see {tmp / 'logs'}")
            if all_up(port):
                healthy = time.monotonic() - started
            time.sleep(0.05)
        if healthy is None:
            sys.exit(f"not healthy in 60 s; see {tmp / 'logs'}")
        found = READY.search((tmp / "logs" / "spacetime-panel.log").read_text())
        if found is None:
            sys.exit("no 'virtual display ... ready' line in the panel's log")
        xvfb_pid = int(found.group(2))
        stopping = time.monotonic()
        panel.send_signal(signal.SIGTERM)
        panel.wait(60)
        stopped = time.monotonic() - stopping
        if psutil.pid_exists(xvfb_pid) and psutil.Process(xvfb_pid).name() == "Xvfb":
            sys.exit(f"Xvfb (pid {xvfb_pid}) outlived the panel")
        return float(found.group(3)), healthy, stopped
    finally:
        if panel.poll() is None:
            panel.kill()
            panel.wait(30)


def bench_serve(runs: int) -> list[tuple[float, float, float]]:
    rows = []
    for run in range(runs):
        tmp = Path(tempfile.mkdtemp())
        try:
            rows.append(serve_once(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        xvfb, healthy, stop = rows[-1]
        print(f"run {run + 1}: Xvfb ready {xvfb:.2f} s, healthy {healthy:.2f} s, stop {stop:.2f} s")
    for index, what in enumerate(("Xvfb ready", "launch to healthy", "SIGTERM to exit")):
        values = [row[index] for row in rows]
        print(f"{what:18} median {percentile(values, 0.5):.2f} s, max {max(values):.2f} s")
    print("no Xvfb outlived a panel")
    return rows


def measure(quick: bool) -> list[Figure]:
    """For `python -m tests.bench`: `serve --demo --xvfb` start and stop (no baseline)."""
    for tool in ("Xvfb", "xauth"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install xvfb xauth)")
    rows = bench_serve(1 if quick else 5)
    names = (
        ("xvfb.ready", "Xvfb ready (serve --demo --xvfb), median"),
        ("xvfb.healthy", "serve --demo --xvfb launch -> healthy, median"),
        ("xvfb.stop", "serve --demo --xvfb SIGTERM -> exit, median"),
    )
    return [
        Figure(key, name, percentile([row[index] for row in rows], 0.5), "s")
        for index, (key, name) in enumerate(names)
    ]


async def bench_gui(screenshot: Path, settle: float) -> None:
    for tool in ("xdotool", "import"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install xdotool imagemagick)")
    display = VirtualDisplay(screen="1600x1000x24")
    screen = await display.start()
    tmp = Path(tempfile.mkdtemp())
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(screen, XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "c"))
    port, flags = port_flags(tmp)
    started = time.monotonic()
    panel = subprocess.Popen(
        [sys.executable, "-m", "spacetime_panel", "--demo", *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        window_at = healthy_at = None
        while time.monotonic() - started < 30 and healthy_at is None:
            if window_at is None:
                found = await asyncio.to_thread(
                    subprocess.run,
                    ["xdotool", "search", "--name", "SpaceTime Panel"],
                    env=env, capture_output=True, text=True,
                )  # fmt: skip
                if found.stdout.strip():
                    window_at = time.monotonic() - started
            if await asyncio.to_thread(all_up, port):
                healthy_at = time.monotonic() - started
            await asyncio.sleep(0.1)
        print(f"window shown after      {window_at:.2f} s" if window_at else "no window in 30 s")
        print(f"healthy, all services up {healthy_at:.2f} s" if healthy_at else "not healthy")
        await asyncio.sleep(max(0.0, settle - (time.monotonic() - started)))
        await asyncio.to_thread(
            subprocess.run,
            ["import", "-window", "root", "-crop", "1400x884+0+0", str(screenshot)],
            env=env, check=True,
        )  # fmt: skip
        print(f"screenshot {screenshot} at {time.monotonic() - started:.1f} s")
    finally:
        panel.terminate()
        await asyncio.to_thread(panel.wait, 30)
        await display.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--serve", action="store_true", help="serve --demo --xvfb (the default)")
    mode.add_argument("--gui", action="store_true", help="the desktop panel on a virtual display")
    parser.add_argument("--runs", type=int, default=5, help="serve runs (5)")
    parser.add_argument("--screenshot", type=Path, default=Path("xvfb-panel.png"))
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before the shot")
    args = parser.parse_args()
    for tool in ("Xvfb", "xauth"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install xvfb xauth)")
    if args.gui:
        asyncio.run(bench_gui(args.screenshot, args.settle))
    else:
        bench_serve(args.runs)


if __name__ == "__main__":
    main()
