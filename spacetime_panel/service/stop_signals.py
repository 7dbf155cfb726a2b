"""Ctrl+C and SIGTERM (Ctrl+Break on Windows) as a call on the event loop, on every platform.

`loop.add_signal_handler` is Unix-only (Windows' loops, and qasync's there,
raise NotImplementedError). Where the loop has none, a plain
`signal.signal` handler hands the call to the loop with
`call_soon_threadsafe`, which also wakes a loop that waits in select().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)


def stop_signals() -> list[signal.Signals]:
    """The signals that ask the panel to quit here: SIGINT, SIGTERM, and SIGBREAK on Windows."""
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def on_stop_signals(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], object]
) -> Callable[[], None]:
    """Call `callback()` on `loop` when a stop signal arrives; returns the undo.

    Uses the loop's own signal handling where it has it, and `signal.signal`
    with `loop.call_soon_threadsafe` where it does not.
    """
    undo: list[Callable[[], None]] = []
    for signum in stop_signals():
        try:
            loop.add_signal_handler(signum, callback)
        except (NotImplementedError, RuntimeError):
            undo.append(_fallback(loop, signum, callback))
        else:
            undo.append(_removal(loop, signum))

    def restore() -> None:
        for step in undo:
            with contextlib.suppress(Exception):
                step()

    return restore


def _fallback(
    loop: asyncio.AbstractEventLoop, signum: signal.Signals, callback: Callable[[], object]
) -> Callable[[], None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(callback)

    log.debug("the loop has no signal handling: %s through signal.signal", signum.name)
    previous = signal.signal(signum, handler)

    def restore() -> None:
        signal.signal(signum, previous)

    return restore


def _removal(loop: asyncio.AbstractEventLoop, signum: signal.Signals) -> Callable[[], None]:
    def remove() -> None:
        if not loop.is_closed():
            loop.remove_signal_handler(signum)

    return remove
