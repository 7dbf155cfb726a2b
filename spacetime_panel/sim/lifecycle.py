"""Process life shared by the game and the editor: signals, and the crash/hang faults.

SIGTERM/SIGINT set a stop event the running mode awaits, for a clean exit. A
second signal, or any signal while the loop is deliberately hung, exits at once
(after the synchronous clean-up), so a hung simulator still dies within a second
of SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

from spacetime_panel.sim.console import Console
from spacetime_panel.sim.faults import Faults, crash_now

HANG_POLL_SECONDS = 0.1


class SimLifecycle:
    """Owns the signal handlers and the fault timers for one run of the simulator."""

    def __init__(self, console: Console, faults: Faults) -> None:
        self._console = console
        self._faults = faults
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._stop_requested = False
        self._hung = False
        self._cleanups: list[Callable[[], object]] = []

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    def add_cleanup(self, cleanup: Callable[[], object]) -> None:
        """A quick synchronous clean-up (e.g. remove the port file) for the forced exit path."""
        self._cleanups.append(cleanup)

    def run_cleanups(self) -> None:
        """Run each clean-up once; failures are ignored (we are leaving anyway)."""
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            with contextlib.suppress(Exception):
                cleanup()

    def install(self) -> None:
        """Take SIGTERM/SIGINT and arm the crash/hang timers (call inside the running loop)."""
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        if self._faults.crash_after is not None:
            self._loop.call_later(self._faults.crash_after, self._crash)
        if self._faults.hang_after is not None:
            self._loop.call_later(self._faults.hang_after, self._hang)

    async def wait_stop(self) -> None:
        """Wait for a stop request."""
        await self._stop.wait()

    async def stop_requested_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a stop request; True if one came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the running mode to shut down cleanly."""
        self._stop_requested = True
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._hung or self._stop_requested or self._loop is None:
            self.run_cleanups()
            os._exit(0)
        self._stop_requested = True
        # Runs in the main thread between bytecodes; hand over to the loop safely.
        self._loop.call_soon_threadsafe(self._stop.set)

    def _crash(self) -> None:
        crash_now(self._faults.exit_code, self._console.error)

    def _hang(self) -> None:
        """Block the event loop thread: sockets stay open, nothing answers."""
        self._console.error("sim: hanging on purpose (the event loop is blocked)")
        self._hung = True
        while True:
            # Short sleeps so the signal handler (which exits) runs promptly.
            time.sleep(HANG_POLL_SECONDS)
