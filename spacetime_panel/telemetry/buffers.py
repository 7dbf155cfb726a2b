"""Fixed-size, preallocated numpy ring buffers for the telemetry graphs.

Built for pyqtgraph's scrolling plots: the UI redraws from a timer and asks
for the last N samples of each series as contiguous float64 arrays in time
order. To hand those out without copying, each buffer is "mirrored": a
sample is written at slot ``i`` and at slot ``i + capacity`` of an array
twice the capacity long, so the newest N samples are always one contiguous
slice, whatever the write position. Appending allocates nothing beyond the
small tuple handed to numpy; reading allocates only the view objects.

Layout: one row per series (``series x 2*capacity``), so each series' slice
is contiguous in memory. Memory: 8 bytes x 2 x capacity x 27 series, about
37 MB at the default capacity (10 minutes at 144 Hz).

Only decoded samples (:class:`FpsSample`, :class:`TrackingSample`) can be
appended, so only valid samples ever enter. An absent device is NaN, which
pyqtgraph draws as a gap (``connect="finite"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from spacetime_panel.telemetry.codec import FpsSample, Pose, TrackingSample

FloatArray = npt.NDArray[np.float64]

DEFAULT_CAPACITY = 86_400  # 10 minutes at 144 Hz
_NAN_POSE = (np.nan,) * 7


class Ring:
    """A mirrored ring of ``width`` float64 series sharing one write position."""

    def __init__(self, width: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self.width = width
        self._data: FloatArray = np.full((width, 2 * capacity), np.nan, dtype=np.float64)
        self._next = 0  # slot in 0..capacity-1 of the next write
        self.total = 0  # samples ever appended

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def append(self, row: tuple[float, ...]) -> None:
        """Write one sample (``width`` values) at the write position and its mirror."""
        slot = self._next
        data = self._data
        data[:, slot] = row
        data[:, slot + self.capacity] = data[:, slot]
        slot += 1
        self._next = 0 if slot == self.capacity else slot
        self.total += 1

    def last(self, n: int | None = None) -> FloatArray:
        """The newest ``n`` samples (all held, if None) as a ``width x n`` view, oldest first.

        A view into the buffer: valid until the next append. Copy it to keep it.
        """
        held = len(self)
        count = held if n is None else max(0, min(n, held))
        end = self._next + self.capacity  # one past the newest sample's mirror slot
        return self._data[:, end - count : end]

    def clear(self) -> None:
        """Forget every sample (keeps the allocation)."""
        self._data.fill(np.nan)
        self._next = 0
        self.total = 0


@dataclass(frozen=True, slots=True)
class FpsSeries:
    """The newest fps samples: 1-D views, oldest first, all the same length."""

    timestamp: FloatArray
    fps: FloatArray
    frame_time_ms: FloatArray
    process_time_ms: FloatArray
    physics_time_ms: FloatArray


@dataclass(frozen=True, slots=True)
class TrackingSeries:
    """The newest tracking samples; positions are ``3 x n``, rotations ``4 x n`` (x, y, z, w).

    Each row (one coordinate over time) is contiguous; NaN where a device was absent.
    """

    timestamp: FloatArray
    headset_position: FloatArray
    headset_rotation: FloatArray
    left_position: FloatArray
    left_rotation: FloatArray
    right_position: FloatArray
    right_rotation: FloatArray


def _pose_values(pose: Pose | None) -> tuple[float, ...]:
    return _NAN_POSE if pose is None else pose.position + pose.rotation


class TelemetryBuffers:
    """Ring buffers for frame timing and tracking poses (``capacity`` samples each).

    The fps and tracking streams are separate rings because they are separate
    events, each with its own timestamps.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.fps = Ring(5, capacity)  # timestamp, fps, frame, process, physics
        self.tracking = Ring(22, capacity)  # timestamp, 3 x (position 3, rotation 4)

    def append_fps(self, sample: FpsSample) -> None:
        self.fps.append(
            (
                sample.timestamp,
                sample.fps,
                sample.frame_time_ms,
                sample.process_time_ms,
                sample.physics_time_ms,
            )
        )

    def append_tracking(self, sample: TrackingSample) -> None:
        self.tracking.append(
            (
                sample.timestamp,
                *_pose_values(sample.headset),
                *_pose_values(sample.left_controller),
                *_pose_values(sample.right_controller),
            )
        )

    def fps_series(self, n: int | None = None) -> FpsSeries:
        """The newest ``n`` fps samples (all, if None); views valid until the next append."""
        rows = self.fps.last(n)
        return FpsSeries(rows[0], rows[1], rows[2], rows[3], rows[4])

    def tracking_series(self, n: int | None = None) -> TrackingSeries:
        """The newest ``n`` tracking samples (all, if None); views valid until the next append."""
        rows = self.tracking.last(n)
        return TrackingSeries(
            rows[0], rows[1:4], rows[4:8], rows[8:11], rows[11:15], rows[15:18], rows[18:22]
        )

    def clear(self) -> None:
        self.fps.clear()
        self.tracking.clear()
