"""Benchmark: what the telemetry graphs cost the panel's CPU while the game streams at 144 Hz.

Offscreen (``QT_QPA_PLATFORM=offscreen``; widgets still paint, into a raster
image), the ring buffers are pre-filled with a minute and then fed at 144 Hz
from a QTimer (fps and tracking samples, as the telemetry client would
append them; one controller absent half of the time). For ``--seconds``
each, this prints the CPU share of one core (``time.process_time`` over
wall time) of:

1. the feeder alone (the floor of every run below);
2. a bare pyqtgraph window redrawing 4 curves of the newest 1,440 points at
   30 Hz with fixed ranges (the reference: about 5 % of a core);
3. one :class:`PerformanceGraph` and one :class:`HeadsetGraph`, 60 s windows
   (8,640 samples per series), redrawing at 30 Hz.

and the graphs' cost against the bare window (minus the feeder in both).

Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/graphs_redraw.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pyqtgraph as pg
from harness import Figure
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget

from spacetime_panel.telemetry import TelemetryBuffers, TelemetryStats
from spacetime_panel.telemetry.codec import FpsSample, Pose, TrackingSample
from spacetime_panel.ui.graphs.headset import HeadsetGraph
from spacetime_panel.ui.graphs.performance import PerformanceGraph

RATE_HZ = 144.0
WINDOW_S = 60.0


class Feeder:
    """Appends samples at ``RATE_HZ`` of wall time, from a coarse QTimer (catching up per tick)."""

    def __init__(self, buffers: TelemetryBuffers, stats: TelemetryStats) -> None:
        self.buffers = buffers
        self.stats = stats
        self.sent = 0
        self.start = time.monotonic() - WINDOW_S
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(7)
        self.timer.timeout.connect(self.feed)
        self.feed()  # a full window before the graphs start

    def feed(self) -> None:
        now = time.monotonic()
        due = int((now - self.start) * RATE_HZ)
        while self.sent < due:
            self._append(self.start + self.sent / RATE_HZ)
            self.sent += 1
        self.stats.on_fps(now)

    def _append(self, t: float) -> None:
        slow = self.sent % 400 == 0
        frame = 14.0 if slow else 1000.0 / RATE_HZ
        self.buffers.append_fps(FpsSample(t, 1000.0 / frame, frame, 4.2, 1.1))
        yaw = 0.6 * math.sin(0.4 * t)
        head = Pose(
            (0.25 * math.sin(0.5 * t), 1.7, 0.2 * math.sin(0.37 * t)),
            (0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2)),
        )
        hand = Pose((0.2 + 0.05 * math.sin(1.1 * t), 1.2, -0.3), (0.0, 0.0, 0.0, 1.0))
        left = hand if int(t) % 20 < 10 else None
        self.buffers.append_tracking(TrackingSample(t, head, left, hand))


def cpu_share(app: QApplication, seconds: float) -> float:
    """This process's CPU time over wall time while the event loop runs for ``seconds``."""
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    wall, cpu = time.perf_counter(), time.process_time()
    loop.exec()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def bare_window(buffers: TelemetryBuffers) -> tuple[QWidget, Callable[[], None]]:
    """The reference: 4 curves of the newest 1,440 points at 30 Hz, fixed ranges."""
    plot = pg.PlotWidget()
    plot.enableAutoRange(False)
    plot.setXRange(-10.0, 0.0, padding=0.0)
    plot.setYRange(0.0, 160.0, padding=0.0)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    curves = [plot.plot(pen=pg.mkPen(color, width=1)) for color in "ygbm"]

    def redraw() -> None:
        series = buffers.fps_series(1440)
        x = series.timestamp - series.timestamp[-1]
        rows = (series.fps, series.frame_time_ms, series.process_time_ms, series.physics_time_ms)
        for curve, row in zip(curves, rows, strict=True):
            curve.setData(x, row.copy())

    return plot, redraw


def run(seconds: float) -> dict[str, float]:
    """Print the three runs; return their CPU shares (0..1 of one core)."""
    app = QApplication.instance() or QApplication(sys.argv)
    buffers = TelemetryBuffers()
    stats = TelemetryStats(refresh_hz=RATE_HZ)
    feeder = Feeder(buffers, stats)
    feeder.timer.start()

    floor = cpu_share(app, seconds)
    print(f"feeder alone (144 Hz fps + tracking):       {floor * 100:5.1f} % of one core")

    bare, redraw = bare_window(buffers)
    bare.resize(1200, 500)
    bare.show()
    bare_timer = QTimer()
    bare_timer.setInterval(33)
    bare_timer.timeout.connect(redraw)
    bare_timer.start()
    reference = cpu_share(app, seconds)
    bare_timer.stop()
    bare.hide()
    print(f"bare pyqtgraph, 4 x 1,440 points at 30 Hz:  {reference * 100:5.1f} % of one core")

    window = QWidget()
    row = QHBoxLayout(window)
    performance = PerformanceGraph(
        lambda: buffers, lambda: stats.summary(buffers, time.monotonic()), window_s=WINDOW_S
    )
    performance.set_refresh_rate(RATE_HZ)
    headset = HeadsetGraph(lambda: buffers, window_s=WINDOW_S)
    row.addWidget(performance, 3)
    row.addWidget(headset, 2)
    window.resize(1600, 500)
    window.show()
    graphs = cpu_share(app, seconds)
    drawn = performance.frames_drawn, headset.frames_drawn
    print(
        f"PerformanceGraph + HeadsetGraph, 60 s:      {graphs * 100:5.1f} % of one core"
        f"  ({drawn[0] / seconds:.1f} + {drawn[1] / seconds:.1f} redraws/s,"
        f" {performance.points:,} + {headset.points:,} points per curve)"
    )
    if reference > floor:
        ratio = (graphs - floor) / (reference - floor)
        print(f"graphs / bare window (feeder subtracted):  {ratio:5.2f}x")
    window.hide()
    return {"floor": floor, "bare": reference, "graphs": graphs}


def measure(quick: bool) -> list[Figure]:
    """For `python -m tests.bench`: the panel's graphs beside a bare pyqtgraph window."""
    shares = run(5.0 if quick else 20.0)
    return [
        Figure(
            "graphs.bare_window",
            "bare pyqtgraph window, 4 x 1,440 points at 30 Hz (reference)",
            shares["bare"] * 100,
            "%",
        ),
        Figure(
            "graphs.redraw",
            "PerformanceGraph + HeadsetGraph at 30 Hz, 60 s windows",
            shares["graphs"] * 100,
            "%",
            shares["bare"] * 100,
            "bare pyqtgraph window",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    run(parser.parse_args().seconds)


if __name__ == "__main__":
    main()
