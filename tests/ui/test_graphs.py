"""The telemetry graphs, offscreen: real widgets, real ring buffers fed like the client feeds them.

A synthetic game sends ``fps`` and ``vr_tracking`` frames at 90 Hz (a
walking, turning headset, the left controller absent) through a
:class:`TelemetrySession`; the graphs read its buffers and summary through
provider callables, as in the main window. Waiting is on the widgets'
counters (``frames_drawn``, ``timer_ticks``), never on sleeps.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from spacetime_panel.sim.world import quat_from_euler
from spacetime_panel.telemetry import TelemetryBuffers, TelemetrySession, TelemetrySummary
from spacetime_panel.ui.graphs.base import WAITING_TEXT, AxisRange, euler_degrees, peak_decimate
from spacetime_panel.ui.graphs.headset import MAX_TRACKING_POINTS, HeadsetGraph
from spacetime_panel.ui.graphs.performance import PerformanceGraph
from spacetime_panel.ui.graphs.stats_strip import StatsStrip
from tests.conftest import TIME_SCALE

RATE = 90.0
T0 = 1_700_000_000.0
WAIT_MS = round(5000 * TIME_SCALE)


class Game:
    """A game streaming telemetry frames at 90 Hz into a session; every 100th frame is slow."""

    def __init__(self) -> None:
        self.session = TelemetrySession()
        self.frames = 0

    @property
    def buffers(self) -> TelemetryBuffers:
        return self.session.buffers

    def now(self) -> float:
        return self.frames / RATE

    def summary(self) -> TelemetrySummary:
        return self.session.summary(self.now())

    def send(self, seconds: float) -> None:
        for _ in range(round(seconds * RATE)):
            t = self.frames / RATE
            slow = self.frames % 100 == 99
            frame_ms = 25.0 if slow else 1000.0 / RATE
            fps = {
                "fps": round(1000.0 / frame_ms, 3),
                "frame_time_ms": frame_ms,
                "process_time_ms": 4.0 + 0.5 * math.sin(t),
                "physics_time_ms": 1.0 + 0.2 * math.cos(t),
            }
            yaw = 1.5 * math.sin(0.3 * t)
            head = {
                "position": [0.5 * math.sin(0.5 * t), 1.7, 0.4 * math.cos(0.5 * t)],
                "rotation": list(quat_from_euler(yaw, 0.2 * math.sin(t), 0.1)),
            }
            hand = {"position": [0.3, 1.2, -0.4 + 0.1 * math.sin(t)], "rotation": [0, 0, 0, 1]}
            tracking = {"headset": head, "left_controller": None, "right_controller": hand}
            for event, data in (("fps", fps), ("vr_tracking", tracking)):
                message = {"event": event, "timestamp": T0 + t, "data": data}
                self.session.ingest(json.dumps(message), self.now())
            self.frames += 1


@pytest.fixture
def game() -> Game:
    return Game()


@pytest.fixture
def stream(game: Game) -> Iterator[QTimer]:
    """A QTimer that sends a frame's worth of telemetry every 11 ms (started by the test)."""
    timer = QTimer()
    timer.setInterval(11)
    timer.timeout.connect(lambda: game.send(1.0 / RATE))
    yield timer
    timer.stop()


def performance_graph(qtbot, game: Game, **kwargs) -> PerformanceGraph:
    graph = PerformanceGraph(lambda: game.buffers, game.summary, **kwargs)
    qtbot.addWidget(graph)
    graph.resize(900, 500)
    return graph


def settle(qtbot, graph, ticks: int = 2) -> None:
    """Wait until the timer has fired ``ticks`` more times: the newest data is drawn by then."""
    start = graph.timer_ticks
    qtbot.waitUntil(lambda: graph.timer_ticks >= start + ticks, timeout=WAIT_MS)


