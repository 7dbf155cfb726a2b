"""Seeing a process end without ever blocking the event loop or the panel's quit.

An `ExitWatch` is opened on a pid before anything else is asked about that
process: it is the process's handle, so that what is checked afterwards
(start time, command line) belongs to the process being watched, and a pid
recycled in between is noticed (`has_exited()`).

Which watch runs where:

- `pidfd` (Linux 5.3+): the pidfd becomes readable when the process ends;
  the loop's reader wakes at once.
- `kqueue` (macOS, the BSDs): an `EVFILT_PROC`/`NOTE_EXIT` event on a kqueue
  whose descriptor the loop reads.
- `handle` (Windows): the process handle is awaited by a daemon thread in
  slices of 100 ms, so it can be abandoned and never holds up the quit.
- `poll` (anything else, the last resort): psutil is asked every 50 ms from
  the loop's own timer.

`SPACETIME_SUPERVISOR_EXIT_WATCH=pidfd|kqueue|handle|poll` forces one (the
tests force `poll` on Linux); `auto` or unset picks the best one available.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import psutil

log = logging.getLogger(__name__)

EXIT_WATCH_ENV = "SPACETIME_SUPERVISOR_EXIT_WATCH"
POLL_INTERVAL = 0.05  # s: the polling watch's delay between two looks at the process
WATCH_KINDS = ("pidfd", "kqueue", "handle", "poll")


class ExitWatch(ABC):
    """A handle on one process that tells the loop when the process has ended."""

    kind: ClassVar[str]

    @abstractmethod
    def start(self, on_exit: Callable[[], None]) -> None:
        """Call `on_exit()` on the loop, once, when the process has ended."""

    @abstractmethod
    def has_exited(self) -> bool:
        """True if the process has already ended (a non-blocking look)."""

    @abstractmethod
    def close(self) -> None:
        """Stop watching and release the handle; never blocks, `on_exit` is not called after."""


class PidfdWatch(ExitWatch):
    """Linux: a pidfd, readable once the process has ended."""

    kind = "pidfd"

    def __init__(self, pid: int, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._fd: int | None = os.pidfd_open(pid)
        self._reading = False

    def start(self, on_exit: Callable[[], None]) -> None:
        assert self._fd is not None
        self._reading = True
        self._loop.add_reader(self._fd, self._fire, on_exit)

    def _fire(self, on_exit: Callable[[], None]) -> None:
        self.close()
        on_exit()

    def has_exited(self) -> bool:
        if self._fd is None:
            return True
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        if self._fd is None:
            return
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        os.close(self._fd)
        self._fd = None


class PollingWatch(ExitWatch):
    """The last resort: look at the process every `interval` s from the loop's timer.

    A child of ours is looked at with `Popen.poll()` (which also reaps it);
    an adopted process through a psutil handle that remembers its start time,
    so a recycled pid reads as ended.
    """

    kind = "poll"

    def __init__(
        self,
        pid: int,
        loop: asyncio.AbstractEventLoop,
        *,
        popen: subprocess.Popen[bytes] | None = None,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self._loop = loop
        self._popen = popen
        # A psutil handle remembers the start time: a recycled pid then reads as ended.
        # Raises NoSuchProcess when the process is gone (our own child cannot be).
        self._process = psutil.Process(pid) if popen is None else None
        self._interval = interval
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def start(self, on_exit: Callable[[], None]) -> None:
        self._timer = self._loop.call_later(self._interval, self._tick, on_exit)

    def _tick(self, on_exit: Callable[[], None]) -> None:
        if self._closed:
            return
        if self.has_exited():
            self.close()
            on_exit()
        else:
            self._timer = self._loop.call_later(self._interval, self._tick, on_exit)

    def has_exited(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is not None
        assert self._process is not None
        try:
            return not self._process.is_running() or self._process.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return True

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


if sys.platform == "darwin" or sys.platform.startswith("freebsd"):

    class KqueueWatch(ExitWatch):
        """macOS and the BSDs: NOTE_EXIT on a kqueue that the loop reads."""

        kind = "kqueue"

        def __init__(self, pid: int, loop: asyncio.AbstractEventLoop) -> None:
            self._loop = loop
            self._queue: select.kqueue | None = select.kqueue()
            event = select.kevent(
                pid,
                filter=select.KQ_FILTER_PROC,
                flags=select.KQ_EV_ADD | select.KQ_EV_ONESHOT,
                fflags=select.KQ_NOTE_EXIT,
            )
            try:
                self._queue.control([event], 0, 0)  # ProcessLookupError when it is gone
            except BaseException:
                self._queue.close()
                raise
            self._reading = False
            self._fired = False

        def start(self, on_exit: Callable[[], None]) -> None:
            assert self._queue is not None
            self._reading = True
            self._loop.add_reader(self._queue.fileno(), self._fire, on_exit)

        def _fire(self, on_exit: Callable[[], None]) -> None:
            self.close()
            on_exit()

        def has_exited(self) -> bool:
            if self._queue is None or self._fired:
                return True
            self._fired = bool(self._queue.control(None, 1, 0))
            return self._fired

        def close(self) -> None:
            if self._queue is None:
                return
            if self._reading:
                self._loop.remove_reader(self._queue.fileno())
                self._reading = False
            self._queue.close()
            self._queue = None


if sys.platform == "win32":
    import _winapi

    _SYNCHRONIZE = 0x00100000
    _PROCESS_QUERY_LIMITED_INFORMATION = 0x1000

    class HandleWatch(ExitWatch):
        """Windows: the process handle, awaited by a daemon thread in 100 ms slices.

        Holding the handle keeps the pid from being given to another process.
        """

        kind = "handle"

        def __init__(self, pid: int, loop: asyncio.AbstractEventLoop) -> None:
            self._loop = loop
            try:
                self._handle = _winapi.OpenProcess(
                    _SYNCHRONIZE | _PROCESS_QUERY_LIMITED_INFORMATION, False, pid
                )
            except OSError as error:
                raise ProcessLookupError(pid) from error
            self._closed = threading.Event()
            self._thread: threading.Thread | None = None

        def start(self, on_exit: Callable[[], None]) -> None:
            self._thread = threading.Thread(
                target=self._wait, args=(on_exit,), name="exit-watch", daemon=True
            )
            self._thread.start()

        def _wait(self, on_exit: Callable[[], None]) -> None:
            try:
                while not self._closed.is_set():
                    if _winapi.WaitForSingleObject(self._handle, 100) == _winapi.WAIT_OBJECT_0:
                        with contextlib.suppress(RuntimeError):  # the loop is closed
                            self._loop.call_soon_threadsafe(self._fire, on_exit)
                        return
            finally:
                _winapi.CloseHandle(self._handle)

        def _fire(self, on_exit: Callable[[], None]) -> None:
            if not self._closed.is_set():
                self._closed.set()
                on_exit()

        def has_exited(self) -> bool:
            if self._closed.is_set():
                return True
            return _winapi.WaitForSingleObject(self._handle, 0) == _winapi.WAIT_OBJECT_0

        def close(self) -> None:
            already = self._closed.is_set()
            self._closed.set()
            if self._thread is None and not already:
                _winapi.CloseHandle(self._handle)  # no thread to close it on its way out


def requested_kind() -> str:
    """The watch the environment asks for: one of WATCH_KINDS, or "auto"."""
    kind = os.environ.get(EXIT_WATCH_ENV, "auto").strip().lower() or "auto"
    if kind != "auto" and kind not in WATCH_KINDS:
        log.warning("%s=%s is not one of %s; using auto", EXIT_WATCH_ENV, kind, WATCH_KINDS)
        return "auto"
    return kind


def open_exit_watch(
    pid: int,
    loop: asyncio.AbstractEventLoop,
    *,
    popen: subprocess.Popen[bytes] | None = None,
    kind: str | None = None,
) -> ExitWatch:
    """Open the best watch on `pid` (or the `kind` asked for, else the environment's).

    Raises ProcessLookupError when the process is already gone, another OSError
    when it cannot be watched.
    """
    kind = kind or requested_kind()
    try:
        return _open(pid, loop, popen, kind)
    except ProcessLookupError:
        if popen is None:
            raise
        # Our own child that ended already (kqueue refuses a zombie): Popen.poll() sees it.
        return PollingWatch(pid, loop, popen=popen)


def _open(
    pid: int, loop: asyncio.AbstractEventLoop, popen: subprocess.Popen[bytes] | None, kind: str
) -> ExitWatch:
    if kind in ("auto", "pidfd") and hasattr(os, "pidfd_open"):
        try:
            return PidfdWatch(pid, loop)
        except ProcessLookupError:
            raise
        except OSError as error:  # a kernel without pidfd: fall through
            log.debug("pidfd_open(%d) failed: %s", pid, error)
    if kind in ("auto", "kqueue") and (
        sys.platform == "darwin" or sys.platform.startswith("freebsd")
    ):
        return KqueueWatch(pid, loop)
    if kind in ("auto", "handle") and sys.platform == "win32":
        return HandleWatch(pid, loop)
    if kind not in ("auto", "poll"):
        log.warning("exit watch %r is not available here; polling instead", kind)
    try:
        return PollingWatch(pid, loop, popen=popen)
    except psutil.NoSuchProcess:
        raise ProcessLookupError(pid) from None
    except psutil.Error as error:  # AccessDenied: someone else's process
        raise PermissionError(f"pid {pid}: {error}") from error
