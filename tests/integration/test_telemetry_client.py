"""The telemetry client against a real local websockets server on 127.0.0.1.

The server runs in the test's own loop and follows a script per connection:
malformed frames, NaNs, unknown events, a 2 MB frame, drops, a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from spacetime_panel.telemetry.client import TelemetryClient
from spacetime_panel.telemetry.codec import RejectKind
from spacetime_panel.telemetry.stats import ConnectionState
from tests.conftest import TIME_SCALE, free_port
from tests.conftest import eventually as until

T0 = 1_700_000_000.0
FPS = {"fps": 90.0, "frame_time_ms": 11.111, "process_time_ms": 4.2, "physics_time_ms": 1.1}
POSE = {"position": [0.0, 1.7, 2.0], "rotation": [0.0, 0.0, 0.0, 1.0]}


def msg(event: str, data: object, ts: float = T0) -> str:
    return json.dumps({"event": event, "timestamp": ts, "data": data})


def hello(pid: int) -> str:
    data = {"protocol": "spacetime-bridge/1", "godot_version": "4.5.1", "project": "/p"}
    return msg("hello", {**data, "pid": pid, "rate_hz": 90.0})


def fps(i: int) -> str:
    return msg("fps", FPS, T0 + i / 90)


def tracking(i: int) -> str:
    data = {"headset": POSE, "left_controller": None, "right_controller": POSE}
    return msg("vr_tracking", data, T0 + i / 90)


MALFORMED = [
    "{this is not json",
    msg("teleport", {"x": 1}),
    '{"event": "fps", "timestamp": 1.0, "data": {"fps": NaN, "frame_time_ms": 11.1,'
    ' "process_time_ms": 4.0, "physics_time_ms": 1.0}}',
    msg("fps", {**FPS, "fps": "ninety"}),
    msg("fps", {"fps": 90.0}),
    msg("vr_tracking", {"headset": {"position": [0, 1], "rotation": [0, 0, 0, 1]}}),
]

Handler = Callable[[ServerConnection, int], Awaitable[None]]


@asynccontextmanager
async def game(port: int, handler: Handler, counter: list[int]) -> AsyncIterator[Server]:
    """A telemetry server on ``port``; ``counter[0]`` numbers connections across restarts."""

    async def handle(connection: ServerConnection) -> None:
        counter[0] += 1
        with suppress(ConnectionClosed):
            await handler(connection, counter[0])

    async with serve(handle, "127.0.0.1", port, compression=None, max_size=None) as server:
        yield server


async def stream_forever(connection: ServerConnection, pid: int) -> None:
    await connection.send(hello(pid))
    i = 0
    while True:
        await connection.send(fps(i))
        await connection.send(tracking(i))
        i += 1
        await asyncio.sleep(0.01)


async def test_bad_frames_oversize_and_drops_never_kill_the_client() -> None:
    port = free_port()
    counter = [0]
    valid_fps_sent = 0

    async def script(connection: ServerConnection, number: int) -> None:
        nonlocal valid_fps_sent
        await connection.send(hello(number))
        if number == 1:
            for i, bad in enumerate(MALFORMED):
                await connection.send(fps(i))
                await connection.send(bad)
                valid_fps_sent += 1
            await connection.send(tracking(0))
            await connection.send("x" * (2 * 1024 * 1024))  # over max_size: client closes 1009
            await connection.wait_closed()
        elif number == 2:
            for i in range(10):
                await connection.send(fps(100 + i))
                valid_fps_sent += 1
            await connection.close()  # the game drops us
        else:
            await stream_forever(connection, number)

    client = TelemetryClient(f"ws://127.0.0.1:{port}")
    async with game(port, script, counter) as server:
        client.start()
        try:
            await until(lambda: counter[0] >= 3, what="the third connection")
            await until(lambda: client.state is ConnectionState.CONNECTED, what="reconnection")
            assert client.oversize == 1
            assert client.rejected == len(MALFORMED)
            kinds = client.summary().invalid_by_kind
            assert kinds[RejectKind.NOT_JSON] == 1 and kinds[RejectKind.UNKNOWN_EVENT] == 1
            assert client.connects == 3 and client.disconnects == 2
            assert client.hello is not None and client.hello.pid == 3

            # The game goes away for 2 s, then comes back on the same port.
            server.close()
            await server.wait_closed()
            await until(lambda: client.state is not ConnectionState.CONNECTED, what="the drop")
            frames_before = client.buffers.fps.total
            await asyncio.sleep(2.0)
            assert client.state is not ConnectionState.CONNECTED
            async with game(port, script, counter):
                back = time.monotonic()
                await until(lambda: client.state is ConnectionState.CONNECTED, what="reconnect")
                reconnected_after = time.monotonic() - back
                await until(lambda: client.buffers.fps.total > frames_before + 20, what="data")
            assert reconnected_after < 1.0 * TIME_SCALE + 0.5, reconnected_after
        finally:
            await client.stop()

    # Only valid samples entered the buffers: the ones sent, and nothing malformed.
    series = client.buffers.fps_series()
    assert client.buffers.fps.total >= valid_fps_sent
    assert (series.fps == 90.0).all() and (series.frame_time_ms == 11.111).all()
    assert client.state is ConnectionState.DISCONNECTED
    assert not client.running


async def test_client_started_before_the_game_connects_when_it_appears() -> None:
    port = free_port()
    client = TelemetryClient(f"ws://127.0.0.1:{port}")
    client.start()
    try:
        await asyncio.sleep(1.2)  # a few refused attempts
        assert client.state is not ConnectionState.CONNECTED and client.connects == 0
        assert client.last_error is not None
        async with game(port, stream_forever, [0]):
            await until(lambda: client.buffers.fps.total >= 20, what="frames to flow")
            summary = client.summary()
            assert summary.state == "connected"
            assert summary.hello is not None and summary.hello["pid"] == 1
            assert summary.fps_now == 90.0 and summary.invalid_total == 0
            assert client.buffers.tracking.total >= 19
    finally:
        await client.stop()


async def test_switching_url_moves_to_the_other_game() -> None:
    first, second = free_port(), free_port()
    client = TelemetryClient(f"ws://127.0.0.1:{first}")
    async with game(first, stream_forever, [0]), game(second, stream_forever, [100]):
        client.start()
        try:
            await until(lambda: client.hello is not None and client.hello.pid == 1, what="game 1")
            client.url = f"ws://127.0.0.1:{second}"
            await until(lambda: client.hello is not None and client.hello.pid == 101, what="game 2")
            assert client.connects == 2
        finally:
            await client.stop()


async def test_a_bad_url_is_reported_and_retried_without_crashing() -> None:
    client = TelemetryClient("http://not-a-websocket-url", reconnect_initial=0.05)
    client.start()
    try:
        await until(lambda: client.last_error is not None, what="an error")
        assert client.running and client.state is not ConnectionState.CONNECTED
        port = free_port()
        async with game(port, stream_forever, [0]):
            client.url = f"ws://127.0.0.1:{port}"
            await until(lambda: client.buffers.fps.total > 5, what="frames after fixing the URL")
    finally:
        await client.stop()


async def test_a_game_that_accepts_and_closes_at_once_is_retried_with_growing_delays() -> None:
    """Each connection opens and closes at once: a failed attempt, not the end of the
    outage, so the delays grow to the ceiling (jittered below it) instead of staying fast."""
    port = free_port()
    opened: list[float] = []

    async def close_at_once(connection: ServerConnection, number: int) -> None:
        opened.append(time.monotonic())
        await connection.close()

    client = TelemetryClient(
        f"ws://127.0.0.1:{port}",
        reconnect_initial=0.05,
        fast_period=0.3,
        reconnect_max=0.4,
        reconnect_jitter=0.25,
    )
    async with game(port, close_at_once, [0]):
        client.start()
        try:
            # About 6 fast retries in the 0.3 s fast period, then 0.05, 0.1, 0.2, 0.4, 0.4 ...
            await until(lambda: len(opened) >= 17, timeout=30, what="17 connections")
        finally:
            await client.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(opened)]
    assert client.connects >= 17  # each one did open (the handshake succeeded)
    # Never faster than the initial delay less its jitter; at the end at least the
    # 0.4 s ceiling less its jitter (without the fix: 0.05 s for ever).
    assert min(gaps) >= 0.05 * 0.75 - 0.005, gaps
    assert min(gaps[-3:]) >= 0.4 * 0.75 - 0.005, gaps


async def test_a_connection_that_lasts_ends_the_outage_and_the_next_retry_is_fast() -> None:
    """A game that streamed for longer than `stable_after` and then went away is
    retried at the initial delay again, however long the outage before it was."""
    port = free_port()
    opened: list[float] = []
    closed: list[float] = []

    async def stream_then_close(connection: ServerConnection, number: int) -> None:
        opened.append(time.monotonic())
        if number >= 2:
            return  # the second connection: closed at once (only its start counts)
        await connection.send(hello(number))
        await until(lambda: time.monotonic() - opened[0] > 0.3, what="a stable connection")
        closed.append(time.monotonic())

    client = TelemetryClient(
        f"ws://127.0.0.1:{port}",
        reconnect_initial=0.05,
        fast_period=0.0,  # without a reset, the first retry would already wait 0.05 s doubled
        reconnect_max=5.0,
        stable_after=0.2,
    )
    client.policy.next_delay(1.0)  # as after a long outage: the next delays would grow
    client.policy.next_delay(1.0)
    client.policy.next_delay(1.0)
    async with game(port, stream_then_close, [0]):
        client.start()
        try:
            await until(lambda: len(opened) >= 2, what="the reconnection")
        finally:
            await client.stop()
    assert opened[1] - closed[0] < 1.0 * TIME_SCALE, "retried at the initial delay"
