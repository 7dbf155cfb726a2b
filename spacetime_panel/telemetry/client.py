"""The telemetry WebSocket client: connects to the game, feeds the session, reconnects.

It speaks WebSocket through ``websockets``' sans-I/O protocol inside an
asyncio.Protocol (:mod:`.connection`; no compression: small frames at a high
rate) and decodes each frame inline in the read callback (no thread, no task
wake-up per frame): decoding a frame costs microseconds.

Reconnecting (see :class:`ReconnectPolicy`): the panel and the game may start
in any order, and the game restarts often during development. After a drop
the client retries every ``reconnect_initial`` (0.5 s) for the first
``fast_period`` (30 s) of the outage, so a game that comes back is seen
within about 0.5 s; only a longer outage backs off, doubling up to
``reconnect_max`` (10 s), the ceiling. Each delay is shortened by a random
part of up to ``reconnect_jitter`` (a quarter) of it, so panels that lost the
same game do not knock in step, and no delay exceeds the stated one. A
connection that lasted ``stable_after`` (2 s) ends the outage and resets the
policy; one that closed sooner (a game that accepts the connection and closes
it at once) counts as a failed attempt: the outage goes on and the delays
keep growing to the ceiling, instead of a retry twice a second for ever. A
failed attempt on localhost costs one refused ``connect()``, so fast retries
are cheap.

A frame over ``max_size`` makes the protocol close that connection with
1009 (message too big); the client counts it (``oversize``) and reconnects
like after any other drop.

Connection lifecycle and errors::

    DISCONNECTED -> CONNECTING -> CONNECTED -> DISCONNECTED -> (delay) -> CONNECTING ...

Errors (refused, handshake rejected, timeout, closed, bad URL) never escape
the client's task; the newest is kept in :attr:`TelemetryClient.last_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from websockets.exceptions import InvalidURI

from spacetime_panel.telemetry.buffers import TelemetryBuffers
from spacetime_panel.telemetry.codec import Hello
from spacetime_panel.telemetry.connection import TelemetryConnection
from spacetime_panel.telemetry.recorder import CsvRecorder
from spacetime_panel.telemetry.session import EventCallback, TelemetrySession
from spacetime_panel.telemetry.stats import ConnectionState, TelemetryStats, TelemetrySummary

log = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8081"
DEFAULT_MAX_SIZE = 1024 * 1024


class ReconnectPolicy:
    """How long to wait before the next attempt, given how long the outage has lasted.

    Pure but for the jitter's random numbers (pass ``rng`` to fix them):
    ``next_delay(outage_s)`` returns ``initial`` while the outage is shorter
    than ``fast_period``, then doubles from there up to ``maximum``; with
    ``jitter`` (0..1) each delay is shortened by up to that fraction of itself,
    never lengthened. ``reset()`` after a successful connection starts over.
    """

    def __init__(
        self,
        *,
        initial: float = 0.5,
        maximum: float = 10.0,
        fast_period: float = 30.0,
        jitter: float = 0.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be within 0..1, not {jitter}")
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.fast_period = fast_period
        self.jitter = jitter
        self._rng = rng
        self._delay = initial

    def next_delay(self, outage_s: float) -> float:
        if outage_s < self.fast_period:
            delay = self.initial
        else:
            delay = self._delay
            self._delay = min(self.maximum, self._delay * 2.0)
        return delay * (1.0 - self.jitter * self._rng()) if self.jitter else delay

    def reset(self) -> None:
        self._delay = self.initial


class TelemetryClient:
    """Keeps a connection to the game's telemetry WebSocket and feeds a :class:`TelemetrySession`.

    Pass the collaborators in (``session``, or ``buffers``/``stats``/``recorder``/
    ``on_event`` to build one). ``start()`` creates the client's task in the
    running loop; ``await stop()`` ends it. Setting ``url`` switches to another
    game at once (the current connection is closed).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        session: TelemetrySession | None = None,
        buffers: TelemetryBuffers | None = None,
        stats: TelemetryStats | None = None,
        recorder: CsvRecorder | None = None,
        on_event: EventCallback | None = None,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 10.0,
        fast_period: float = 30.0,
        reconnect_jitter: float = 0.25,
        stable_after: float = 2.0,
        max_size: int = DEFAULT_MAX_SIZE,
        open_timeout: float = 5.0,
        batch_interval: float = 0.1,
        ping_interval: float | None = 5.0,
        ping_timeout: float | None = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if session is None:
            session = TelemetrySession(
                buffers=buffers, stats=stats, recorder=recorder, on_event=on_event
            )
        self.session = session
        self.policy = ReconnectPolicy(
            initial=reconnect_initial,
            maximum=reconnect_max,
            fast_period=fast_period,
            jitter=reconnect_jitter,
        )
        #: A connection shorter than this (seconds) is a failed attempt, not the outage's end.
        self.stable_after = stable_after
        self._url = url
        self._batch_interval = batch_interval
        self._connection: TelemetryConnection | None = None
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._attempt: asyncio.Task[float | None] | None = None
        self._wake = asyncio.Event()
        self.last_error: str | None = None

    # -- public state ---------------------------------------------------------

    @property
    def url(self) -> str:
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        """Switch to another game: drop the current connection and connect to ``value`` now."""
        if value == self._url:
            return
        self._url = value
        self.policy.reset()
        if self._attempt is not None:
            self._attempt.cancel()
        self._wake.set()

    @property
    def batch_interval(self) -> float:
        """Seconds frames gather before they are read together (latency against CPU)."""
        return self._batch_interval

    @batch_interval.setter
    def batch_interval(self, seconds: float) -> None:
        self._batch_interval = seconds
        if self._connection is not None:
            self._connection.batch_interval = seconds

    @property
    def state(self) -> ConnectionState:
        return self.session.stats.state

    @property
    def hello(self) -> Hello | None:
        """The current connection's ``hello`` (None before it arrives)."""
        return self.session.stats.hello

    @property
    def buffers(self) -> TelemetryBuffers:
        return self.session.buffers

    @property
    def stats(self) -> TelemetryStats:
        return self.session.stats

    @property
    def connects(self) -> int:
        return self.session.stats.connects

    @property
    def disconnects(self) -> int:
        return self.session.stats.disconnects

    @property
    def frames(self) -> int:
        """Frames received, valid or not."""
        return self.session.stats.messages_total

    @property
    def rejected(self) -> int:
        """Frames the decoder refused."""
        return self.session.stats.invalid_total

    @property
    def oversize(self) -> int:
        """Connections closed because a frame exceeded ``max_size``."""
        return self.session.stats.oversize_total

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def summary(self) -> TelemetrySummary:
        """The statistics now (cheap; call it a few times per second)."""
        return self.session.summary(self._clock())

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the running loop (idempotent)."""
        if not self.running:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"telemetry client {self._url}"
            )

    async def stop(self) -> None:
        """Close the connection and end the task; the client may be started again."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_state(ConnectionState.DISCONNECTED)

    # -- the loop ----------------------------------------------------------------

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self.session.stats.state:
            self.session.stats.on_state(state)

    async def _run(self) -> None:
        outage_since = self._clock()
        while True:
            self._wake.clear()
            attempt = asyncio.create_task(self._connect_once(self._url))
            self._attempt = attempt
            try:
                await asyncio.wait({attempt})
            finally:
                if not attempt.done():  # we are being cancelled: stop() or loop shutdown
                    attempt.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await attempt
                self._attempt = None
            if attempt.cancelled():
                outage_since = self._clock()
                continue  # the URL changed: connect to the new one at once
            connected_for = attempt.result()
            if connected_for is not None and connected_for >= self.stable_after:
                self.policy.reset()
                outage_since = self._clock()
            delay = self.policy.next_delay(self._clock() - outage_since)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _connect_once(self, url: str) -> float | None:
        """One connection, from attempt to close; how long it was open, None if never."""
        self._set_state(ConnectionState.CONNECTING)
        loop = asyncio.get_running_loop()
        ingest = self.session.ingest
        connection: TelemetryConnection | None = None
        connected_at: float | None = None
        try:
            connection = TelemetryConnection(
                url,
                ingest,
                on_open=lambda: self._set_state(ConnectionState.CONNECTED),
                max_size=self._max_size,
                batch_interval=self._batch_interval,
                clock=self._clock,
            )
            self._connection = connection
            async with asyncio.timeout(self._open_timeout):
                await loop.create_connection(lambda: connection, connection.host, connection.port)
                await connection.opened
            connected_at = self._clock()
            log.info("telemetry: connected to %s", url)
            if self._ping_interval is not None:
                connection.watch(self._ping_interval, self._ping_timeout or self._ping_interval)
            self.last_error = await asyncio.shield(connection.closed)
            if connection.oversize:
                self.session.stats.on_oversize()
        except (OSError, TimeoutError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
        except (ValueError, InvalidURI) as exc:  # a malformed URL, refused before connecting
            self.last_error = f"bad telemetry URL {url!r}: {exc}"
        finally:
            self._connection = None
            if connection is not None and not connection.closed.done():
                connection.close()  # cancelled: stop() or a switch to another game
            self._set_state(ConnectionState.DISCONNECTED)
        if connected_at is None:
            return None
        log.info("telemetry: disconnected from %s (%s)", url, self.last_error or "closed")
        return self._clock() - connected_at