def test_performance_curves_hold_the_newest_window_of_the_buffers(qtbot, game, stream):
    game.send(12.0)
    graph = performance_graph(qtbot, game, window_s=10.0)
    graph.resize(1400, 500)  # a pixel for each of the 900 samples: none is cut
    graph.show()
    stream.start()
    qtbot.waitUntil(lambda: graph.frames_drawn > 3, timeout=WAIT_MS)
    stream.stop()
    settle(qtbot, graph)

    n = graph.points
    series = game.buffers.fps_series(n)
    x, y = graph.fps_curve.getData()
    assert 895 <= n <= 901  # 10 s at 90 Hz
    np.testing.assert_array_equal(y, series.fps)
    np.testing.assert_allclose(x, series.timestamp - series.timestamp[-1])
    assert x[0] >= -10.0 and x[-1] == 0.0
    np.testing.assert_array_equal(graph.frame_curve.yData, series.frame_time_ms)
    np.testing.assert_array_equal(graph.process_curve.yData, series.process_time_ms)
    np.testing.assert_array_equal(graph.physics_curve.yData, series.physics_time_ms)
    # Fixed ranges, no auto-range: x is the window, y holds every sample.
    for plot in (graph.fps_plot, graph.time_plot):
        assert plot.vb.state["autoRange"] == [False, False]
        assert plot.viewRange()[0] == pytest.approx([-10.0, 0.0])
    low, high = graph.fps_plot.viewRange()[1]
    assert low <= series.fps.min() and series.fps.max() <= high
    assert graph.time_plot.viewRange()[1][1] >= series.frame_time_ms.max()


def test_a_redraw_repaints_the_curves_but_not_the_axes(qtbot, game, stream):
    game.send(3.0)
    graph = performance_graph(qtbot, game)
    graph.show()
    qtbot.waitUntil(lambda: graph.frames_drawn > 0, timeout=WAIT_MS)
    settle(qtbot, graph, ticks=4)  # the first layout and range changes are painted

    paints: dict[str, int] = {"curve": 0, "axes": 0}

    def counting(item, kind):
        original = item.paint

        def paint(*args):
            paints[kind] += 1
            return original(*args)

        item.paint = paint

    counting(graph.frame_curve, "curve")
    for plot in (graph.fps_plot, graph.time_plot):
        for name in ("left", "bottom"):
            counting(plot.getAxis(name), "axes")
    stream.start()
    qtbot.waitUntil(lambda: paints["curve"] >= 10, timeout=WAIT_MS)
    # The axes have fixed ranges here; were they touching the plot area, Qt would repaint
    # them with every frame (ticks reaching in, a shared edge, the antialiasing margin).
    assert paints["axes"] <= 4  # a y range or two that followed the data, at most


def test_redraws_stop_when_nothing_new_arrives(qtbot, game):
    game.send(3.0)
    graph = performance_graph(qtbot, game)
    graph.show()
    qtbot.waitUntil(lambda: graph.frames_drawn == 1, timeout=WAIT_MS)
    ticks = graph.timer_ticks
    qtbot.waitUntil(lambda: graph.timer_ticks > ticks + 5, timeout=WAIT_MS)
    assert graph.frames_drawn == 1  # a game stopped at a breakpoint costs no redraws
    game.send(0.1)
    qtbot.waitUntil(lambda: graph.frames_drawn == 2, timeout=WAIT_MS)


def test_window_length_sets_the_points_and_the_x_range(qtbot, game):
    game.send(70.0)
    graph = performance_graph(qtbot, game, window_s=10.0)
    graph.show()
    qtbot.waitUntil(lambda: 895 <= graph.points <= 901, timeout=WAIT_MS)

    graph.set_window(60.0)
    assert graph.window_combo.currentText() == "60 s"
    qtbot.waitUntil(lambda: 5395 <= graph.points <= 5401, timeout=WAIT_MS)
    assert graph.fps_curve.xData[0] >= -60.0
    assert graph.time_plot.viewRange()[0] == pytest.approx([-60.0, 0.0])

    graph.window_combo.setCurrentIndex(graph.window_combo.findText("5 min"))
    assert graph.window_s == 300.0
    qtbot.waitUntil(lambda: graph.points == len(game.buffers.fps), timeout=WAIT_MS)
    assert graph.fps_plot.viewRange()[0] == pytest.approx([-300.0, 0.0])
    with pytest.raises(ValueError):
        graph.set_window(3600.0)


