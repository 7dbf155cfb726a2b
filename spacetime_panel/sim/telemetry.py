"""The telemetry WebSocket: a ``hello``, then ``fps`` and ``vr_tracking`` at the frame rate.

One timer loop drives the world and broadcasts; ``websockets.broadcast`` writes
without waiting, so a slow client never slows the others down. It has no
backpressure of its own, so frames for a client whose socket buffer is already
full are dropped (telemetry is a live view: late samples are worthless), and a
client that stops answering pings is closed.

Two faults (see faults.py) live here: ``bad_share`` mixes malformed frames
into the stream, ``flap_period`` drops every client connection periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from spacetime_panel.sim.faults import malformed_frame
from spacetime_panel.sim.world import World, WorldEvent

# Frames for a client with more than this much unsent data are dropped.
SLOW_CLIENT_BUFFER = 256 * 1024


def frame(event: str, data: dict[str, Any], timestamp: float | None = None) -> str:
    """One telemetry text frame: ``{"event", "timestamp", "data"}``."""
    stamp = time.time() if timestamp is None else timestamp
    return json.dumps({"event": event, "timestamp": round(stamp, 6), "data": data})


class TelemetryServer:
    """Serves telemetry clients and runs the frame loop that feeds them.

    ``on_world_event`` sees each world event (for the stdout log) before it is
    broadcast. ``bad_share`` is the chance, per published frame, of an extra
    malformed frame; ``flap_period`` (seconds) drops every client that often.
    """

    def __init__(
        self,
        *,
        world: World,
        hello: dict[str, Any],
        rate_hz: float,
        clock: Callable[[], float] = time.monotonic,
        on_world_event: Callable[[WorldEvent], None] | None = None,
        bad_share: float = 0.0,
        flap_period: float | None = None,
        seed: int | None = None,
    ) -> None:
        self._world = world
        self._hello = hello
        self._period = 1.0 / rate_hz
        self._clock = clock
        self._on_world_event = on_world_event
        self._clients: set[ServerConnection] = set()
        self._server: Server | None = None
        self._bad_share = bad_share
        self._flap_period = flap_period
        self._rng = random.Random(seed)
        self.malformed_sent = 0
        self.flaps = 0

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self, sock: socket.socket) -> None:
        """Start accepting clients on an already bound, listening socket."""
        self._server = await serve(
            self._handle,
            sock=sock,
            compression=None,  # 2 small frames per tick: deflate would cost more than it saves
            ping_interval=5,
            ping_timeout=10,
        )

    async def close(self) -> None:
        """Stop accepting and close every client with 1001 (going away)."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Send one event to every client that has had its ``hello``."""
        keeping_up = [
            client
            for client in self._clients
            if client.transport.get_write_buffer_size() < SLOW_CLIENT_BUFFER
        ]
        if keeping_up:
            broadcast(keeping_up, frame(event, data))
            if self._bad_share and self._rng.random() < self._bad_share:
                broadcast(keeping_up, malformed_frame(self._rng, time.time()))
                self.malformed_sent += 1

    def drop_clients(self) -> None:
        """Cut every client's TCP connection without a close frame (the flap fault)."""
        for client in list(self._clients):
            client.transport.abort()
        self.flaps += 1

    async def _handle(self, connection: ServerConnection) -> None:
        try:
            await connection.send(frame("hello", self._hello))
        except ConnectionClosed:
            return
        self._clients.add(connection)
        try:
            # Clients do not talk to us; read (and drop) anything so pings work.
            async for _ in connection:
                pass
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(connection)

    async def run_frames(self) -> None:
        """The one timer loop: advance the world, broadcast its events and a frame sample.

        Ticks are scheduled on absolute times so the rate does not drift; a late
        tick is not made up for (no bursts).
        """
        next_tick = self._clock()
        next_flap = None if self._flap_period is None else next_tick + self._flap_period
        while True:
            now = self._clock()
            if next_flap is not None and self._flap_period is not None and now >= next_flap:
                self.drop_clients()
                next_flap = now + self._flap_period
            self._world.advance(now)
            for event in self._world.drain_events():
                if self._on_world_event is not None:
                    self._on_world_event(event)
                self.publish(event.name, event.data)
            if self._clients:
                self.publish("fps", self._world.fps_sample())
                self.publish("vr_tracking", self._world.tracking_sample(now))
            next_tick += self._period
            now = self._clock()
            if next_tick < now:
                next_tick = now
            await asyncio.sleep(next_tick - now)
