"""`spacetime-panel telemetry`: the game's telemetry in a terminal, as text or JSON lines.

The guide's `telemetry_client.py`, better: rolling FPS and frame-time
percentiles against the refresh budget, the headset's position, rejected
frames and the last error, redrawn in place on a terminal (a line a second
when piped). `--json` prints one summary object per second; `--record`
writes every sample to CSV while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from spacetime_panel.telemetry import (
    CsvRecorder,
    RecordingError,
    TelemetryClient,
    TelemetryStats,
    TelemetrySummary,
)


def headset_position(client: TelemetryClient) -> tuple[float, float, float] | None:
    series = client.buffers.tracking_series(1)
    if series.timestamp.size == 0:
        return None
    x, y, z = (float(v) for v in series.headset_position[:, -1])
    return None if math.isnan(x) else (x, y, z)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(url: str, summary: TelemetrySummary, headset: tuple[float, ...] | None) -> list[str]:
    """The console view: five lines."""
    hello = summary.hello or {}
    who = ""
    if hello:
        who = f"  pid {hello.get('pid')}, Godot {hello.get('godot_version')}"
    over = "-" if summary.over_budget_share is None else f"{summary.over_budget_share:.1%}"
    position = "-"
    if headset is not None:
        position = "  ".join(f"{c} {v:+.2f}" for c, v in zip("xyz", headset, strict=True))
    error = summary.last_error
    return [
        f"telemetry {url}  {summary.state}{who}  {summary.messages_per_s:.0f} msg/s",
        f"FPS       now {_num(summary.fps_now)}  avg {_num(summary.fps_avg)}  "
        f"min {_num(summary.fps_min)}",
        f"frame     p50 {_ms(summary.frame_time_p50_ms)}  p95 {_ms(summary.frame_time_p95_ms)}  "
        f"p99 {_ms(summary.frame_time_p99_ms)}  budget {summary.budget_ms:.1f} ms "
        f"({summary.refresh_hz:g} Hz)  over {over}  dropped {summary.dropped_frames}",
        f"headset   {position} m",
        f"problems  rejected {summary.invalid_total}  "
        f"last error: {'-' if error is None else f'{error.source}: {error.message}'}",
    ]


def summary_json(summary: TelemetrySummary, headset: tuple[float, ...] | None) -> dict[str, Any]:
    return {**summary.to_json(), "headset_position": headset, "time": time.time()}


async def run_telemetry(
    url: str,
    *,
    duration: float | None,
    as_json: bool,
    record: Path | None,
    refresh_hz: float,
    out: TextIO = sys.stdout,
) -> int:
    """Show telemetry until `duration` runs out or Ctrl+C. Exit 1 if no sample ever came."""
    recorder: CsvRecorder | None = None
    if record is not None:
        recorder = CsvRecorder()
        try:
            recorder.start(record)
        except RecordingError as error:
            print(f"spacetime-panel: {error}", file=sys.stderr)
            return 2
    client = TelemetryClient(url, stats=TelemetryStats(refresh_hz=refresh_hz), recorder=recorder)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    live = out.isatty() and not as_json
    interval = 0.5 if live else 1.0
    deadline = None if duration is None else time.monotonic() + duration
    drawn = 0
    client.start()
    try:
        while not stop.is_set():
            wait = interval if deadline is None else min(interval, deadline - time.monotonic())
            if wait <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            summary, headset = client.summary(), headset_position(client)
            if as_json:
                print(json.dumps(summary_json(summary, headset)), file=out, flush=True)
                continue
            lines = render(url, summary, headset)
            if live and drawn:
                out.write(f"\x1b[{drawn}F")  # back to the first line of the last block
            for line in lines:
                out.write(("\x1b[2K" if live else "") + line + "\n")
            out.flush()
            drawn = len(lines)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await client.stop()
        if recorder is not None:
            recorder.stop()
            print(f"recorded {recorder.rows} samples to {record}", file=sys.stderr)
    return 0 if client.buffers.fps_series(1).timestamp.size else 1