def test_a_long_window_is_peak_decimated_and_keeps_every_spike(qtbot, game):
    game.send(300.0)  # 27,000 samples; every 100th frame is a 25 ms spike
    graph = performance_graph(qtbot, game, window_s=300.0)
    graph.show()
    qtbot.waitUntil(lambda: graph.points == len(game.buffers.fps), timeout=WAIT_MS)
    pixels = int(graph.fps_plot.vb.width())
    x, fps = graph.fps_curve.getData()
    frame = graph.frame_curve.getData()[1]
    assert 0 < len(x) <= pixels + 2  # a point per pixel, not 27,000
    assert len(frame) == len(x)
    series = game.buffers.fps_series(graph.points)
    assert frame.max() == series.frame_time_ms.max() == 25.0  # the spikes survive
    assert fps.min() == series.fps.min()
    assert x[0] >= -300.0
    assert -3 * 300.0 / pixels <= x[-1] <= 0.0  # the newest bin is within a few pixels of 0


def test_a_window_with_more_samples_than_pixels_is_cut_to_the_plot_width(qtbot, game):
    game.send(12.0)  # 10 s at 90 Hz in a plot narrower than 900 pixels
    graph = performance_graph(qtbot, game, window_s=10.0)
    graph.resize(600, 400)
    graph.show()
    qtbot.waitUntil(lambda: 895 <= graph.points <= 901, timeout=WAIT_MS)
    settle(qtbot, graph)
    pixels = int(graph.fps_plot.vb.width())
    assert pixels < graph.points
    x, fps = graph.fps_curve.getData()
    assert 0 < len(x) <= pixels + 2  # at most a point per pixel given to pyqtgraph
    series = game.buffers.fps_series(graph.points)
    assert graph.frame_curve.getData()[1].max() == series.frame_time_ms.max() == 25.0
    assert fps.min() == series.fps.min()  # the slow frames survive


def test_zooming_a_paused_graph_shows_the_visible_samples_in_detail(qtbot, game):
    game.send(62.0)
    graph = performance_graph(qtbot, game, window_s=60.0)
    graph.show()
    qtbot.waitUntil(lambda: 5395 <= graph.points <= 5401, timeout=WAIT_MS)
    assert len(graph.frame_curve.getData()[0]) < graph.points  # decimated at 60 s

    graph.set_paused(True)
    graph.fps_plot.setXRange(-2.0, 0.0, padding=0.0)
    x, frame = graph.frame_curve.getData()
    series = game.buffers.fps_series(len(x))
    np.testing.assert_array_equal(frame, series.frame_time_ms)  # every sample of those 2 s
    assert 180 <= len(x) <= 184

    graph.set_paused(False)  # back to the whole window
    assert graph.fps_plot.viewRange()[0] == pytest.approx([-60.0, 0.0])
    assert graph.fps_curve.getData()[0][0] < -59.0


def test_peak_decimation_keeps_extremes_and_stays_put_as_samples_arrive():
    rng = np.random.default_rng(7)
    n, pixels = 10_000, 300
    rows = rng.normal(size=(2, n + 1))
    rows[0, 4321] = 50.0  # a spike
    x = np.arange(n + 1, dtype=float)
    dx, drows = peak_decimate(x[:n], rows[:, :n], 1000, pixels)
    assert len(dx) <= pixels + 2 and drows.shape == (2, len(dx))
    assert drows[0].max() == 50.0 and drows[1].min() == rows[1, :n].min()
    # One more sample: every bin but the newest is the same, so the curve does not shimmer.
    dx2, drows2 = peak_decimate(x[1:], rows[:, 1 : n + 1], 1001, pixels)
    common = np.intersect1d(dx[2:-2], dx2[2:-2])
    assert len(common) > pixels // 2 - 5  # a bin every two pixels: all but the ends
    keep, keep2 = np.isin(dx, common), np.isin(dx2, common)
    np.testing.assert_array_equal(drows[:, keep], drows2[:, keep2])
    # No more samples than pixels: not touched.
    same_x, same_rows = peak_decimate(x[:pixels], rows[:, :pixels], 0, pixels)
    np.testing.assert_array_equal(same_x, x[:pixels])
    np.testing.assert_array_equal(same_rows, rows[:, :pixels])


