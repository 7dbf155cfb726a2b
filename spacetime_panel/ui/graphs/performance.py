"""The performance graph: FPS and frame, process and physics times over the last seconds.

Two plots share the time axis (seconds before the newest sample): FPS on
top with the refresh rate as a target line, the times in milliseconds below
with the frame budget (``1000 / refresh rate``) as a horizontal line. Above
them, a :class:`~spacetime_panel.ui.graphs.stats_strip.StatsStrip` shows the
summary's figures, a few times a second.

Frame timing is spiky and a spike is what the developer is looking for, so
a long window is only ever cut by "peak" decimation (each pixel's lowest and
highest sample, :func:`~.graphs.peak_decimate`); while paused, zooming in
redraws the zoomed part from every sample. See :mod:`.graphs` for the
redraw policy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from spacetime_panel.core.views import TelemetryBuffers, TelemetrySummary
from spacetime_panel.ui.graphs.base import (
    DEFAULT_REDRAW_HZ,
    DEFAULT_WINDOW_S,
    MAX_SAMPLE_HZ,
    MAX_WINDOW_S,
    AxisRange,
    FloatArray,
    ScrollingGraph,
    legend,
    make_curve,
    make_plot,
    peak_decimate,
)
from spacetime_panel.ui.graphs.stats_strip import StatsStrip

BuffersProvider = Callable[[], TelemetryBuffers | None]
SummaryProvider = Callable[[], TelemetrySummary | None]

DEFAULT_REFRESH_HZ = 90.0
MAX_POINTS = int(MAX_WINDOW_S * MAX_SAMPLE_HZ)

FPS_COLOR = "#4fc3f7"
FRAME_COLOR = "#ffb74d"
PROCESS_COLOR = "#81c784"
PHYSICS_COLOR = "#ba68c8"
BUDGET_COLOR = "#ef5350"


class PerformanceGraph(ScrollingGraph):
    """FPS and frame timings of the game, with the frame budget and a stats strip.

    ``buffers_provider`` returns the telemetry ring buffers (None before a
    client exists); ``summary_provider`` the current summary. Both are called
    from the redraw timer only: the buffers up to 30 times a second, the
    summary 4 times (with the y-range check).

    The refresh rate (and so the budget line) follows the summary's
    ``refresh_hz`` until :meth:`set_refresh_rate` fixes it.
    """

    def __init__(
        self,
        buffers_provider: BuffersProvider,
        summary_provider: SummaryProvider,
        *,
        redraw_hz: float = DEFAULT_REDRAW_HZ,
        window_s: float = DEFAULT_WINDOW_S,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(redraw_hz=redraw_hz, window_s=window_s, parent=parent)
        self._buffers_provider = buffers_provider
        self._summary_provider = summary_provider
        self._fixed_refresh_hz: float | None = None
        self.refresh_hz = DEFAULT_REFRESH_HZ
        self.summary: TelemetrySummary | None = None
        # Own copies of the drawn window (x, fps, frame, process, physics): the ring's
        # views change under pyqtgraph with the next sample, and a paused graph keeps these.
        self._data: FloatArray = np.zeros((5, MAX_POINTS))
        self.points = 0  # samples in the drawn window
        self._first_number = 0  # the absolute number of the window's first sample
        self._drawn_key: tuple[int, int, float] | None = None

        self.stats_strip = StatsStrip()
        self.header.insertWidget(0, self.stats_strip)

        self.fps_plot = make_plot(self.plots, 0, 0)
        self.fps_plot.setLabel("left", "FPS")
        self.fps_plot.hideAxis("bottom")  # the plot below shows the time
        self.time_plot = make_plot(self.plots, 1, 0)
        self.time_plot.setLabel("left", "ms")
        self.time_plot.setLabel("bottom", "seconds before the newest frame")
        self.plots.ci.layout.setRowStretchFactor(0, 2)
        self.plots.ci.layout.setRowStretchFactor(1, 3)

        self.fps_curve = make_curve(self.fps_plot, FPS_COLOR, gaps=False)
        self.frame_curve = make_curve(self.time_plot, FRAME_COLOR, gaps=False)
        self.process_curve = make_curve(self.time_plot, PROCESS_COLOR, gaps=False)
        self.physics_curve = make_curve(self.time_plot, PHYSICS_COLOR, gaps=False)
        self.curves = (self.fps_curve, self.frame_curve, self.process_curve, self.physics_curve)
        line_pen = pg.mkPen(BUDGET_COLOR, width=1, style=Qt.PenStyle.DashLine)
        self.target_line = pg.InfiniteLine(self.refresh_hz, angle=0, pen=line_pen)
        self.fps_plot.addItem(self.target_line, ignoreBounds=True)
        self.budget_line = pg.InfiniteLine(self.budget_ms, angle=0, pen=line_pen)
        self.time_plot.addItem(self.budget_line, ignoreBounds=True)
        self.legends.addWidget(
            legend(
                [
                    (FPS_COLOR, "fps"),
                    (BUDGET_COLOR, "refresh rate / frame budget"),
                    (FRAME_COLOR, "frame"),
                    (PROCESS_COLOR, "process"),
                    (PHYSICS_COLOR, "physics"),
                ],
                dashed=("refresh rate / frame budget",),
            )
        )
        self.legends.addStretch(1)
        # Zooming while paused, or resizing, redraws the visible part at the new resolution.
        self.fps_plot.vb.sigXRangeChanged.connect(self._show_curves)
        self.fps_plot.vb.sigResized.connect(self._show_curves)

        self.fps_range = AxisRange(min_span=10.0, floor=0.0)
        self.ms_range = AxisRange(min_span=5.0, floor=0.0, padding=0.08)
        self._window_changed()

    @property
    def budget_ms(self) -> float:
        """The frame budget the line shows: ``1000 / refresh rate``."""
        return 1000.0 / self.refresh_hz

    def set_refresh_rate(self, hz: float | None) -> None:
        """The headset's refresh rate (72, 90, 120, 144...); None follows the summary's."""
        if hz is not None and hz <= 0.0:
            raise ValueError(f"refresh rate must be positive, not {hz}")
        self._fixed_refresh_hz = hz
        if hz is not None:
            self._show_refresh_rate(hz)
        elif self.summary is not None:
            self._show_refresh_rate(self.summary.refresh_hz)

    def _show_refresh_rate(self, hz: float) -> None:
        if hz != self.refresh_hz:
            self.refresh_hz = hz
            self.target_line.setValue(hz)
            self.budget_line.setValue(self.budget_ms)
            self._ranges_pending = True

    # -- drawing -------------------------------------------------------------------

    def _time_plots(self) -> list[pg.PlotItem]:
        return [self.fps_plot, self.time_plot]

    def _window_changed(self) -> None:
        super()._window_changed()
        self._drawn_key = None
        self.fps_range.reset()
        self.ms_range.reset()

    def _refresh(self, ranges_due: bool) -> bool:
        if ranges_due:  # a few times a second, like the summary's own cadence
            self._refresh_summary()
        drawn = self._draw()
        if ranges_due:
            self._follow_ranges()
        return drawn

    def _refresh_summary(self) -> None:
        summary = self._summary_provider()
        self.summary = summary
        self.stats_strip.show_summary(summary)
        if summary is not None and self._fixed_refresh_hz is None:
            self._show_refresh_rate(summary.refresh_hz)

    def _draw(self) -> bool:
        buffers = self._buffers_provider()
        if buffers is None or len(buffers.fps) == 0:
            if self.points:
                self.points = 0
                self._drawn_key = None
                for curve in self.curves:
                    curve.setData([], [])
                return True
            return False
        key = (id(buffers), buffers.fps.total, self.window_s)
        if key == self._drawn_key:
            return False  # nothing new since the last redraw (the game is paused or gone)
        self._drawn_key = key
        series = buffers.fps_series(min(MAX_POINTS, int(self.window_s * MAX_SAMPLE_HZ)))
        times = series.timestamp
        newest = times[-1]
        start = int(np.searchsorted(times, newest - self.window_s, side="right"))
        n = len(times) - start
        data = self._data
        np.subtract(times[start:], newest, out=data[0, :n])
        data[1, :n] = series.fps[start:]
        data[2, :n] = series.frame_time_ms[start:]
        data[3, :n] = series.process_time_ms[start:]
        data[4, :n] = series.physics_time_ms[start:]
        self.points = n
        self._first_number = buffers.fps.total - n
        self._show_curves()
        return True

    def _show_curves(self) -> None:
        """Give the curves the samples inside the x range, decimated to its pixels."""
        n = self.points
        data = self._data[:, :n]
        if self.paused:  # zoomed or panned, perhaps: the visible part only, in more detail
            low, high = self.fps_plot.viewRange()[0]
            start, stop = np.searchsorted(data[0], (low, high))
            start, stop = max(0, int(start) - 1), min(n, int(stop) + 1)
        else:
            start, stop = 0, n
        x, rows = peak_decimate(
            data[0, start:stop],
            data[1:, start:stop],
            self._first_number + start,
            int(self.fps_plot.vb.width()),
        )
        for row, curve in zip(rows, self.curves, strict=True):
            curve.setData(x, row)

    def _follow_ranges(self) -> None:
        n = self.points
        if n == 0:
            return
        data = self._data
        fps = data[1, :n]
        fps_range = self.fps_range.follow(
            float(fps.min()), max(float(fps.max()), self.refresh_hz * 1.05)
        )
        if fps_range is not None:
            self.fps_plot.setYRange(*fps_range, padding=0.0)
        ms_high = max(float(data[2:5, :n].max()), self.budget_ms * 1.25)
        ms_range = self.ms_range.follow(0.0, ms_high)
        if ms_range is not None:
            self.time_plot.setYRange(*ms_range, padding=0.0)
