"""A program's output: bytes to lines, a bounded tail, and a rotating log file.

`LineSplitter` is pure: it turns chunks of bytes into lines and keeps memory
bounded whatever the child writes (a 5 MB line without a newline costs at
most `max_line` bytes). `ProgramOutput` stores the lines.
"""

from __future__ import annotations

import logging
import logging.handlers
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024


class LineSplitter:
    """Splits a byte stream into text lines; overlong lines are cut, not buffered."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._dropped = 0  # bytes of the current line thrown away past max_line

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                self._keep(data[start:])
                return lines
            piece = data[start:end]
            self._keep(piece[:-1] if piece.endswith(b"\r") else piece)
            lines.append(self._take())
            start = end + 1

    def flush(self) -> list[str]:
        """The last unterminated line, if any (call when the stream ends)."""
        if self._buffer or self._dropped:
            return [self._take()]
        return []

    def _keep(self, piece: bytes) -> None:
        room = self.max_line - len(self._buffer)
        if len(piece) <= room:
            self._buffer += piece
        else:
            self._buffer += piece[:room]
            self._dropped += len(piece) - room

    def _take(self) -> str:
        text = self._buffer.decode("utf-8", errors="replace").rstrip("\r")
        if self._dropped:
            text += f" ... [line cut: {self._dropped} more bytes]"
        self._buffer.clear()
        self._dropped = 0
        return text


@dataclass(frozen=True, slots=True)
class OutputLine:
    timestamp: float  # wall clock, seconds since the epoch
    program: str
    stream: str  # "stdout" | "stderr" | "supervisor"
    text: str


class ProgramOutput:
    """The lines of one program: a bounded in-memory tail and a rotating log file."""

    def __init__(
        self,
        program: str,
        *,
        tail_lines: int = 2000,
        log_file: Path | None = None,
        max_bytes: int = 50 * 1024 * 1024,
        backup_count: int = 10,
    ) -> None:
        self.program = program
        self._tail: deque[OutputLine] = deque(maxlen=tail_lines)
        self._listeners: list[Callable[[OutputLine], None]] = []
        self._file: logging.Handler | None = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter("%(asctime)s %(stream)s %(message)s"))
            self._file = handler

    def subscribe(self, listener: Callable[[OutputLine], None]) -> None:
        """Call `listener` with every new line (keep it cheap: it runs on the event loop)."""
        self._listeners.append(listener)

    def add(self, stream: str, text: str) -> None:
        line = OutputLine(time.time(), self.program, stream, text)
        self._tail.append(line)
        for listener in self._listeners:
            try:
                listener(line)
            except Exception:  # a view's bug must not break supervision (or the file log)
                log.exception("output listener failed")
        if self._file is not None:
            record = logging.makeLogRecord(
                {"msg": text, "levelno": logging.INFO, "created": line.timestamp, "stream": stream}
            )
            self._file.handle(record)

    def tail(self, count: int) -> list[OutputLine]:
        if count <= 0:
            return []
        lines = list(self._tail)
        return lines[-count:]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
