"""Record a telemetry session to CSV, one row per sample.

Columns (stable; new ones will only ever be appended at the end)::

    timestamp,event,fps,frame_time_ms,process_time_ms,physics_time_ms,
    hx,hy,hz,hqx,hqy,hqz,hqw,lx,ly,lz,lqx,lqy,lqz,lqw,rx,ry,rz,rqx,rqy,rqz,rqw

- ``timestamp``: the game's timestamp (seconds since the epoch).
- ``event``: ``fps`` or ``vr_tracking``. An ``fps`` row fills the four timing
  columns (milliseconds, fps) and leaves the pose columns empty; a
  ``vr_tracking`` row leaves the timing columns empty and fills the poses:
  ``h`` headset, ``l`` left controller, ``r`` right controller; ``x, y, z``
  position in metres, ``qx, qy, qz, qw`` rotation quaternion. A device that
  was not tracked leaves its seven cells empty.

Only decoded (valid) samples are written; other events are ignored. Rows are
buffered and flushed every ``flush_interval`` seconds (and on stop), not per
row: at 288 rows/s a flush per row would cost more than the decoding.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from spacetime_panel.telemetry.codec import FpsSample, Pose, TelemetryEvent, TrackingSample

COLUMNS: tuple[str, ...] = (
    "timestamp",
    "event",
    "fps",
    "frame_time_ms",
    "process_time_ms",
    "physics_time_ms",
    *(f"{device}{axis}" for device in "hlr" for axis in ("x", "y", "z", "qx", "qy", "qz", "qw")),
)
_NO_POSE: tuple[str, ...] = ("",) * 7
_NO_TIMING: tuple[str, ...] = ("",) * 4


class RecordingError(Exception):
    """The CSV file cannot be written; the message is one line for the user."""


def _pose_cells(pose: Pose | None) -> tuple[float | str, ...]:
    return _NO_POSE if pose is None else pose.position + pose.rotation


class CsvRecorder:
    """Writes fps and tracking samples to a CSV file between :meth:`start` and :meth:`stop`.

    ``write`` is meant to be the client's ``on_event`` (or called from it). A
    write error mid-session (disk full) stops the recording and is kept in
    :attr:`error` rather than raised into the telemetry client.
    """

    def __init__(
        self, *, flush_interval: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._flush_interval = flush_interval
        self._clock = clock
        self._file: TextIO | None = None
        self._csv: Any = None  # csv.writer's type is private to _csv
        self._next_flush = 0.0
        self.path: Path | None = None
        self.rows = 0
        self.error: str | None = None

    @property
    def recording(self) -> bool:
        return self._file is not None

    def start(self, path: str | Path) -> None:
        """Open ``path`` (truncating it) and write the header; raises RecordingError."""
        self.stop()
        target = Path(path)
        try:
            handle = target.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise RecordingError(
                f"cannot write telemetry CSV to {target}: {reason}; choose a writable path"
            ) from None
        self._file = handle
        self._csv = csv.writer(handle)
        self._csv.writerow(COLUMNS)
        self.path = target
        self.rows = 0
        self.error = None
        self._next_flush = self._clock() + self._flush_interval

    def write(self, event: TelemetryEvent) -> None:
        """Append a row for an fps or tracking sample; anything else is ignored."""
        if self._file is None:
            return
        if type(event) is FpsSample:
            row: tuple[float | str, ...] = (
                event.timestamp,
                "fps",
                event.fps,
                event.frame_time_ms,
                event.process_time_ms,
                event.physics_time_ms,
                *_NO_POSE * 3,
            )
        elif type(event) is TrackingSample:
            row = (
                event.timestamp,
                "vr_tracking",
                *_NO_TIMING,
                *_pose_cells(event.headset),
                *_pose_cells(event.left_controller),
                *_pose_cells(event.right_controller),
            )
        else:
            return
        try:
            self._csv.writerow(row)
            self.rows += 1
            now = self._clock()
            if now >= self._next_flush:
                self._file.flush()
                self._next_flush = now + self._flush_interval
        except OSError as exc:
            self.error = f"telemetry CSV {self.path}: {exc.strerror or exc}; recording stopped"
            self._close()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def stop(self) -> None:
        """Flush and close the file; a no-op when not recording."""
        if self._file is None:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self.error = f"telemetry CSV {self.path}: {exc.strerror or exc}"
        self._close()

    def _close(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            try:
                handle.close()
            except OSError as exc:
                self.error = self.error or f"telemetry CSV {self.path}: {exc.strerror or exc}"

    def __enter__(self) -> CsvRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
