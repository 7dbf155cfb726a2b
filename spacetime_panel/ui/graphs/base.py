"""Scrolling telemetry graphs: the redraw policy that the performance and headset graphs share.

The game must hold 90 FPS on the same machine, so the graphs follow
pyqtgraph's scrolling-plot examples and spend as little as they can:

- one persistent curve per series (:class:`TraceCurve`), pen width 1, no
  antialiasing; each redraw is a ``setData`` on it, never a new item. Only
  the samples inside the window are given to it (clip to view), and a
  window with more samples than the plot has pixels is decimated before
  that ("peak" downsampling in :func:`peak_decimate`, each two pixels' lowest
  and highest sample: a point per pixel), so a 5-minute window draws as many
  points as a 10-second one;
- a curve's bounds are its plot's visible range, so a redraw repaints the
  plot areas and nothing around them (axes, labels, the toolbar); the
  legends are plain Qt labels above the plots for the same reason;
- one :class:`~PySide6.QtCore.QTimer` per widget, at most 30 Hz, reads the
  newest samples of the window from the ring buffers. Nothing else redraws:
  no ``processEvents()``, no redraw per received sample;
- a redraw whose data has not changed since the last one (the game stopped
  at a breakpoint) is skipped;
- auto-range is off. X is fixed to ``(-window, 0)`` seconds before the newest
  sample; each y range (:class:`AxisRange`) follows the data a few times a
  second, and only when the data leaves it or shrinks well inside it;
- no grid: its translucent lines, repainted with every frame, cost more than
  all the curves together (measured with ``tests/bench/graphs_redraw.py``);
- the timer runs only while the widget is shown and the main window says it
  is active (:meth:`ScrollingGraph.set_active`): nothing is drawn that nobody
  can see.

This module imports none of the widgets built on it: they live in
:mod:`.performance` (:class:`PerformanceGraph`, with :mod:`.stats_strip`) and
:mod:`.headset` (:class:`HeadsetGraph`), and the package re-exports them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

FloatArray = npt.NDArray[np.float64]
#: Poses come as float32 (``telemetry/buffers.py``), timings as float64.
ValueArray = npt.NDArray[np.floating[Any]]

DEFAULT_REDRAW_HZ = 30.0
MAX_REDRAW_HZ = 30.0
WINDOW_CHOICES: tuple[tuple[float, str], ...] = ((10.0, "10 s"), (60.0, "60 s"), (300.0, "5 min"))
DEFAULT_WINDOW_S = 10.0  # the last 10 s: 1,440 points a curve at 144 Hz
MAX_WINDOW_S = 300.0
# Reading the newest window * this many samples is sure to cover the window (headsets: <= 144 Hz).
MAX_SAMPLE_HZ = 240.0
RANGE_HZ = 4.0  # y-range checks per second
WAITING_TEXT = "waiting for telemetry"
LEFT_AXIS_WIDTH = 52  # pixels
TICK_LENGTH = 4  # pixels, outwards
AXIS_GAP = 2  # pixels between an axis and its plot area


class AxisRange:
    """A fixed axis range that follows the data only when it changes noticeably.

    :meth:`follow` grows the range at once when the data leaves it, shrinks it
    only when the data uses less than ``shrink_below`` of it, and otherwise
    keeps it, so the axis does not twitch (and pyqtgraph does not re-layout
    its ticks) on every redraw.
    """

    def __init__(
        self,
        *,
        min_span: float,
        padding: float = 0.1,
        floor: float | None = None,
        ceiling: float | None = None,
        shrink_below: float = 0.5,
    ) -> None:
        self.min_span = min_span
        self.padding = padding
        self.floor = floor
        self.ceiling = ceiling
        self.shrink_below = shrink_below
        self.current: tuple[float, float] | None = None

    def follow(self, low: float, high: float) -> tuple[float, float] | None:
        """The new range for data spanning ``low..high``, or None to keep the current one."""
        if not (math.isfinite(low) and math.isfinite(high)):
            return None
        current = self.current
        if current is not None:
            inside = current[0] <= low and high <= current[1]
            if inside and (high - low) >= self.shrink_below * (current[1] - current[0]):
                return None
        span = max(high - low, self.min_span)
        middle = (low + high) / 2.0
        new_low = middle - span / 2.0 - span * self.padding
        new_high = middle + span / 2.0 + span * self.padding
        if self.floor is not None and new_low < self.floor:
            new_high += self.floor - new_low
            new_low = self.floor
        if self.ceiling is not None and new_high > self.ceiling:
            lowest = self.floor if self.floor is not None else -math.inf
            new_low = max(new_low - (new_high - self.ceiling), lowest)
            new_high = self.ceiling
        self.current = (new_low, new_high)
        return self.current

    def reset(self) -> None:
        self.current = None


def finite_bounds(*arrays: ValueArray) -> tuple[float, float]:
    """Lowest and highest finite value over ``arrays`` (NaN, NaN if there is none)."""
    lows = [np.nanmin(a) for a in arrays if a.size and not np.isnan(a).all()]
    highs = [np.nanmax(a) for a in arrays if a.size and not np.isnan(a).all()]
    if not lows:
        return math.nan, math.nan
    return float(min(lows)), float(max(highs))


def euler_degrees(rotation: ValueArray) -> ValueArray:
    """Yaw, pitch, roll in degrees (``3 x n``) from unit quaternions (``4 x n``: x, y, z, w).

    Godot's convention (``Basis.get_euler`` in YXZ order, as the simulator's
    ``quat_from_euler``): yaw about +Y, then pitch about +X, then roll about
    +Z. Vectorised; NaN in, NaN out.
    """
    x, y, z, w = rotation
    yaw = np.arctan2(2.0 * (x * z + y * w), 1.0 - 2.0 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2.0 * (x * w - y * z), -1.0, 1.0))
    roll = np.arctan2(2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z))
    return np.degrees(np.stack((yaw, pitch, roll)))


def make_plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, **kwargs: Any) -> pg.PlotItem:
    """A plot with auto-range, mouse, menu, the auto-range button and the grid off; ticks out."""
    plot = layout.addPlot(row=row, col=col, **kwargs)
    plot.enableAutoRange(x=False, y=False)
    plot.setMouseEnabled(x=False, y=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    # Equal axis widths line the time axes of stacked plots up.
    plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
    # An axis that touches the plot area is repainted with every redraw of the curves: ticks
    # point out of the plot (pyqtgraph's point in), and a gap of two pixels parts the axes
    # from the plot area (a shared edge counts as touching once rounded to pixels).
    for name in ("left", "bottom"):
        plot.getAxis(name).setStyle(tickLength=TICK_LENGTH)
    plot.layout.setColumnSpacing(0, AXIS_GAP)  # PlotItem's grid: left axis | plot area
    plot.layout.setRowSpacing(2, AXIS_GAP)  # plot area above the bottom axis
    return plot


class TraceCurve(pg.PlotCurveItem):
    """A curve whose bounds are its plot's visible range, not its data's.

    pyqtgraph's curves report their data's bounds plus a pen's padding, which
    pokes past the plot area into the axes, and recomputes them (a min and max
    per axis) on every ``setData``. The graphs' curves are always clipped to
    the view, so the view's own rectangle is their true extent: the scene
    repaints only the plot area on each redraw, and nothing is recomputed.
    The view's range changes call ``prepareGeometryChange`` through
    pyqtgraph's ``viewTransformChanged``, as Qt requires.
    """

    def boundingRect(self) -> QRectF:
        view = self.getViewBox()
        if view is None:
            return QRectF()
        rect: QRectF = view.viewRect()
        return rect

    @property
    def points(self) -> int:
        """How many points the curve draws now."""
        return 0 if self.xData is None else len(self.xData)


def make_curve(plot: pg.PlotItem, color: str, *, gaps: bool) -> TraceCurve:
    """A persistent curve: pen width 1, no antialiasing; ``gaps`` if its data may hold NaN."""
    curve = TraceCurve(
        pen=pg.mkPen(color, width=1),
        antialias=False,
        connect="finite" if gaps else "all",
        skipFiniteCheck=not gaps,
    )
    plot.addItem(curve)
    return curve


def peak_decimate(
    x: FloatArray, rows: FloatArray, first_number: int, pixels: int
) -> tuple[FloatArray, FloatArray]:
    """Samples ``x`` (n) and ``rows`` (k x n) cut to at most about one point per pixel.

    pyqtgraph's "peak" downsampling: with more samples than pixels, each bin
    of ``ds`` samples (about two pixels wide) becomes two points at the bin's
    first x, its lowest and its highest value, so no spike is lost. Bins are counted from
    the samples' absolute numbers (``first_number`` is that of ``x[0]``): a
    new sample does not move the bins, and a scrolling curve does not
    shimmer. Without NaN in ``rows``; returns the inputs when there is
    nothing to cut.
    """
    n = len(x)
    if pixels < 1 or n <= pixels:
        return x, rows
    ds = math.ceil(2 * n / pixels)
    head = (-first_number) % ds
    starts = np.arange(head, n, ds)
    if head:
        starts = np.concatenate(([0], starts))
    peaks = np.empty((rows.shape[0], 2 * len(starts)))
    peaks[:, 0::2] = np.minimum.reduceat(rows, starts, axis=1)
    peaks[:, 1::2] = np.maximum.reduceat(rows, starts, axis=1)
    return np.repeat(x[starts], 2), peaks


def legend(entries: list[tuple[str, str]], dashed: tuple[str, ...] = ()) -> QLabel:
    """A legend as one Qt label (``(colour, name)`` pairs; ``dashed`` names a line).

    It lives outside the plots, so a redraw never repaints its text.
    """
    parts = []
    for color, name in entries:
        mark = "- -" if name in dashed else "\u2501\u2501"
        parts.append(f'<span style="color:{color}">{mark}</span>&nbsp;{name}')
    return QLabel("&nbsp;&nbsp;&nbsp;".join(parts))


class ScrollingGraph(QWidget):
    """Base of the telemetry graphs: the redraw timer, window length, pause and visibility.

    Subclasses implement :meth:`_refresh`, called on every timer tick that is
    not paused, and return True when they drew new data (counted in
    :attr:`frames_drawn`; every tick is counted in :attr:`timer_ticks`).
    ``self.header`` is the row above the plots; it holds the window combo box
    and the pause button at its right.
    """

    def __init__(
        self,
        *,
        redraw_hz: float = DEFAULT_REDRAW_HZ,
        window_s: float = DEFAULT_WINDOW_S,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.frames_drawn = 0
        self.timer_ticks = 0
        self.window_s = window_s
        self.paused = False
        self.active = True
        self._shown = False
        self._ranges_pending = True  # check the y ranges at the next redraw, whatever the cadence
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.set_redraw_rate(redraw_hz)

        self.window_combo = QComboBox()
        for seconds, label in WINDOW_CHOICES:
            self.window_combo.addItem(label, seconds)
        self.window_combo.setToolTip("How much history the graphs show")
        self.window_combo.currentIndexChanged.connect(self._window_chosen)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the graphs (zoom and pan with the mouse meanwhile)")
        self.pause_button.toggled.connect(self.set_paused)

        self.header = QHBoxLayout()
        self.header.setContentsMargins(0, 0, 0, 0)
        self.header.addStretch(1)
        self.header.addWidget(self.window_combo)
        self.header.addWidget(self.pause_button)
        self.plots = pg.GraphicsLayoutWidget()
        # One repaint of the rectangle around what changed (the plot areas) per redraw,
        # instead of one per changed item; and exactly that rectangle: nothing here is
        # antialiased, so Qt need not widen it by two pixels into the axes.
        self.plots.setViewportUpdateMode(
            QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate
        )
        self.plots.setOptimizationFlag(
            QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True
        )
        # The legends, on the plots' black above them (a white headset line must show).
        legend_bar = QWidget()
        legend_bar.setObjectName("legendBar")
        legend_bar.setStyleSheet(
            "#legendBar { background: black; } QLabel { color: #bbbbbb; font-size: 8pt; }"
        )
        legend_bar.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.legends = QHBoxLayout(legend_bar)
        self.legends.setContentsMargins(LEFT_AXIS_WIDTH, 3, 6, 0)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.setSpacing(0)
        outer.addLayout(self.header)
        outer.addSpacing(4)
        outer.addWidget(legend_bar)
        outer.addWidget(self.plots, 1)

    # -- what the main window calls ---------------------------------------------

    def set_window(self, seconds: float) -> None:
        """Show the last ``seconds`` (0 < seconds <= 300) of telemetry."""
        if not 0.0 < seconds <= MAX_WINDOW_S:
            raise ValueError(f"window must be in (0, {MAX_WINDOW_S:g}] seconds, not {seconds}")
        self.window_s = float(seconds)
        index = self.window_combo.findData(self.window_s)
        if index >= 0 and index != self.window_combo.currentIndex():
            self.window_combo.setCurrentIndex(index)
        self._window_changed()

    def set_paused(self, paused: bool) -> None:
        """Freeze (or resume) the curves; while paused the mouse may zoom and pan."""
        if paused == self.paused:
            return
        self.paused = paused
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)
        self._paused_changed()

    def set_active(self, active: bool) -> None:
        """Allow drawing (the main window is shown) or stop it (minimised, hidden to the tray)."""
        self.active = active
        self._update_timer()

    def set_redraw_rate(self, hz: float) -> None:
        """Redraws per second, at most 30."""
        if not 0.0 < hz <= MAX_REDRAW_HZ:
            raise ValueError(f"redraw rate must be in (0, {MAX_REDRAW_HZ:g}] Hz, not {hz}")
        self.redraw_hz = hz
        self.timer.setInterval(round(1000.0 / hz))
        self.range_every = max(1, round(hz / RANGE_HZ))

    # -- visibility: the timer runs only while someone can see the graph ---------

    def showEvent(self, event: QShowEvent) -> None:
        self._shown = True
        self._update_timer()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        # Also sent (spontaneously) when the window is minimised.
        self._shown = False
        self._update_timer()
        super().hideEvent(event)

    def _update_timer(self) -> None:
        if self._shown and self.active:
            if not self.timer.isActive():
                self.timer.start()
        else:
            self.timer.stop()

    # -- drawing -------------------------------------------------------------------

    def _tick(self) -> None:
        self.timer_ticks += 1
        if self.paused:
            return
        ranges_due = self._ranges_pending or self.timer_ticks % self.range_every == 0
        if self._refresh(ranges_due):
            self.frames_drawn += 1
        if ranges_due:
            self._ranges_pending = False

    def _refresh(self, ranges_due: bool) -> bool:
        """Redraw from the newest data; check the y ranges if ``ranges_due``. True if drawn."""
        raise NotImplementedError

    def _window_chosen(self, index: int) -> None:
        seconds = self.window_combo.itemData(index)
        if seconds is not None and float(seconds) != self.window_s:
            self.set_window(float(seconds))

    def _window_changed(self) -> None:
        """Fix the x ranges to the new window (subclasses extend this)."""
        for plot in self._time_plots():
            plot.setXRange(-self.window_s, 0.0, padding=0.0)
        self._ranges_pending = True

    def _paused_changed(self) -> None:
        for plot in self._all_plots():
            plot.setMouseEnabled(x=self.paused, y=self.paused)
        # While paused, zooming one time plot zooms the others. Running, each gets its fixed
        # range set directly: a link maps ranges by pixels, and is wrong before the layout
        # has settled.
        first, *others = self._time_plots()
        for plot in others:
            plot.setXLink(first if self.paused else None)
        if not self.paused:
            self._window_changed()  # undo any zoom made while paused

    def _time_plots(self) -> list[pg.PlotItem]:
        """The plots whose x axis is time."""
        raise NotImplementedError

    def _all_plots(self) -> list[pg.PlotItem]:
        return self._time_plots()
