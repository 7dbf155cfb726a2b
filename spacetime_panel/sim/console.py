"""Log lines to stdout/stderr that survive a supervisor that went away.

The supervisor may be SIGKILLed and restarted while the simulated Godot keeps
running; its pipes then break. A write must never crash the simulator, so on
the first failure the stream's file descriptor is pointed at ``os.devnull``
(also keeping Python's own flush at exit from failing with code 120).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import TextIO

LogListener = Callable[[str, str], None]


def _silence_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


class Console:
    """Writes flushed log lines; a broken stream is silenced instead of raising.

    ``listener`` (level, message) lets the telemetry server mirror lines as
    ``log`` events.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._err = err if err is not None else sys.stderr
        self.listener: LogListener | None = None

    def info(self, message: str) -> None:
        """A normal log line on stdout."""
        self._write(self._out, message)
        self._notify("info", message)

    def error(self, message: str) -> None:
        """An error line on stderr (Godot prints errors there)."""
        self._write(self._err, message)
        self._notify("error", message)

    def engine_error(self, message: str, source: str) -> None:
        """An engine error as Godot prints it (`ERROR: ...`, then `   at: ...`) on stderr.

        Not mirrored as a `log` event: the bridge's logger sends it as an `error` event.
        """
        self._write(self._err, f"ERROR: {message}\n   at: {source}")

    def _notify(self, level: str, message: str) -> None:
        if self.listener is not None:
            self.listener(level, message)

    @staticmethod
    def _write(stream: TextIO, message: str) -> None:
        try:
            stream.write(message + "\n")
            stream.flush()
        except (OSError, ValueError):
            # BrokenPipeError and friends: nobody reads us any more.
            try:
                fd = stream.fileno()
            except (OSError, ValueError):
                return
            _silence_fd(fd)
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
