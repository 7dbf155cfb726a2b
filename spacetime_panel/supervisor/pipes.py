"""Reading a child's stdout and stderr into lines without blocking the event loop.

Two ways, the same lines:

- `loop` (POSIX): `loop.connect_read_pipe` on the pipe; the loop's selector
  wakes when there are bytes.
- `thread` (Windows): a daemon thread per pipe blocks in `read1()` and hands
  each chunk to the loop with `call_soon_threadsafe`. Windows' proactor loop
  cannot read `Popen`'s pipes: their `fileno()` is a C-runtime descriptor, not
  an overlapped handle, so registering it with the I/O completion port fails,
  and asyncio takes that for a fatal read error and closes the pipe.

The thread never has more than `MAX_CHUNKS_IN_FLIGHT` chunks of
`CHUNK_BYTES` waiting for the loop: when the loop is busy, the thread waits,
then the pipe fills and the child waits, as with the loop's own reading.
A file is never closed while a read of it blocks in another thread: `close()`
only stops the delivery, and the thread reads on (and drops) until end of
file, then closes the file itself. The pipe ends when every process holding
its write end is gone, which a stop of the process tree makes sure of.

`SPACETIME_SUPERVISOR_PIPES=loop|thread` forces one (the tests force `thread`
on Linux); `auto` or unset picks `thread` on Windows and `loop` elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import IO, ClassVar

from spacetime_panel.supervisor.output import LineSplitter

log = logging.getLogger(__name__)

LineSink = Callable[[str, str], None]  # (stream, text)

PIPES_ENV = "SPACETIME_SUPERVISOR_PIPES"
PIPE_KINDS = ("loop", "thread")
#: The most one read takes from a pipe (bytes).
CHUNK_BYTES = 64 * 1024
#: How many chunks a reading thread may have handed to the loop and not yet seen taken.
MAX_CHUNKS_IN_FLIGHT = 4
#: How often a reading thread that waits for the loop looks whether it was closed (s).
ROOM_CHECK = 0.1


class PipeReader(asyncio.Protocol):
    """Moves bytes from one output pipe into lines for the sink."""

    def __init__(self, stream: str, sink: LineSink) -> None:
        self._stream = stream
        self._sink = sink
        self._splitter = LineSplitter()

    def data_received(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            self._sink(self._stream, line)

    def eof_received(self) -> bool:
        for line in self._splitter.flush():
            self._sink(self._stream, line)
        return False


class OutputPipe(ABC):
    """One output pipe of a child being read into its sink."""

    kind: ClassVar[str]

    @abstractmethod
    def close(self) -> None:
        """Stop delivering lines; never blocks. No line reaches the sink after it."""


class LoopPipe(OutputPipe):
    """POSIX: the loop reads the pipe when its selector says there are bytes."""

    kind = "loop"

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    @classmethod
    async def open(
        cls, loop: asyncio.AbstractEventLoop, pipe: IO[bytes], stream: str, sink: LineSink
    ) -> LoopPipe:
        transport, _ = await loop.connect_read_pipe(
            functools.partial(PipeReader, stream, sink), pipe
        )
        return cls(transport)

    def close(self) -> None:
        self._transport.close()


class ThreadPipe(OutputPipe):
    """Windows: a daemon thread reads the pipe and hands the chunks to the loop, in order."""

    kind = "thread"

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pipe: IO[bytes],
        stream: str,
        sink: LineSink,
        *,
        name: str = "pipe",
    ) -> None:
        self._loop = loop
        self._pipe = pipe
        self._reader = PipeReader(stream, sink)
        self._closed = False  # read and written on the loop only
        self._stopping = threading.Event()  # close() as the thread sees it
        self._room = threading.Semaphore(MAX_CHUNKS_IN_FLIGHT)
        self.thread = threading.Thread(target=self._read, name=f"{name}-{stream}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._closed = True
        self._stopping.set()

    # --- in the reading thread ---------------------------------------------------

    def _read(self) -> None:
        try:
            while chunk := self._read_chunk():
                if self._stopping.is_set() or not self._wait_for_room():
                    continue  # closed: read on to the end, dropping what comes
                if not self._hand(self._deliver, chunk):
                    self._stopping.set()  # the loop is closed: nobody to deliver to
            self._hand(self._end)
        finally:
            with contextlib.suppress(OSError):
                self._pipe.close()  # the one thread that uses the file closes it

    def _read_chunk(self) -> bytes:
        # read1: whatever one read of the pipe gives, up to CHUNK_BYTES, without waiting for more.
        read: Callable[[int], bytes] = getattr(self._pipe, "read1", self._pipe.read)
        try:
            return read(CHUNK_BYTES)
        except (OSError, ValueError) as error:  # broken, or closed under us: the end
            log.debug("reading %r ended: %s", self._pipe, error)
            return b""

    def _wait_for_room(self) -> bool:
        """Wait until the loop has taken enough chunks; False if closed meanwhile."""
        while not self._room.acquire(timeout=ROOM_CHECK):
            if self._stopping.is_set() or self._loop.is_closed():
                return False
        return True

    def _hand(self, callback: Callable[..., None], *args: object) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed
            return False
        return True

    # --- on the loop -------------------------------------------------------------------

    def _deliver(self, chunk: bytes) -> None:
        self._room.release()
        if not self._closed:
            self._reader.data_received(chunk)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._reader.eof_received()


def requested_kind() -> str:
    """How the pipes are read here: "thread" on Windows, "loop" elsewhere, unless forced."""
    native = "thread" if sys.platform == "win32" else "loop"
    kind = os.environ.get(PIPES_ENV, "auto").strip().lower() or "auto"
    if kind == "auto":
        return native
    if kind not in PIPE_KINDS:
        log.warning("%s=%s is not one of %s; using %s", PIPES_ENV, kind, PIPE_KINDS, native)
        return native
    if kind == "loop" and sys.platform == "win32":
        log.warning("%s=loop cannot read Popen's pipes on Windows; using thread", PIPES_ENV)
        return "thread"
    return kind


async def read_output(
    loop: asyncio.AbstractEventLoop,
    pipe: IO[bytes],
    stream: str,
    sink: LineSink,
    *,
    name: str = "pipe",
) -> OutputPipe:
    """Start reading `pipe` into `sink` as `stream` lines, the way `requested_kind()` says.

    `name` names the reading thread (`<name>-<stream>`), if there is one.
    """
    if requested_kind() == "thread":
        return ThreadPipe(loop, pipe, stream, sink, name=name)
    return await LoopPipe.open(loop, pipe, stream, sink)
