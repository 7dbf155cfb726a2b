"""Ring buffers: capacity, wraparound, newest-N in time order, NaN for absent devices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spacetime_panel.telemetry.buffers import DEFAULT_CAPACITY, Ring, TelemetryBuffers
from spacetime_panel.telemetry.codec import FpsSample, Pose, TrackingSample


def fps(i: int) -> FpsSample:
    return FpsSample(float(i), 90.0 + i, 11.0 + i, 4.0 + i, 1.0 + i)


def test_default_capacity_holds_ten_minutes_at_144_hz() -> None:
    assert DEFAULT_CAPACITY >= 10 * 60 * 144
    assert TelemetryBuffers().capacity == DEFAULT_CAPACITY


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


def test_series_are_contiguous_float64_views_without_copies() -> None:
    buffers = TelemetryBuffers(capacity=16)
    for i in range(37):
        buffers.append_fps(fps(i))
    series = buffers.fps_series(10)
    for array in (series.timestamp, series.fps, series.physics_time_ms):
        assert array.dtype == np.float64
        assert array.flags["C_CONTIGUOUS"]
        assert not array.flags["OWNDATA"]  # a view: the UI's redraw copies nothing


def test_asking_for_more_than_held_gives_what_is_held() -> None:
    ring = Ring(2, 4)
    ring.append((1.0, 2.0))
    assert ring.last(100).shape == (2, 1)
    assert ring.last(0).shape == (2, 0)
    assert ring.last(-3).shape == (2, 0)


def test_tracking_poses_and_absent_devices_are_nan() -> None:
    buffers = TelemetryBuffers(capacity=4)
    head = Pose((0.1, 1.7, 2.0), (0.0, 0.1, 0.0, 0.99))
    hand = Pose((0.3, 1.2, 1.8), (0.5, 0.5, 0.5, 0.5))
    for i in range(6):
        buffers.append_tracking(TrackingSample(float(i), head, None if i % 2 else hand, hand))
    series = buffers.tracking_series()
    assert series.timestamp.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert series.headset_position.shape == (3, 4)
    assert series.headset_position[:, 0].tolist() == [0.1, 1.7, 2.0]
    assert series.headset_rotation[:, -1].tolist() == [0.0, 0.1, 0.0, 0.99]
    assert series.right_rotation[:, 1].tolist() == [0.5, 0.5, 0.5, 0.5]
    # Odd samples had no left controller: NaN (a gap in the plot), even ones a pose.
    assert all(math.isnan(v) for v in series.left_position[:, 1])
    assert series.left_position[:, 2].tolist() == [0.3, 1.2, 1.8]
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
