"""One telemetry WebSocket connection, sans-I/O style: websockets' protocol in an asyncio.Protocol.

Why not `websockets.asyncio.client`: at 288 frames a second, handing every
frame through its message queue to a task that awaits the next message
costs a task wake-up per frame, and under qasync (the GUI's loop) each
wake-up is a Qt timer. Here the bytes go straight from `data_received` into
websockets' `ClientProtocol` (framing, handshake, ping/pong, close, max_size)
and each complete message into `on_message`, in the same callback: no task
wakes up per frame, and frames that arrive together are handled together.

The connection ends (the `closed` future resolves with the reason) when the
game closes it, the socket drops, a frame exceeds max_size (close code 1009),
the handshake fails or times out, or the game stops answering pings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri


class TelemetryConnection(asyncio.Protocol):
    """Feeds every complete text or binary message to `on_message(data, now)`."""

    def __init__(
        self,
        url: str,
        on_message: Callable[[bytes, float], object],
        *,
        on_open: Callable[[], None] | None = None,
        max_size: int,
        batch_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        uri = parse_uri(url)  # ValueError (InvalidURI) for a malformed URL
        if uri.secure:
            raise ValueError("wss:// is not supported for the local telemetry stream")
        self.host, self.port = uri.host, uri.port
        self.protocol = ClientProtocol(uri, max_size=max_size)
        self._on_message = on_message
        self._on_open = on_open
        self._clock = clock
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self.last_data = clock()
        self._transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None
        #: Seconds to let frames gather before reading them (0: read each as it comes).
        self.batch_interval = batch_interval
        self._resume: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = self._clock()
        self.last_data = now
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                self._frame(event, now)
            elif isinstance(event, Response):
                self._handshake_done()
        self._flush()
        self._pause_briefly()

    def _pause_briefly(self) -> None:
        """Let frames gather in the socket for `batch_interval`, then read them in one go.

        At 288 frames a second each read costs more (a loop turn, and under qasync a
        Qt event) than decoding its frame. Measured in the GUI's loop with the game at
        144 Hz: reading every frame costs about 6 % of a core, reading every 50 ms
        about 3 %, every 100 ms about 2 %. The GUI reads every 1/30 s while its
        graphs draw (no later than the next redraw) and every 250 ms when hidden.
        """
        transport = self._transport
        if self.batch_interval <= 0 or transport is None or transport.is_closing():
            return
        transport.pause_reading()
        loop = asyncio.get_running_loop()
        self._resume = loop.call_later(self.batch_interval, self._resume_reading)

    def _resume_reading(self) -> None:
        self._resume = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def eof_received(self) -> bool:
        self.protocol.receive_eof()
        self._flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._watchdog, self._resume):
            if timer is not None:
                timer.cancel()
        reason = self._close_reason(exc)
        if not self.opened.done():
            # An answer that was no handshake at all (not even HTTP/1.1) emits no
            # Response event: say so instead of "connection closed".
            if self.protocol.handshake_exc is not None:
                reason = f"handshake refused: {self.protocol.handshake_exc}"
            self.opened.set_exception(ConnectionError(reason))
        if not self.closed.done():
            self.closed.set_result(reason)

    # -- the stream ------------------------------------------------------------------

    def _frame(self, frame: Frame, now: float) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            if frame.fin:
                self._on_message(bytes(frame.data), now)
            else:
                self._fragments = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT and self._fragments:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                message, self._fragments = b"".join(self._fragments), []
                self._on_message(message, now)
        # PING is answered by the protocol itself; PONG and CLOSE need nothing here.

    def _handshake_done(self) -> None:
        # Not `state is OPEN`: a frame that came with the handshake may already have
        # failed the connection (say, over max_size) within the same receive_data.
        if self.protocol.handshake_exc is None:
            # Before the frames that came with the handshake are handed on.
            if self._on_open is not None:
                self._on_open()
            if not self.opened.done():
                self.opened.set_result(None)
        elif not self.opened.done():
            error = self.protocol.handshake_exc
            self.opened.set_exception(ConnectionError(f"handshake refused: {error}"))

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
        if self.protocol.close_expected() or self.protocol.state is State.CLOSED:
            transport.close()

    def _close_reason(self, exc: Exception | None) -> str:
        sent, received = self.protocol.close_sent, self.protocol.close_rcvd
        if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
            return "frame over max_size (closed with 1009)"
        if received is not None:
            return f"closed by the game ({received.code})"
        if exc is not None:
            return f"connection lost: {exc}"
        return "connection closed"

    @property
    def oversize(self) -> bool:
        sent = self.protocol.close_sent
        return sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG

    # -- keepalive -------------------------------------------------------------------

    def watch(self, interval: float, timeout: float) -> None:
        """Ping when the game has been silent for `interval`; drop it after `timeout` more."""
        loop = asyncio.get_running_loop()

        def check() -> None:
            silent = self._clock() - self.last_data
            if silent >= interval + timeout:
                self.abort()
                return
            if silent >= interval and self.protocol.state is State.OPEN:
                self.protocol.send_ping(b"spacetime")
                self._flush()
            self._watchdog = loop.call_later(interval / 2, check)

        self._watchdog = loop.call_later(interval / 2, check)

    def close(self) -> None:
        """A clean close (close frame, then the socket)."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(CloseCode.GOING_AWAY)
            self._flush()
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
