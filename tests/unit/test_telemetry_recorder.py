"""CSV recording: stable columns, one row per sample, clean error for a bad path."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from spacetime_panel.telemetry.codec import ErrorEvent, FpsSample, Pose, TrackingSample
from spacetime_panel.telemetry.recorder import COLUMNS, CsvRecorder, RecordingError

HEAD = Pose((0.1, 1.7, 2.0), (0.0, 0.1, 0.0, 0.995))
HAND = Pose((0.3, 1.2, 1.8), (0.5, 0.5, 0.5, 0.5))


def read(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_columns_are_the_documented_ones() -> None:
    assert ",".join(COLUMNS) == (
        "timestamp,event,fps,frame_time_ms,process_time_ms,physics_time_ms,"
        "hx,hy,hz,hqx,hqy,hqz,hqw,lx,ly,lz,lqx,lqy,lqz,lqw,rx,ry,rz,rqx,rqy,rqz,rqw"
    )


def test_rows_for_fps_and_tracking_samples_only(tmp_path: Path) -> None:
    path = tmp_path / "session.csv"
    recorder = CsvRecorder()
    recorder.write(FpsSample(1.0, 90.0, 11.1, 4.2, 1.1))  # not recording yet: ignored
    recorder.start(path)
    assert recorder.recording
    recorder.write(FpsSample(2.0, 90.0, 11.1, 4.2, 1.1))
    recorder.write(TrackingSample(2.5, HEAD, None, HAND))
    recorder.write(ErrorEvent(3.0, "boom", "x.gd"))  # not a sample: no row
    recorder.stop()
    recorder.write(FpsSample(4.0, 90.0, 11.1, 4.2, 1.1))  # stopped: ignored
    assert not recorder.recording and recorder.rows == 2

    header, fps_row, tracking_row = read(path)
    assert header == list(COLUMNS)
    row = dict(zip(COLUMNS, fps_row, strict=True))
    assert (row["timestamp"], row["event"], row["fps"], row["frame_time_ms"]) == (
        "2.0",
        "fps",
        "90.0",
        "11.1",
    )
    assert row["hx"] == "" and row["rqw"] == ""
    row = dict(zip(COLUMNS, tracking_row, strict=True))
    assert row["event"] == "vr_tracking" and row["fps"] == ""
    assert [float(row[c]) for c in ("hx", "hy", "hz", "hqw")] == [0.1, 1.7, 2.0, 0.995]
    assert [row[c] for c in ("lx", "lqw")] == ["", ""]  # left controller absent
    assert float(row["rqx"]) == 0.5


def test_rows_are_flushed_on_the_interval_not_per_row(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "s.csv"
    recorder = CsvRecorder(flush_interval=1.0, clock=lambda: now[0])
    recorder.start(path)
    recorder.write(FpsSample(1.0, 90.0, 11.1, 4.2, 1.1))
    assert len(read(path)) <= 1  # header at most: nothing flushed yet
    now[0] = 1.5
    recorder.write(FpsSample(2.0, 90.0, 11.1, 4.2, 1.1))
    assert len(read(path)) == 3
    recorder.stop()


def test_restart_truncates_and_starts_a_new_file(tmp_path: Path) -> None:
    recorder = CsvRecorder()
    with recorder:
        recorder.start(tmp_path / "a.csv")
        recorder.write(FpsSample(1.0, 90.0, 11.1, 4.2, 1.1))
        recorder.start(tmp_path / "b.csv")
        recorder.write(FpsSample(2.0, 90.0, 11.1, 4.2, 1.1))
    assert len(read(tmp_path / "a.csv")) == 2
    assert read(tmp_path / "b.csv")[1][0] == "2.0"


def test_unwritable_path_raises_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "session.csv"
    with pytest.raises(RecordingError) as caught:
        CsvRecorder().start(target)
    message = str(caught.value)
    assert "\n" not in message
    assert str(target) in message and "writable" in message
    assert caught.value.__cause__ is None


def test_a_directory_is_not_a_csv_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot write telemetry CSV"):
        CsvRecorder().start(tmp_path)
