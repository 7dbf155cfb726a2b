"""Start-up of the real desktop panel on a virtual X screen: window, health, screenshot.

Starts Xvfb on a free display, runs `spacetime-panel --demo` there (free ports),
and prints the time from launch to the window existing (xdotool), to /health
healthy with every service green, and takes a screenshot of the screen after
`--settle` seconds (ImageMagick's `import`). Needs Debian's xvfb, xdotool,
imagemagick and Qt's xcb libraries (libxcb-cursor0 ...): see .ci/run.

    .venv/bin/python tests/bench/xvfb_startup.py [--screenshot docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import free_port


def free_display() -> int:
    return next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, default=Path("xvfb-panel.png"))
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before the shot")
    args = parser.parse_args()
    for tool in ("Xvfb", "xdotool", "import"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install xvfb xdotool imagemagick)")
    display = f":{free_display()}"
    tmp = Path(tempfile.mkdtemp())
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24"])
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=display, XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "c"))
    port = free_port()
    ports = ["--port", str(port), "--godot-port", str(free_port()),
             "--telemetry-port", str(free_port()), "--lsp-port", str(free_port()),
             "--dap-port", str(free_port()), "--discovery-port", str(free_port()),
             "--log-dir", str(tmp / "logs"), "--state-dir", str(tmp / "state")]  # fmt: skip
    time.sleep(0.5)  # Xvfb creating its socket; not a measurement
    started = time.monotonic()
    panel = subprocess.Popen(
        [sys.executable, "-m", "spacetime_panel", "--demo", *ports],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        window_at = healthy_at = None
        while time.monotonic() - started < 30 and healthy_at is None:
            if window_at is None:
                found = subprocess.run(
                    ["xdotool", "search", "--name", "SpaceTime Panel"],
                    env=env, capture_output=True, text=True,
                )  # fmt: skip
                if found.stdout.strip():
                    window_at = time.monotonic() - started
            with contextlib.suppress(httpx.HTTPError):
                body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                services = body.get("services", [])
                if (
                    body["overall_healthy"]
                    and services
                    and all(s["state"] == "up" for s in services)
                ):
                    healthy_at = time.monotonic() - started
            time.sleep(0.1)
        print(f"window shown after      {window_at:.2f} s" if window_at else "no window in 30 s")
        print(f"healthy, all services up {healthy_at:.2f} s" if healthy_at else "not healthy")
        time.sleep(max(0.0, args.settle - (time.monotonic() - started)))
        subprocess.run(
            ["import", "-window", "root", "-crop", "1400x884+0+0", str(args.screenshot)],
            env=env, check=True,
        )  # fmt: skip
        print(f"screenshot {args.screenshot} at {time.monotonic() - started:.1f} s")
    finally:
        panel.terminate()
        panel.wait(30)
        xvfb.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
