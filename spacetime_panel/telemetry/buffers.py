"""Fixed-size, preallocated numpy ring buffers for the telemetry graphs.

Built for pyqtgraph's scrolling plots: the UI redraws from a timer and asks
for the last N samples of each series as contiguous arrays in time order. To
hand those out without copying, each buffer is "mirrored": a sample is
written at slot ``i`` and at slot ``i + capacity`` of arrays twice the
capacity long, so the newest N samples are always one contiguous slice,
whatever the write position. Appending allocates nothing beyond the small
tuple handed to numpy; reading allocates only the view objects.

Layout: the timestamps in one float64 row, the values in one row per series
(``series x 2*capacity``), so each series' slice is contiguous in memory.
Timestamps stay float64 (game-clock seconds since 1970 need its 53 bits:
float32 would round them to minutes). Frame timings are float64 too: the
statistics (percentiles, the API's figures) are computed from them. Poses
are float32: 7 significant digits are a tenth of a millimetre at 1 km, far
below what the headset graph can draw, and they are 21 of the 27 series.

Memory at the default capacity (5 minutes at 144 Hz, the graphs' longest
window), mirrored: fps 5 x 8 B, tracking 8 B + 21 x 4 B a sample, so
2 x 43,200 x (40 + 92) B, about 11 MB (before: 10 minutes, all float64,
37 MB).

Only decoded samples (:class:`FpsSample`, :class:`TrackingSample`) can be
appended, so only valid samples ever enter. An absent device is NaN, which
pyqtgraph draws as a gap (``connect="finite"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from spacetime_panel.telemetry.codec import FpsSample, Pose, TrackingSample

FloatArray = npt.NDArray[np.float64]
#: The values of a ring: float64 (frame timings) or float32 (poses).
ValueArray = npt.NDArray[np.floating[Any]]

DEFAULT_CAPACITY = 43_200  # 5 minutes at 144 Hz: the graphs' longest window
_NAN_POSE = (np.nan,) * 7


class Ring:
    """A mirrored ring of samples: a float64 timestamp and ``width`` values each.

    ``dtype`` is the values' type (float64 or float32); the timestamps are
    always float64. All share one write position.
    """

    def __init__(
        self, width: int, capacity: int, *, dtype: type[np.floating[Any]] = np.float64
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self.width = width
        self._times: FloatArray = np.full(2 * capacity, np.nan, dtype=np.float64)
        self._values: ValueArray = np.full((width, 2 * capacity), np.nan, dtype=dtype)
        self._next = 0  # slot in 0..capacity-1 of the next write
        self.total = 0  # samples ever appended

    @property
    def nbytes(self) -> int:
        """The memory the ring holds (both halves of the mirror)."""
        return self._times.nbytes + self._values.nbytes

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def append(self, timestamp: float, values: tuple[float, ...]) -> None:
        """Write one sample (its time and ``width`` values) at the write position and its mirror."""
        slot = self._next
        mirror = slot + self.capacity
        self._times[slot] = self._times[mirror] = timestamp
        column = self._values[:, slot]
        column[:] = values
        self._values[:, mirror] = column
        slot += 1
        self._next = 0 if slot == self.capacity else slot
        self.total += 1

    def last(self, n: int | None = None) -> tuple[FloatArray, ValueArray]:
        """The newest ``n`` samples (all held, if None): times (n) and values (``width x n``).

        Views into the buffer, oldest first: valid until the next append. Copy them to keep them.
        """
        held = len(self)
        count = held if n is None else max(0, min(n, held))
        end = self._next + self.capacity  # one past the newest sample's mirror slot
        return self._times[end - count : end], self._values[:, end - count : end]

    def clear(self) -> None:
        """Forget every sample (keeps the allocation)."""
        self._times.fill(np.nan)
        self._values.fill(np.nan)
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

    Timestamps are float64, poses float32. Each row (one coordinate over time)
    is contiguous; NaN where a device was absent.
    """

    timestamp: FloatArray
    headset_position: ValueArray
    headset_rotation: ValueArray
    left_position: ValueArray
    left_rotation: ValueArray
    right_position: ValueArray
    right_rotation: ValueArray


def _pose_values(pose: Pose | None) -> tuple[float, ...]:
    return _NAN_POSE if pose is None else pose.position + pose.rotation


class TelemetryBuffers:
    """Ring buffers for frame timing and tracking poses (``capacity`` samples each).

    The fps and tracking streams are separate rings because they are separate
    events, each with its own timestamps.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.fps = Ring(4, capacity)  # fps, frame, process, physics (float64)
        self.tracking = Ring(21, capacity, dtype=np.float32)  # 3 x (position 3, rotation 4)

    @property
    def nbytes(self) -> int:
        """The memory both rings hold."""
        return self.fps.nbytes + self.tracking.nbytes

    def append_fps(self, sample: FpsSample) -> None:
        self.fps.append(
            sample.timestamp,
            (
                sample.fps,
                sample.frame_time_ms,
                sample.process_time_ms,
                sample.physics_time_ms,
            ),
        )

    def append_tracking(self, sample: TrackingSample) -> None:
        self.tracking.append(
            sample.timestamp,
            (
                *_pose_values(sample.headset),
                *_pose_values(sample.left_controller),
                *_pose_values(sample.right_controller),
            ),
        )

    def fps_series(self, n: int | None = None) -> FpsSeries:
        """The newest ``n`` fps samples (all, if None); views valid until the next append."""
        times, rows = self.fps.last(n)
        values = rows.astype(np.float64, copy=False)  # already float64: the same view
        return FpsSeries(times, values[0], values[1], values[2], values[3])

    def tracking_series(self, n: int | None = None) -> TrackingSeries:
        """The newest ``n`` tracking samples (all, if None); views valid until the next append."""
        times, rows = self.tracking.last(n)
        return TrackingSeries(
            times, rows[0:3], rows[3:7], rows[7:10], rows[10:14], rows[14:17], rows[17:21]
        )

    def clear(self) -> None:
        self.fps.clear()
        self.tracking.clear()