def test_budget_line_follows_the_refresh_rate(qtbot, game):
    game.send(2.0)
    graph = performance_graph(qtbot, game)
    graph.show()
    qtbot.waitUntil(lambda: graph.summary is not None, timeout=WAIT_MS)
    assert graph.budget_line.value() == pytest.approx(1000.0 / 90.0)  # the summary's rate
    assert graph.target_line.value() == pytest.approx(90.0)

    graph.set_refresh_rate(144)
    assert graph.budget_line.value() == pytest.approx(1000.0 / 144.0)
    assert graph.target_line.value() == pytest.approx(144.0)
    settle(qtbot, graph)
    assert graph.budget_line.value() == pytest.approx(
        1000.0 / 144.0
    )  # the summary does not undo it

    graph.set_refresh_rate(None)
    assert graph.budget_line.value() == pytest.approx(1000.0 / 90.0)


def test_pause_freezes_the_curves_while_data_keeps_coming(qtbot, game, stream):
    game.send(5.0)
    graph = performance_graph(qtbot, game, window_s=10.0)
    graph.show()
    stream.start()
    qtbot.waitUntil(lambda: graph.frames_drawn > 3, timeout=WAIT_MS)

    qtbot.mouseClick(graph.pause_button, Qt.MouseButton.LeftButton)
    assert graph.paused and graph.pause_button.isChecked()
    frozen_x, frozen_y = (a.copy() for a in graph.fps_curve.getData())
    drawn, ticks, sent = graph.frames_drawn, graph.timer_ticks, game.frames
    qtbot.waitUntil(
        lambda: graph.timer_ticks > ticks + 5 and game.frames > sent + 20, timeout=WAIT_MS
    )
    x, y = graph.fps_curve.getData()
    np.testing.assert_array_equal(x, frozen_x)
    np.testing.assert_array_equal(y, frozen_y)
    assert graph.frames_drawn == drawn

    graph.set_paused(False)
    assert not graph.pause_button.isChecked()
    qtbot.waitUntil(lambda: graph.frames_drawn > drawn, timeout=WAIT_MS)
    assert graph.points > len(frozen_y)


def test_the_timer_runs_only_while_someone_can_see_the_graph(qtbot, game, stream):
    game.send(2.0)
    graph = performance_graph(qtbot, game)
    witness = performance_graph(qtbot, game)  # stays shown: its ticks measure time
    assert not graph.timer.isActive()  # never shown yet
    graph.show()
    witness.show()
    assert graph.timer.isActive()
    stream.start()
    qtbot.waitUntil(lambda: graph.frames_drawn > 3, timeout=WAIT_MS)

    graph.hide()
    assert not graph.timer.isActive()
    drawn, ticks = graph.frames_drawn, witness.timer_ticks
    qtbot.waitUntil(lambda: witness.timer_ticks > ticks + 5, timeout=WAIT_MS)
    assert graph.frames_drawn == drawn

    graph.show()
    assert graph.timer.isActive()
    qtbot.waitUntil(lambda: graph.frames_drawn > drawn, timeout=WAIT_MS)

    graph.set_active(False)  # the main window went to the tray
    assert not graph.timer.isActive()
    graph.set_active(True)
    assert graph.timer.isActive()


def test_stats_strip_shows_the_summary(qtbot, game):
    game.send(10.0)
    graph = performance_graph(qtbot, game)
    graph.show()
    qtbot.waitUntil(lambda: graph.summary is not None, timeout=WAIT_MS)
    summary = game.summary()
    strip = graph.stats_strip
    assert not strip.waiting
    text = strip.text()
    assert f"FPS {summary.fps_now:.1f} now" in text
    assert f"{summary.fps_avg:.1f} avg" in text
    assert f"{summary.fps_min:.1f} min" in text
    assert f"p50 {summary.frame_time_p50_ms:.2f}" in text
    assert f"p95 {summary.frame_time_p95_ms:.2f}" in text
    assert f"p99 {summary.frame_time_p99_ms:.2f} ms" in text
    assert f"{summary.over_budget_share * 100:.1f} % over 11.11 ms budget" in text
    assert summary.dropped_frames > 0
    assert f"{summary.dropped_frames} dropped" in text


