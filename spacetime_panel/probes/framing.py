"""Content-Length framing for LSP and DAP, sans I/O, plus a small asyncio stream around it.

We send exactly one header, `Content-Length: N\\r\\n\\r\\n`: Godot's parser reads
the number at a fixed offset and rejects anything else. We read tolerantly:
other servers (pylsp, debugpy) may add `Content-Type`, and header names are
case-insensitive.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from spacetime_panel.probes.status import BadAnswerError, PeerClosedError

HEADER_END = b"\r\n\r\n"
MAX_HEADER = 8 * 1024
MAX_BODY = 4 * 1024 * 1024
READ_CHUNK = 64 * 1024


class FramingError(BadAnswerError):
    """The bytes are not `Content-Length` frames of JSON objects."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """One JSON object framed with the single header Godot accepts."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: " + str(len(body)).encode("ascii") + HEADER_END + body


def parse_header(block: bytes) -> int:
    """The body length from a header block (without the blank line); FramingError if bad."""
    try:
        text = block.decode("ascii")
    except UnicodeDecodeError:
        raise FramingError("bad header: not ASCII") from None
    length: int | None = None
    for line in text.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or name != name.strip():
            raise FramingError(f"bad header: {line[:60]!r}")
        if name.lower() == "content-length":
            value = value.strip()
            if not value.isdigit():
                raise FramingError(f"bad header: Content-Length {value[:20]!r}")
            length = int(value)
    if length is None:
        raise FramingError("bad header: no Content-Length")
    if length > MAX_BODY:
        raise FramingError(f"message too large ({length} bytes)")
    return length


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FramingError("not JSON") from None
    if not isinstance(message, dict):
        raise FramingError("not a JSON object")
    return message


class FrameParser:
    """Feed bytes in, get complete JSON messages out; raises FramingError on garbage."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._length: int | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not make a complete message yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while True:
            if self._length is None:
                end = self._buffer.find(HEADER_END)
                if end < 0:
                    if len(self._buffer) > MAX_HEADER:
                        raise FramingError("bad header: no end of header")
                    self._check_prefix()
                    return messages
                self._length = parse_header(bytes(self._buffer[:end]))
                del self._buffer[: end + len(HEADER_END)]
            if len(self._buffer) < self._length:
                return messages
            body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
            self._length = None
            messages.append(parse_body(body))

    def _check_prefix(self) -> None:
        # Fail fast on a peer that clearly speaks something else (an HTTP status
        # line, a banner) instead of waiting for a header end that never comes.
        first_line, newline, _ = bytes(self._buffer).partition(b"\r\n")
        if newline and b":" not in first_line:
            raise FramingError(f"bad header: {first_line[:60].decode('ascii', 'replace')!r}")


class FramedStream:
    """Content-Length messages over an asyncio stream pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = FrameParser()
        self._ready: list[dict[str, Any]] = []

    @property
    def partial_bytes(self) -> int:
        return self._parser.pending

    async def send(self, message: dict[str, Any]) -> None:
        self._writer.write(encode_frame(message))
        await self._writer.drain()

    async def receive(self) -> dict[str, Any]:
        """The next message; PeerClosedError at end of stream, FramingError on garbage."""
        while not self._ready:
            data = await self._reader.read(READ_CHUNK)
            if not data:
                raise PeerClosedError(
                    "closed the connection mid-message"
                    if self._parser.pending
                    else "closed the connection without answering"
                )
            self._ready.extend(self._parser.feed(data))
        return self._ready.pop(0)
