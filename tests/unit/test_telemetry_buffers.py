"""Ring buffers: capacity, wraparound, newest-N in time order, NaN for absent devices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spacetime_panel.telemetry.buffers import DEFAULT_CAPACITY, Ring, TelemetryBuffers
from spacetime_panel.telemetry.codec import FpsSample, Pose, TrackingSample


def fps(i: int) -> FpsSample:
    return FpsSample(float(i), 90.0 + i, 11.0 + i, 4.0 + i, 1.0 + i)


def test_default_capacity_holds_the_longest_graph_window_at_144_hz() -> None:
    assert DEFAULT_CAPACITY >= 5 * 60 * 144  # the graphs' "5 min" window
    assert TelemetryBuffers().capacity == DEFAULT_CAPACITY


def test_default_buffers_take_about_11_mb() -> None:
    # Mirrored: a float64 timestamp and 4 float64 timings, a float64 timestamp and 21
    # float32 pose values, twice per sample (docs/bounds.md).
    buffers = TelemetryBuffers()
    per_sample = 2 * ((8 + 4 * 8) + (8 + 21 * 4))
    assert buffers.nbytes == DEFAULT_CAPACITY * per_sample
    assert buffers.nbytes < 12_000_000


def test_empty_buffers_give_empty_series() -> None:
    buffers = TelemetryBuffers(capacity=8)
    assert len(buffers.fps_series().timestamp) == 0
    assert buffers.tracking_series(5).headset_position.shape == (3, 0)


@pytest.mark.parametrize("count", [1, 5, 8, 9, 16, 17, 50])
def test_newest_samples_in_time_order_across_wraparound(count: int) -> None:
    buffers = TelemetryBuffers(capacity=8)
    for i in range(count):
        buffers.append_fps(fps(i))
    held = min(count, 8)
    series = buffers.fps_series()
    assert series.timestamp.tolist() == [float(i) for i in range(count - held, count)]
    assert series.frame_time_ms.tolist() == [11.0 + i for i in range(count - held, count)]
    last3 = buffers.fps_series(3)
    assert last3.fps.tolist() == [90.0 + i for i in range(max(0, count - 3), count)]
    assert buffers.fps.total == count and len(buffers.fps) == held


def test_series_are_contiguous_views_without_copies() -> None:
    buffers = TelemetryBuffers(capacity=16)
    pose = Pose((0.1, 1.7, 2.0), (0.0, 0.1, 0.0, 0.99))
    for i in range(37):
        buffers.append_fps(fps(i))
        buffers.append_tracking(TrackingSample(float(i), pose, pose, None))
    series = buffers.fps_series(10)
    tracking = buffers.tracking_series(10)
    arrays = (series.timestamp, series.fps, series.physics_time_ms, tracking.timestamp)
    for array in (*arrays, tracking.headset_position[0], tracking.right_rotation[3]):
        assert array.flags["C_CONTIGUOUS"]
        assert not array.flags["OWNDATA"]  # a view: the UI's redraw copies nothing
    # Timestamps and timings float64 (statistics, the API), poses float32 (the graphs).
    for array in arrays:
        assert array.dtype == np.float64
    assert tracking.headset_position.dtype == np.float32


def test_timestamps_keep_float64_precision_next_to_float32_poses() -> None:
    # Game clocks count seconds since 1970: float32 would round these to 128 s steps.
    buffers = TelemetryBuffers(capacity=4)
    pose = Pose((0.1, 1.7, 2.0), (0.0, 0.0, 0.0, 1.0))
    for t in (1_700_000_000.001, 1_700_000_000.008):
        buffers.append_tracking(TrackingSample(t, pose, None, None))
    assert buffers.tracking_series().timestamp.tolist() == [1_700_000_000.001, 1_700_000_000.008]


def test_asking_for_more_than_held_gives_what_is_held() -> None:
    ring = Ring(2, 4)
    ring.append(1.0, (2.0, 3.0))
    times, values = ring.last(100)
    assert times.tolist() == [1.0] and values.tolist() == [[2.0], [3.0]]
    assert ring.last(0)[1].shape == (2, 0)
    assert ring.last(-3)[0].shape == (0,)


def test_tracking_poses_and_absent_devices_are_nan() -> None:
    buffers = TelemetryBuffers(capacity=4)
    head = Pose((0.1, 1.7, 2.0), (0.0, 0.1, 0.0, 0.99))
    hand = Pose((0.3, 1.2, 1.8), (0.5, 0.5, 0.5, 0.5))
    for i in range(6):
        buffers.append_tracking(TrackingSample(float(i), head, None if i % 2 else hand, hand))
    series = buffers.tracking_series()
    assert series.timestamp.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert series.headset_position.shape == (3, 4)
    # Poses are float32: equal to the sent values as float32.
    np.testing.assert_array_equal(series.headset_position[:, 0], np.float32([0.1, 1.7, 2.0]))
    np.testing.assert_array_equal(series.headset_rotation[:, -1], np.float32([0, 0.1, 0, 0.99]))
    assert series.right_rotation[:, 1].tolist() == [0.5, 0.5, 0.5, 0.5]
    # Odd samples had no left controller: NaN (a gap in the plot), even ones a pose.
    assert all(math.isnan(v) for v in series.left_position[:, 1])
    np.testing.assert_array_equal(series.left_position[:, 2], np.float32([0.3, 1.2, 1.8]))
    assert series.left_position[0].flags["C_CONTIGUOUS"]


def test_clear_forgets_everything() -> None:
    buffers = TelemetryBuffers(capacity=4)
    for i in range(7):
        buffers.append_fps(fps(i))
    buffers.clear()
    assert len(buffers.fps_series().fps) == 0
    buffers.append_fps(fps(99))
    assert buffers.fps_series().timestamp.tolist() == [99.0]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Ring(1, 0)