def test_new_figures_keep_the_strip_still_and_a_wider_one_still_fits(qtbot, game):
    game.send(10.0)
    strip = StatsStrip()
    qtbot.addWidget(strip)
    strip.show()
    strip.show_summary(game.summary())
    # A fixed size (minimum = maximum) is what keeps Qt from re-laying out the window above.
    assert all(label.minimumSize() == label.maximumSize() for label in strip._figures)
    sizes = [label.size() for label in strip._figures]
    game.send(5.0)
    strip.show_summary(game.summary())
    assert [label.size() for label in strip._figures] == sizes  # no re-layout for new digits

    unlocked = dataclasses.replace(game.summary(), fps_now=12345.6, fps_avg=9876.5)
    strip.show_summary(unlocked)
    label = strip.fps_label
    assert "12345.6 now" in label.text()
    assert label.width() >= label.fontMetrics().horizontalAdvance(label.text())  # not cut


def test_no_telemetry_shows_waiting_and_draws_nothing(qtbot):
    source: list[Game | None] = [None]
    graph = PerformanceGraph(
        lambda: source[0] and source[0].buffers, lambda: source[0] and source[0].summary()
    )
    headset = HeadsetGraph(lambda: source[0] and source[0].buffers)
    for widget in (graph, headset):
        qtbot.addWidget(widget)
        widget.show()
    qtbot.waitUntil(lambda: graph.timer_ticks > 3 and headset.timer_ticks > 3, timeout=WAIT_MS)
    assert graph.stats_strip.text() == WAITING_TEXT
    assert headset.status_label.text() == WAITING_TEXT
    assert graph.frames_drawn == 0 and headset.frames_drawn == 0

    source[0] = Game()  # a client exists, but nothing arrived yet
    ticks = graph.timer_ticks
    qtbot.waitUntil(lambda: graph.timer_ticks > ticks + 3, timeout=WAIT_MS)
    assert graph.stats_strip.text() == WAITING_TEXT
    assert graph.frames_drawn == 0

    source[0].send(2.0)
    qtbot.waitUntil(lambda: graph.points > 0 and headset.points > 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not graph.stats_strip.waiting, timeout=WAIT_MS)

    source[0] = None  # the client went away: the curves empty, the text comes back
    qtbot.waitUntil(lambda: graph.fps_curve.points == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: headset.status_label.text() == WAITING_TEXT, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: graph.stats_strip.text() == WAITING_TEXT, timeout=WAIT_MS)
    assert headset.position_curves[0].points == 0


def test_euler_angles_from_known_quaternions():
    s = math.sin(math.radians(45.0))
    yaw_90 = np.array([[0.0], [s], [0.0], [s]])  # 90 degrees about +y
    np.testing.assert_allclose(euler_degrees(yaw_90)[:, 0], [90.0, 0.0, 0.0], atol=0.01)

    angles = [(30.0, 0.0, 0.0), (-120.0, 20.0, 0.0), (45.0, -60.0, 15.0), (170.0, 10.0, -80.0)]
    quaternions = np.array(
        [quat_from_euler(*(math.radians(a) for a in angle)) for angle in angles]
    ).T
    quaternions = np.column_stack((quaternions, [np.nan] * 4))  # an absent device
    result = euler_degrees(quaternions)
    np.testing.assert_allclose(result[:, :-1].T, angles, atol=0.01)
    assert np.isnan(result[:, -1]).all()


