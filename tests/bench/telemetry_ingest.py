"""Benchmark: what telemetry costs the panel's CPU, against plain ``json.loads``.

Frames are made exactly as the simulator makes them (``fps`` and
``vr_tracking`` alternating). Prints:

- CPU time (``time.process_time``) per 1000 messages of the whole pipeline
  (decode + ring buffers + statistics, the summary computed at 4 Hz of
  stream time), and of plain ``json.loads`` of the same frames (the floor);
  their ratio;
- the highest sustained rate one core could ingest, and the CPU share of one
  core at 288 msg/s (fps + vr_tracking at 144 Hz; target: under 2 %);
- end to end: a ``websockets`` server in a child process sends 288 msg/s for
  ``--seconds``; the CPU share of one core of this (receiving) process with
  the real TelemetryClient (summary at 4 Hz), and with a bare ``recv`` loop
  doing ``json.loads`` of each message as the baseline (target: at most
  0.65x its CPU); per 1,000 messages is that share over the stream's rate
  (each loop must have received the stream, within 10 %);
- reconnect latency: the server goes away for ``--outage`` (+ 0..0.5) seconds and comes
  back on the same port, ``--restarts`` times; time from the server listening
  again to the client CONNECTED (the requirement: under 1 s).

Usage::

    .venv/bin/python tests/bench/telemetry_ingest.py [--messages 200000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import subprocess
import sys
import time

from harness import Figure, free_port
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from spacetime_panel.sim.telemetry import frame
from spacetime_panel.sim.world import World
from spacetime_panel.telemetry.client import TelemetryClient
from spacetime_panel.telemetry.session import TelemetrySession
from spacetime_panel.telemetry.stats import ConnectionState

RATE_HZ = 144.0
MSGS_PER_S = 2 * RATE_HZ
SUMMARY_HZ = 4.0


def sim_frames(count: int) -> list[str]:
    """``count`` frames as the simulator sends them: fps, vr_tracking, fps, ..."""
    world = World(now=0.0, load_delay=0.0, spawn_delay=0.0, seed=1)
    start = 1_700_000_000.0
    frames = []
    for i in range(count // 2):
        t = i / RATE_HZ
        frames.append(frame("fps", world.fps_sample(), start + t))
        frames.append(frame("vr_tracking", world.tracking_sample(t), start + t))
    return frames


def cpu_json_loads(frames: list[str]) -> float:
    loads = json.loads
    start = time.process_time()
    for text in frames:
        loads(text)
    return time.process_time() - start


def cpu_pipeline(frames: list[str]) -> tuple[float, int]:
    """CPU seconds for ingest of all frames, with a summary every 1/4 s of stream time."""
    session = TelemetrySession()
    every = int(MSGS_PER_S / SUMMARY_HZ)
    summaries = 0
    start = time.process_time()
    for i, text in enumerate(frames):
        now = i / MSGS_PER_S
        session.ingest(text, now)
        if i % every == 0:
            session.summary(now)
            summaries += 1
    elapsed = time.process_time() - start
    assert session.decoder.rejected == 0, session.last_rejected
    return elapsed, summaries


async def send_forever(port: int, count: int) -> None:
    """The game's side (run in a child process): MSGS_PER_S frames to every client."""
    frames = sim_frames(count)

    async def handler(connection: ServerConnection) -> None:
        period = 2.0 / MSGS_PER_S
        next_tick = time.monotonic()
        index = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                await connection.send(frames[index % len(frames)])
                await connection.send(frames[(index + 1) % len(frames)])
                index += 2
                next_tick += period
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    async with serve(handler, "127.0.0.1", port, compression=None) as server:
        await server.serve_forever()


