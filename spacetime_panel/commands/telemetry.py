"""`spacetime-panel telemetry`: the game's telemetry in a terminal, as text or JSON lines.

The guide's `telemetry_client.py`, better: rolling FPS and frame-time
percentiles against the refresh budget, the headset's position, rejected
frames and the last error, redrawn in place on a terminal (a line a second
when piped). `--json` prints one summary object per second; `--record`
writes every sample to CSV while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from spacetime_panel.commands.arguments import positive_seconds, websocket_url
from spacetime_panel.commands.common import (
    EXIT_USAGE,
    Subcommands,
    fail,
    settings_from,
    where_flags,
)
from spacetime_panel.config import ConfigError
from spacetime_panel.service.stop_signals import on_stop_signals
from spacetime_panel.telemetry import (
    ConnectionState,
    CsvRecorder,
    RecordingError,
    TelemetryClient,
    TelemetryStats,
    TelemetrySummary,
)

#: The WebSocket handshake's wait when the command runs at most `duration` seconds:
#: short enough that a peer which accepts and never answers is named within it.
OPEN_TIMEOUT = 5.0


def add_parser(commands: Subcommands) -> None:
    telemetry = commands.add_parser(
        "telemetry",
        help="the game's live telemetry: FPS, frame times, headset, errors",
        description="Connect to the game's telemetry WebSocket (reconnecting by itself) and "
        "show rolling statistics; exit 1 if no sample arrived.",
    )
    where_flags(telemetry)
    telemetry.add_argument(
        "--url", type=websocket_url, help="ws://HOST:PORT (default: the configured telemetry port)"
    )
    telemetry.add_argument("--duration", type=positive_seconds, help="stop after this many seconds")
    telemetry.add_argument("--json", action="store_true", help="one JSON summary per second")
    telemetry.add_argument("--record", type=Path, metavar="FILE.csv", help="write samples to CSV")
    telemetry.add_argument(
        "--refresh-rate", type=int, choices=(72, 90, 120, 144), help="headset refresh rate (Hz)"
    )
    telemetry.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args, launching=False)
    except ConfigError as error:
        return fail(str(error), EXIT_USAGE)
    url = args.url or f"ws://127.0.0.1:{settings.ports.telemetry}"
    if url.startswith("wss://"):
        print(
            "spacetime-panel telemetry: argument --url: wss:// is not supported: the "
            "game's telemetry is plain ws:// on 127.0.0.1",
            file=sys.stderr,
        )
        return EXIT_USAGE
    refresh = args.refresh_rate or settings.telemetry.refresh_rate_hz
    return asyncio.run(
        run_telemetry(
            url, duration=args.duration, as_json=args.json, record=args.record,
            refresh_hz=refresh,
        )
    )  # fmt: skip


def connection_problem(last_error: str | None) -> str | None:
    """The client's last connection error in the user's words: refused, timed out,
    not a WebSocket (with the HTTP status it answered), 401; None when there was none.

    Reads `TelemetryClient.last_error` (`ConnectionRefusedError: ...`, `TimeoutError: ...`,
    `ConnectionError: handshake refused: ... HTTP 404`, a close reason, ...).
    """
    if not last_error:
        return None
    text = " ".join(last_error.split())
    lowered = text.lower()
    status = re.search(r"\bhttp (\d{3})\b", lowered)
    if "handshake" in lowered or status is not None:
        if status is not None and status.group(1) == "401":
            return "refused with HTTP 401 Unauthorized: the telemetry server wants a key"
        if status is not None:
            return f"not a WebSocket: the server answered HTTP {status.group(1)}"
        detail = text.split("handshake refused:", 1)[-1].strip()
        return f"not a WebSocket: {detail}"
    if lowered.startswith("connectionrefusederror") or "connect call failed" in lowered:
        return "connection refused: nothing listens there (is the game running?)"
    if lowered.startswith("timeouterror"):
        return "timed out: no WebSocket handshake in time"
    return text if len(text) <= 200 else text[:197] + "..."


def headset_position(client: TelemetryClient) -> tuple[float, float, float] | None:
    series = client.buffers.tracking_series(1)
    if series.timestamp.size == 0:
        return None
    # Poses are float32 in the ring buffers: 6 decimals (a micrometre) say what they hold.
    x, y, z = (round(float(v), 6) for v in series.headset_position[:, -1])
    return None if math.isnan(x) else (x, y, z)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(
    url: str,
    summary: TelemetrySummary,
    headset: tuple[float, ...] | None,
    problem: str | None = None,
) -> list[str]:
    """The console view: five lines; `problem` (connection_problem) while not connected."""
    hello = summary.hello or {}
    who = ""
    if hello:
        who = f"  pid {hello.get('pid')}, Godot {hello.get('godot_version')}"
    over = "-" if summary.over_budget_share is None else f"{summary.over_budget_share:.1%}"
    position = "-"
    if headset is not None:
        position = "  ".join(f"{c} {v:+.2f}" for c, v in zip("xyz", headset, strict=True))
    error = summary.last_error
    state = summary.state
    if problem is not None and state != "connected":
        state = f"{state} ({problem})"
    return [
        f"telemetry {url}  {state}{who}  {summary.messages_per_s:.0f} msg/s",
        f"FPS       now {_num(summary.fps_now)}  avg {_num(summary.fps_avg)}  "
        f"min {_num(summary.fps_min)}",
        f"frame     p50 {_ms(summary.frame_time_p50_ms)}  p95 {_ms(summary.frame_time_p95_ms)}  "
        f"p99 {_ms(summary.frame_time_p99_ms)}  budget {summary.budget_ms:.1f} ms "
        f"({summary.refresh_hz:g} Hz)  over {over}  dropped {summary.dropped_frames}",
        f"headset   {position} m",
        f"problems  rejected {summary.invalid_total}  "
        f"last error: {'-' if error is None else f'{error.source}: {error.message}'}",
    ]


def summary_json(
    summary: TelemetrySummary, headset: tuple[float, ...] | None, problem: str | None = None
) -> dict[str, Any]:
    """One `--json` line: the summary, the headset, and the last connection error."""
    return {
        **summary.to_json(),
        "headset_position": headset,
        "connection_error": problem,
        "time": time.time(),
    }


def never_connected(url: str, client: TelemetryClient) -> str:
    """The one line that says why no sample came."""
    problem = connection_problem(client.last_error)
    if problem is None:
        if client.state is ConnectionState.CONNECTED:
            problem = "connected, but the game sent no FPS sample"
        else:
            problem = "timed out: no WebSocket handshake in time"
    return f"spacetime-panel: no telemetry from {url}: {problem}"


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
    open_timeout = OPEN_TIMEOUT if duration is None else max(0.2, min(OPEN_TIMEOUT, duration / 2))
    client = TelemetryClient(
        url,
        stats=TelemetryStats(refresh_hz=refresh_hz),
        recorder=recorder,
        open_timeout=open_timeout,
    )
    stop = asyncio.Event()
    undo_signals = on_stop_signals(asyncio.get_running_loop(), stop.set)
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
            problem = connection_problem(client.last_error)
            if as_json:
                print(json.dumps(summary_json(summary, headset, problem)), file=out, flush=True)
                continue
            lines = render(url, summary, headset, problem)
            if live and drawn:
                out.write(f"\x1b[{drawn}F")  # back to the first line of the last block
            for line in lines:
                out.write(("\x1b[2K" if live else "") + line + "\n")
            out.flush()
            drawn = len(lines)
    finally:
        undo_signals()
        await client.stop()
        if recorder is not None:
            recorder.stop()
            print(f"recorded {recorder.rows} samples to {record}", file=sys.stderr)
    if client.buffers.fps_series(1).timestamp.size:
        return 0
    print(never_connected(url, client), file=sys.stderr)
    return 1