def test_headset_graph_draws_poses_and_the_tracked_devices(qtbot, game, stream):
    game.send(12.0)
    graph = HeadsetGraph(lambda: game.buffers, window_s=10.0)
    qtbot.addWidget(graph)
    graph.resize(900, 500)
    graph.show()
    stream.start()
    qtbot.waitUntil(lambda: graph.frames_drawn > 3, timeout=WAIT_MS)
    stream.stop()
    settle(qtbot, graph, ticks=4)  # the trails move at 10 Hz, a third of the redraws
    qtbot.waitUntil(lambda: graph.status_label.text() != WAITING_TEXT, timeout=WAIT_MS)

    series = game.buffers.tracking_series(graph.points)
    x, _ = graph.position_curves[0].getData()
    np.testing.assert_allclose(x, series.timestamp - series.timestamp[-1])
    for axis, curve in enumerate(graph.position_curves):
        np.testing.assert_array_equal(curve.yData, series.headset_position[axis])
    expected = euler_degrees(series.headset_rotation)
    for axis, curve in enumerate(graph.angle_curves[1:], start=1):  # pitch, roll
        np.testing.assert_allclose(curve.yData, expected[axis])
    yaw = graph.angle_curves[0].yData
    finite = np.isfinite(yaw)
    np.testing.assert_allclose(yaw[finite], expected[0][finite])
    assert finite.sum() >= len(yaw) - 2  # only breaks where yaw wraps at 180

    assert "headset tracked" in graph.status_label.text()
    assert "left controller absent" in graph.status_label.text()
    assert "right controller tracked" in graph.status_label.text()
    headset_trail, left_trail, right_trail = graph.trail_curves
    assert left_trail.points == 0
    np.testing.assert_array_equal(
        right_trail.xData, series.right_position[0][-len(right_trail.xData) :]
    )
    assert 895 <= len(headset_trail.xData) <= 901  # the last 10 s, all of it
    np.testing.assert_array_equal(
        headset_trail.yData, series.headset_position[2][-len(headset_trail.yData) :]
    )
    assert len(graph.markers.data) == 2  # headset and right controller, where they are now
    assert graph.trail_plot.vb.state["aspectLocked"]


def test_long_windows_are_decimated_steadily(qtbot, game):
    game.send(70.0)
    graph = HeadsetGraph(lambda: game.buffers, window_s=60.0)
    qtbot.addWidget(graph)
    graph.show()
    qtbot.waitUntil(lambda: graph.frames_drawn == 1, timeout=WAIT_MS)
    newest = game.buffers.tracking_series(1).timestamp[-1]
    before = set(np.round(graph.position_curves[0].xData + newest, 6))
    assert len(before) <= MAX_TRACKING_POINTS

    game.send(1.0 / RATE)  # one more sample must not shift which samples are drawn
    qtbot.waitUntil(lambda: graph.frames_drawn == 2, timeout=WAIT_MS)
    newest = game.buffers.tracking_series(1).timestamp[-1]
    after = set(np.round(graph.position_curves[0].xData + newest, 6))
    assert len(before & after) >= len(before) - 1


def test_axis_range_moves_only_on_a_noticeable_change():
    axis = AxisRange(min_span=1.0, padding=0.1)
    first = axis.follow(0.0, 10.0)
    assert first == pytest.approx((-1.0, 11.0))
    assert axis.follow(1.0, 9.0) is None  # inside, and uses most of it
    grown = axis.follow(0.0, 20.0)  # data left the range: grow at once
    assert grown is not None and grown[1] >= 20.0
    shrunk = axis.follow(4.0, 5.0)  # data uses a small part: shrink
    assert shrunk is not None and shrunk[1] - shrunk[0] < 5.0
    assert AxisRange(min_span=5.0, floor=0.0).follow(0.0, 1.0)[0] == 0.0
    assert axis.follow(math.nan, 1.0) is None


def test_redraw_rate_is_capped_at_30_hz(qtbot, game):
    graph = performance_graph(qtbot, game)
    assert graph.timer.interval() == 33
    graph.set_redraw_rate(10.0)
    assert graph.timer.interval() == 100
    with pytest.raises(ValueError):
        graph.set_redraw_rate(60.0)