async def measure_client(url: str, seconds: float, *, bare: bool) -> tuple[float, int]:
    """This process's CPU share (process_time / wall) while receiving; and frames received."""
    received = 0

    async def bare_reader() -> None:
        nonlocal received
        loads = json.loads
        async with connect(url, compression=None, proxy=None) as ws:
            async for message in ws:
                loads(message)
                received += 1

    client = TelemetryClient(url)
    if bare:
        task = asyncio.create_task(bare_reader())
    else:
        client.start()
    while (received if bare else client.frames) < 100:
        await asyncio.sleep(0.01)
    wall0, cpu0 = time.monotonic(), time.process_time()
    count0 = received if bare else client.frames
    while time.monotonic() - wall0 < seconds:
        await asyncio.sleep(1.0 / SUMMARY_HZ)
        if not bare:
            client.summary()  # as the panel would, a few times per second
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    got = (received if bare else client.frames) - count0
    if bare:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    else:
        await client.stop()
    return cpu / wall, got


def end_to_end(seconds: float) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve-port", str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        url = f"ws://127.0.0.1:{port}"
        print(f"\nend to end: a server process sends {MSGS_PER_S:g} msg/s, 3 x {seconds:g} s;")
        print("CPU share of one core of the receiving process (best of 3):")
        # Alternate and keep the best of three: other processes on the machine only add noise.
        bare_runs, full_runs = [], []
        for _ in range(3):
            bare_runs.append(asyncio.run(measure_client(url, seconds, bare=True)))
            full_runs.append(asyncio.run(measure_client(url, seconds, bare=False)))
        bare, bare_got = min(bare_runs)
        full, full_got = min(full_runs)
        for name, got in (("bare loop", bare_got), ("TelemetryClient", full_got)):
            if abs(got - MSGS_PER_S * seconds) > 0.1 * MSGS_PER_S * seconds:
                raise SystemExit(f"telemetry_ingest: the {name} fell behind ({got} messages)")
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"{'bare websockets recv loop (baseline)':<40} {bare * 100:8.2f} %"
        f"   ({bare_got / seconds:.0f} msg/s)"
    )
    print(
        f"{'TelemetryClient (decode+buffers+stats)':<40} {full * 100:8.2f} %"
        f"   ({full_got / seconds:.0f} msg/s)"
    )
    print(f"{'difference (the pipeline)':<40} {(full - bare) * 100:8.2f} %")
    return {
        "bare_share": bare,
        "full_share": full,
        # Per message from the share and the stream's rate, not from the count received
        # in the window: the client reads in 0.1 s batches, so its count in a 2 s window
        # moves by up to a batch (5 %) with the window's phase; the rate does not.
        "bare_per_k_ms": bare / MSGS_PER_S * 1000 * 1000,
        "full_per_k_ms": full / MSGS_PER_S * 1000 * 1000,
    }


