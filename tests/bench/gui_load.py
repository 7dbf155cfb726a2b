"""Benchmark: what the desktop panel costs while the game runs (offscreen by default).

The real panel (one qasync loop: Qt, supervisor, probes, telemetry, API) on the
simulated game and editor, telemetry at 144 Hz (fps + vr_tracking = 288 msg/s).
Two phases of `--seconds` each: window visible with the graphs drawing, then
window hidden to the tray. Figures: the panel process's CPU share of one core
(targets: visible < 8 %, hidden < 3 %), event-loop lag (how late a 10 ms timer
fires; target p99 < 16 ms), peak RSS (target < 250 MB), time from process start
to the window shown. The simulators are other processes and are not counted.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/gui_load.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SPACETIME_SIM_RATE_HZ", "144")

import psutil
import qasync
from keyring.backends import fail
from PySide6.QtCore import Qt, QTimer

from spacetime_panel.config.settings import Settings
from spacetime_panel.godot.commands import demo_project, simulator_executable
from spacetime_panel.secrets import SecretStore
from spacetime_panel.ui.app import DesktopPanel, application


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class LagProbe:
    """A 10 ms QTimer; records how late each timeout fires."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.timer.start(10)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lags_ms.append(max(0.0, (now - self._last) * 1000 - 10))
        self._last = now

    def take(self) -> list[float]:
        lags, self.lags_ms = self.lags_ms, []
        return lags


async def phase(name: str, seconds: float, probe: LagProbe, frames: object) -> None:
    probe.take()
    cpu, wall = time.process_time(), time.perf_counter()
    drawn_before = frames() if callable(frames) else 0
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    lags = probe.take()
    drawn = (frames() if callable(frames) else 0) - drawn_before
    print(
        f"{name:<8} CPU {cpu / wall:6.1%} of one core   "
        f"lag p50 {percentile(lags, 0.5):5.2f} ms  p99 {percentile(lags, 0.99):5.2f} ms  "
        f"max {max(lags):6.2f} ms   graph frames {drawn / wall:5.1f}/s"
    )


async def run(seconds: float, started: float, redraw_hz: float | None) -> None:
    tmp = Path(tempfile.mkdtemp())
    project = tmp / "project"
    shutil.copytree(demo_project(), project)
    settings = Settings.model_validate(
        {
            "godot": {
                "executable": simulator_executable(),
                "project_path": project,
                "auto_load_scene": True,
                "launch_editor": True,
            },
            "ports": {
                "http": free_port(),
                "http_fallbacks": [],
                "telemetry": free_port(),
                "lsp": free_port(),
                "dap": free_port(),
                "discovery": free_port(),
            },
            "api": {"port": free_port()},
            "telemetry": {"refresh_rate_hz": 144},
            "logging": {"directory": tmp / "logs"},
            "state_dir": tmp / "state",
        }
    )
    panel = DesktopPanel(
        settings, secrets=SecretStore(fail.Keyring()), config_path=tmp / "config.toml"
    )
    window = await panel.start()
    if redraw_hz is not None:
        window.performance.set_redraw_rate(redraw_hz)
        window.headset.set_redraw_rate(redraw_hz)
    window.show()
    shown = time.time() - started
    telemetry = window.controller.telemetry
    assert telemetry is not None
    while telemetry.summary().messages_per_s < 250 or not window.controller.health().healthy:
        await asyncio.sleep(0.2)
    rate = telemetry.summary().messages_per_s
    print(f"time from process start to window shown: {shown:.2f} s")
    print(f"graphs redraw at {window.performance.redraw_hz:g} Hz")
    print(f"telemetry {rate:.0f} msg/s (fps + vr_tracking at 144 Hz), {psutil.cpu_count()} cores")
    probe = LagProbe()
    await phase("visible", seconds, probe, lambda: window.performance.frames_drawn)
    # The same, graphs paused: what the drawing costs on its own is the difference.
    window.performance.set_active(False)
    await phase("no graph", seconds / 2, probe, lambda: window.performance.frames_drawn)
    window.performance.set_active(True)
    window.hide()
    await phase("hidden", seconds, probe, lambda: window.performance.frames_drawn)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss_mb:.0f} MB")
    print("targets: visible < 8 %, hidden < 3 %, lag p99 < 16 ms, RSS < 250 MB")
    await panel.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--redraw-hz", type=float, help="graph redraw rate (default: the panel's)")
    args = parser.parse_args()
    started = psutil.Process().create_time()
    app = application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(run(args.seconds, started, args.redraw_hz))


if __name__ == "__main__":
    main()
