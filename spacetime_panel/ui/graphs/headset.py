"""The headset graph: where the headset is and where it looks, and a top-down trail.

Three plots: the headset's position x/y/z (metres) and its yaw/pitch/roll
(degrees, Godot's YXZ Euler angles computed with numpy from the
quaternions) over the window, sharing the time axis; and, at the right, a
top-down x/z view (aspect locked, forward = -z up) with the trails of the
last ``trail_s`` seconds of the headset and of each controller that is
tracked. An absent device is NaN in the buffers and a gap in its curve
(``connect="finite"``); the header says which devices are tracked now.

Head motion is smooth, so unlike frame timing it may be decimated: a long
window is drawn from every k-th sample (at most ``MAX_TRACKING_POINTS``
points), with k counted from the first sample ever received so the drawn
samples stay the same from one redraw to the next and the curves do not
shimmer. That bounds the per-redraw numpy work (the Euler angles) whatever
the window. The top-down view is an overview: its trails move at 10 Hz, a
third of the redraw rate. See :mod:`.graphs` for the redraw policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QWidget

from spacetime_panel.core.views import TelemetryBuffers, TrackingSeries
from spacetime_panel.ui.graphs.base import (
    DEFAULT_REDRAW_HZ,
    DEFAULT_WINDOW_S,
    MAX_SAMPLE_HZ,
    WAITING_TEXT,
    AxisRange,
    ScrollingGraph,
    ValueArray,
    euler_degrees,
    finite_bounds,
    legend,
    make_curve,
    make_plot,
)

BuffersProvider = Callable[[], TelemetryBuffers | None]

MAX_TRACKING_POINTS = 1500
MAX_TRAIL_POINTS = 1000
DEFAULT_TRAIL_S = 10.0
TRAIL_HZ = 10.0  # the top-down view is an overview: it moves at a third of the redraw rate

AXIS_COLORS = ("#ef5350", "#66bb6a", "#42a5f5")  # x/y/z and yaw/pitch/roll
HEADSET_COLOR = "#eeeeee"
LEFT_COLOR = "#4dd0e1"
RIGHT_COLOR = "#ffb74d"
DEVICES = ("headset", "left controller", "right controller")


def _decimated(total: int, held: int, start: int, limit: int) -> slice:
    """Every k-th sample from ``start`` of the ``held`` newest (of ``total`` ever), k fixed.

    k keeps at most ``limit`` samples; the kept ones are those whose absolute
    number is a multiple of k, so a new sample does not shift them.
    """
    stride = max(1, math.ceil((held - start) / limit))
    first_absolute = total - held + start
    return slice(start + (-first_absolute) % stride, None, stride)


class HeadsetGraph(ScrollingGraph):
    """Headset position and orientation over time, and the top-down trail of all devices.

    ``buffers_provider`` returns the telemetry ring buffers (None before a
    client exists); it is called from the redraw timer only.
    """

    def __init__(
        self,
        buffers_provider: BuffersProvider,
        *,
        redraw_hz: float = DEFAULT_REDRAW_HZ,
        window_s: float = DEFAULT_WINDOW_S,
        trail_s: float = DEFAULT_TRAIL_S,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(redraw_hz=redraw_hz, window_s=window_s, parent=parent)
        self._buffers_provider = buffers_provider
        self.trail_s = trail_s
        self.points = 0  # samples drawn per time curve
        self.tracked: dict[str, bool] = dict.fromkeys(DEVICES, False)
        self._drawn_key: tuple[int, int, float] | None = None
        # What the last redraw drew, for the y-range checks.
        self._position: ValueArray = np.empty((3, 0))
        self._angles: ValueArray = np.empty((3, 0))
        self._trails: list[tuple[ValueArray, ValueArray]] = []
        # The trails are redrawn at TRAIL_HZ, and once more when the data stops changing.
        self._trail_countdown = 0
        self._trail_key: tuple[int, int, float] | None = None

        self.status_label = QLabel(WAITING_TEXT)
        self.header.insertWidget(0, self.status_label)

        self.position_plot = make_plot(self.plots, 0, 0)
        self.position_plot.setLabel("left", "position", units="m")
        self.position_plot.hideAxis("bottom")  # the plot below shows the time
        self.angle_plot = make_plot(self.plots, 1, 0)
        self.angle_plot.setLabel("left", "degrees")
        self.angle_plot.setLabel("bottom", "seconds before the newest pose")
        self.trail_plot = make_plot(self.plots, 0, 1, rowspan=2)
        self.trail_plot.setAspectLocked(True)
        self.trail_plot.invertY(True)  # Godot's forward is -z: up on screen
        self.trail_plot.setLabel("bottom", "x", units="m")
        self.trail_plot.setLabel("left", "z", units="m")
        self.trail_plot.setTitle(f"top-down, last {trail_s:g} s", size="8pt")
        self.plots.ci.layout.setColumnStretchFactor(0, 3)
        self.plots.ci.layout.setColumnStretchFactor(1, 2)

        self.position_curves = tuple(
            make_curve(self.position_plot, color, gaps=True) for color in AXIS_COLORS
        )
        self.angle_curves = tuple(
            make_curve(self.angle_plot, color, gaps=True) for color in AXIS_COLORS
        )
        colors = (HEADSET_COLOR, LEFT_COLOR, RIGHT_COLOR)
        self.trail_curves = tuple(make_curve(self.trail_plot, color, gaps=True) for color in colors)
        axis_names = ("x / yaw", "y / pitch", "z / roll")
        self.legends.addWidget(legend(list(zip(AXIS_COLORS, axis_names, strict=True))))
        self.legends.addStretch(1)
        self.legends.addWidget(legend(list(zip(colors, DEVICES, strict=True))))
        self.markers = pg.ScatterPlotItem(size=7, pen=None, antialias=False)
        self.trail_plot.addItem(self.markers)
        self._marker_brushes = [pg.mkBrush(color) for color in colors]

        self.position_range = AxisRange(min_span=0.5)
        self.angle_range = AxisRange(min_span=30.0, floor=-180.0, ceiling=180.0, padding=0.05)
        self.trail_x_range = AxisRange(min_span=1.0)
        self.trail_z_range = AxisRange(min_span=1.0)
        self._window_changed()

    # -- drawing -------------------------------------------------------------------

    def _time_plots(self) -> list[pg.PlotItem]:
        return [self.position_plot, self.angle_plot]

    def _all_plots(self) -> list[pg.PlotItem]:
        return [self.position_plot, self.angle_plot, self.trail_plot]

    def _window_changed(self) -> None:
        super()._window_changed()
        self._drawn_key = None
        self._trail_key = None  # a window shorter than trail_s shortens the trails
        for axis_range in (
            self.position_range,
            self.angle_range,
            self.trail_x_range,
            self.trail_z_range,
        ):
            axis_range.reset()

    def _refresh(self, ranges_due: bool) -> bool:
        drawn = self._draw()
        if ranges_due:
            self._follow_ranges()
            self._show_status()
        return drawn

    def _clear(self) -> None:
        self.points = 0
        self._drawn_key = None
        self._trail_key = None
        self._trail_countdown = 0
        for curve in (*self.position_curves, *self.angle_curves, *self.trail_curves):
            curve.setData([], [])
        self.markers.setData([], [])
        self.tracked = dict.fromkeys(DEVICES, False)

    def _draw(self) -> bool:
        buffers = self._buffers_provider()
        if buffers is None or len(buffers.tracking) == 0:
            if self._drawn_key is not None or self.points:
                self._clear()
                return True
            return False
        ring = buffers.tracking
        key = (id(buffers), ring.total, self.window_s)
        self._trail_countdown -= 1
        trail_due = self._trail_countdown <= 0 and key != self._trail_key
        if key == self._drawn_key and not trail_due:
            return False  # nothing new since the last redraw
        series = buffers.tracking_series(min(ring.capacity, int(self.window_s * MAX_SAMPLE_HZ)))
        if key != self._drawn_key:
            self._drawn_key = key
            self._draw_time_curves(series, ring.total)
        if trail_due:
            self._trail_key = key
            self._trail_countdown = max(1, round(self.redraw_hz / TRAIL_HZ))
            self._draw_trails(series, ring.total)
        return True

    def _draw_time_curves(self, series: TrackingSeries, total: int) -> None:
        times = series.timestamp
        newest = times[-1]
        start = int(np.searchsorted(times, newest - self.window_s, side="right"))
        window = _decimated(total, len(times), start, MAX_TRACKING_POINTS)
        x = times[window] - newest
        position = series.headset_position[:, window].copy()  # the ring's views will change
        angles = euler_degrees(series.headset_rotation[:, window])
        yaw = angles[0]
        # Yaw wraps at +-180 degrees: break the line there instead of drawing a vertical jump.
        yaw[1:][np.abs(np.diff(yaw)) > 180.0] = np.nan
        for curve, row in zip(self.position_curves, position, strict=True):
            curve.setData(x, row)
        for curve, row in zip(self.angle_curves, angles, strict=True):
            curve.setData(x, row)
        self.points = len(x)
        self._position = position
        self._angles = angles

    def _draw_trails(self, series: TrackingSeries, total: int) -> None:
        times = series.timestamp
        newest = times[-1]
        start = int(np.searchsorted(times, newest - min(self.trail_s, self.window_s), "right"))
        trail = _decimated(total, len(times), start, MAX_TRAIL_POINTS)
        devices = (series.headset_position, series.left_position, series.right_position)
        trails = []
        spots_x: list[float] = []
        spots_z: list[float] = []
        brushes = []
        for index, (name, device, curve) in enumerate(
            zip(DEVICES, devices, self.trail_curves, strict=True)
        ):
            trail_x, trail_z = device[0, trail].copy(), device[2, trail].copy()
            trails.append((trail_x, trail_z))
            if np.isnan(trail_x).all():
                if curve.points:  # an absent device costs nothing once cleared
                    curve.setData([], [])
            else:
                curve.setData(trail_x, trail_z)
            now_x, now_z = float(device[0, -1]), float(device[2, -1])
            self.tracked[name] = math.isfinite(now_x)
            if self.tracked[name]:
                spots_x.append(now_x)
                spots_z.append(now_z)
                brushes.append(self._marker_brushes[index])
        self._trails = trails
        self.markers.setData(spots_x, spots_z, brush=brushes)

    def _follow_ranges(self) -> None:
        if not self.points:
            return
        position = self.position_range.follow(*finite_bounds(self._position))
        if position is not None:
            self.position_plot.setYRange(*position, padding=0.0)
        angles = self.angle_range.follow(*finite_bounds(self._angles))
        if angles is not None:
            self.angle_plot.setYRange(*angles, padding=0.0)
        trail_x = self.trail_x_range.follow(*finite_bounds(*(x for x, _ in self._trails)))
        trail_z = self.trail_z_range.follow(*finite_bounds(*(z for _, z in self._trails)))
        if (trail_x or trail_z) and self.trail_x_range.current and self.trail_z_range.current:
            self.trail_plot.setRange(
                xRange=self.trail_x_range.current, yRange=self.trail_z_range.current, padding=0.0
            )

    def _show_status(self) -> None:
        if not self.points:
            text = WAITING_TEXT
        else:
            text = " · ".join(
                f"{name} {'tracked' if tracked else 'absent'}"
                for name, tracked in self.tracked.items()
            )
        if text != self.status_label.text():
            self.status_label.setText(text)