async def reconnect_latency(outage: float, restarts: int) -> list[float]:
    """Seconds from the server listening again to the client CONNECTED, per restart."""

    async def handler(connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await connection.wait_closed()

    port = free_port()
    client = TelemetryClient(f"ws://127.0.0.1:{port}")
    latencies = []
    client.start()
    try:
        for _ in range(restarts):
            async with serve(handler, "127.0.0.1", port, compression=None):
                back = time.monotonic()
                while client.state is not ConnectionState.CONNECTED:
                    await asyncio.sleep(0.005)
                latencies.append(time.monotonic() - back)
            # Out of phase with the 0.5 s retry interval, as a real restart would be.
            await asyncio.sleep(outage + random.uniform(0.0, 0.5))
    finally:
        await client.stop()
    return latencies[1:]  # the first one is the initial connection


def run(messages: int, seconds: float, outage: float, restarts: int) -> dict[str, float]:
    frames = sim_frames(messages)
    mean_size = sum(len(f) for f in frames) / len(frames)
    print(f"{len(frames)} frames (fps + vr_tracking as the simulator sends them), ")
    print(f"mean {mean_size:.0f} bytes; summary every {int(MSGS_PER_S / SUMMARY_HZ)} msgs\n")

    cpu_json_loads(frames[:5000])  # warm-up
    floor = min(cpu_json_loads(frames) for _ in range(3))
    pipeline, summaries = min(cpu_pipeline(frames) for _ in range(3))
    per_k_floor = floor / len(frames) * 1000 * 1000
    per_k = pipeline / len(frames) * 1000 * 1000
    print(f"{'json.loads only (floor)':<40} {per_k_floor:8.2f} ms CPU / 1000 msgs")
    print(
        f"{'decode + buffers + stats':<40} {per_k:8.2f} ms CPU / 1000 msgs"
        f"   ({summaries} summaries included)"
    )
    print(f"{'ratio pipeline / json.loads':<40} {per_k / per_k_floor:8.2f} x")
    print(f"{'highest sustained rate (one core)':<40} {len(frames) / pipeline:8.0f} msgs/s")
    share = per_k / 1000 * MSGS_PER_S / 1000 * 100
    verdict = "OK" if share < 2.0 else "OVER TARGET"
    print(f"{'CPU share of one core at 288 msg/s':<40} {share:8.3f} %   (target < 2 %: {verdict})")

    results = end_to_end(seconds)
    latencies = asyncio.run(reconnect_latency(outage, restarts + 1))
    print(f"\nreconnect after a {outage:g} s outage ({len(latencies)} restarts):")
    print(
        f"{'server back -> client CONNECTED':<40} max {max(latencies) * 1000:6.0f} ms"
        f"   mean {sum(latencies) / len(latencies) * 1000:6.0f} ms   (requirement: < 1000 ms)"
    )
    results.update(
        per_k_ms=per_k,
        per_k_floor_ms=per_k_floor,
        rate=len(frames) / pipeline,
        rate_floor=len(frames) / floor,
        share_288=share,
        reconnect_max_ms=max(latencies) * 1000,
    )
    return results


def measure(quick: bool) -> list[Figure]:
    """For `python -m tests.bench`: the pipeline beside a bare recv + json.loads loop."""
    if quick:
        r = run(messages=40_000, seconds=2.0, outage=1.0, restarts=2)
    else:
        r = run(messages=200_000, seconds=10.0, outage=3.0, restarts=5)
    bare = "bare websockets recv + json.loads"
    return [
        Figure(
            "telemetry.cpu_per_k",
            "telemetry CPU per 1,000 msgs, end to end (288 msg/s)",
            r["full_per_k_ms"],
            "ms",
            r["bare_per_k_ms"],
            bare,
            target_ratio=0.65,
        ),
        Figure(
            "telemetry.share_288",
            "telemetry CPU share of a core at 288 msg/s, end to end",
            r["full_share"] * 100,
            "%",
            r["bare_share"] * 100,
            bare,
            target_ratio=0.65,
        ),
        Figure(
            "telemetry.pipeline_per_k",
            "decode + buffers + stats CPU per 1,000 msgs (no socket)",
            r["per_k_ms"],
            "ms",
            r["per_k_floor_ms"],
            "json.loads alone",
        ),
        Figure(
            "telemetry.share_288_pipeline",
            "decode + buffers + stats at 288 msg/s: share of a core (no socket)",
            r["share_288"],
            "%",
            target_value=2.0,
        ),
        Figure(
            "telemetry.rate",
            "highest sustained ingest rate, one core (no socket)",
            r["rate"],
            "msg/s",
            r["rate_floor"],
            "json.loads alone",
            better="higher",
        ),
        Figure(
            "telemetry.reconnect.max",
            "telemetry reconnect after an outage, max",
            r["reconnect_max_ms"],
            "ms",
            target_value=1000.0,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--outage", type=float, default=3.0)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_port:
        asyncio.run(send_forever(args.serve_port, 20_000))
        return
    run(args.messages, args.seconds, args.outage, args.restarts)


if __name__ == "__main__":
    main()
