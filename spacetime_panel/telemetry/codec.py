"""Telemetry codec: one WebSocket text frame in, one typed event (or a rejection) out.

Pure and sans-I/O, like the protocol core of ``websockets``: feed it a frame,
read the result; no socket, clock or loop, so it is tested without any.

Frames are ``{"event": str, "timestamp": float, "data": {...}}`` (see
DESIGN.md, "The bridge protocol"). :meth:`TelemetryDecoder.decode` never
raises: whatever arrives (bad UTF-8, invalid JSON, ``NaN`` literals, huge
numbers, deep nesting, wrong types) becomes a :class:`Rejected` with a
:class:`RejectKind` and a short reason, so only valid samples reach the ring
buffers, the statistics and the CSV file.

This is the hot path (up to 288 frames/s at 144 Hz): ``json.loads`` and then
direct ``type(x) is ...`` checks, no schema library. Booleans are not numbers
(``type(True) is bool``), and every number must be finite and in range.

Texts the game sends (an ``error``'s message and source, a ``log``'s
message) are cut here, before anything keeps them: a message to
``MAX_TEXT_BYTES`` (4 KiB of UTF-8), a source or level to ``MAX_NAME_BYTES``,
each with a "… (cut, N more bytes)" marker. A 1 MiB error then costs the log
tail, the statistics and the CSV file 4 KiB, never 1 MiB.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Vector3 = tuple[float, float, float]
Quaternion = tuple[float, float, float, float]

DEFAULT_MAX_FRAME = 1024 * 1024
MAX_FPS = 10_000.0
MAX_MS = 60_000.0  # a frame-time value over a minute is a broken sender, not a slow frame
MAX_COORD = 1_000_000.0  # metres
MAX_QUAT = 1.01  # unit quaternion components, with room for rounding
MAX_RATE_HZ = 1000.0
MAX_TIMESTAMP = 1e11  # seconds since the epoch; year 5138
#: An error's or log's message is cut to this many bytes of UTF-8 (plus the marker).
MAX_TEXT_BYTES = 4 * 1024
#: An error's source, a log's level: a file name or a word.
MAX_NAME_BYTES = 256


class RejectKind(enum.StrEnum):
    """Why a frame was refused, in broad classes that the summary counts."""

    OVERSIZE = "oversize"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    UNKNOWN_EVENT = "unknown_event"
    BAD_FIELD = "bad_field"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame that did not decode; ``reason`` is one line for logs."""

    reason: str
    kind: RejectKind = RejectKind.BAD_FIELD


@dataclass(frozen=True, slots=True)
class Pose:
    """A tracked device: position in metres, rotation as a unit quaternion (x, y, z, w)."""

    position: Vector3
    rotation: Quaternion


@dataclass(frozen=True, slots=True)
class Hello:
    """The first frame of a connection: who is talking and at what rate."""

    timestamp: float
    protocol: str
    godot_version: str
    project: str
    pid: int
    rate_hz: float


@dataclass(frozen=True, slots=True)
class FpsSample:
    """Frame timing of one frame (milliseconds)."""

    timestamp: float
    fps: float
    frame_time_ms: float
    process_time_ms: float
    physics_time_ms: float


@dataclass(frozen=True, slots=True)
class TrackingSample:
    """Headset and controller poses; None for a device that is not tracked."""

    timestamp: float
    headset: Pose | None
    left_controller: Pose | None
    right_controller: Pose | None


@dataclass(frozen=True, slots=True)
class SceneLoaded:
    timestamp: float
    name: str | None
    path: str


@dataclass(frozen=True, slots=True)
class PlayerSpawned:
    timestamp: float
    position: Vector3 | None


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An error the game reported (not a protocol error: those are :class:`Rejected`)."""

    timestamp: float
    message: str
    source: str


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp: float
    level: str
    message: str


TelemetryEvent = (
    Hello | FpsSample | TrackingSample | SceneLoaded | PlayerSpawned | ErrorEvent | LogEvent
)


class _Invalid(Exception):
    """Internal: a field check failed; the message becomes the rejection reason."""


def _number(data: dict[str, Any], key: str, low: float, high: float) -> float:
    value = data.get(key)
    kind = type(value)
    if kind is not float and kind is not int:
        raise _Invalid(f"{key} is not a number")
    # Compare before float(): a huge JSON integer would overflow it. NaN fails every comparison.
    if not low <= value <= high:  # type: ignore[operator]  # int or float, checked above
        raise _Invalid(f"{key}={str(value)[:20]} is out of range ({low:g}..{high:g})")
    return float(value)  # type: ignore[arg-type]


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if type(value) is not str:
        raise _Invalid(f"{key} is not a string")
    return value


def cut_text(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    """`text` within `limit` bytes of UTF-8, or its head and "… (cut, N more bytes)".

    The head ends on a whole character; N counts the bytes left out.
    """
    if len(text) <= limit // 4:  # four bytes a character at most: short enough as it is
        return text
    raw = text.encode("utf-8", "surrogatepass")  # JSON may carry a lone surrogate
    if len(raw) <= limit:
        return text
    head = raw[:limit].decode("utf-8", "ignore")
    kept = len(head.encode("utf-8", "surrogatepass"))
    return f"{head}… (cut, {len(raw) - kept} more bytes)"


def _floats(value: Any, length: int, bound: float, what: str) -> tuple[float, ...]:
    if type(value) is not list or len(value) != length:
        raise _Invalid(f"{what} is not a list of {length} numbers")
    for item in value:
        kind = type(item)
        # Range check before float(): a huge JSON integer would overflow it; NaN fails it.
        if (kind is not float and kind is not int) or not -bound <= item <= bound:
            raise _Invalid(f"{what} holds {str(item)[:20]}, not a number in range")
    return tuple(map(float, value))


def _pose(data: dict[str, Any], key: str) -> Pose | None:
    if key not in data:
        raise _Invalid(f"{key} is missing")
    value = data[key]
    if value is None:
        return None
    if type(value) is not dict:
        raise _Invalid(f"{key} is not an object or null")
    position = _floats(value.get("position"), 3, MAX_COORD, key + ".position")
    rotation = _floats(value.get("rotation"), 4, MAX_QUAT, key + ".rotation")
    return Pose(position, rotation)  # type: ignore[arg-type]  # lengths checked in _floats


def _fps(ts: float, d: dict[str, Any]) -> FpsSample:
    return FpsSample(
        ts,
        _number(d, "fps", 0.0, MAX_FPS),
        _number(d, "frame_time_ms", 0.0, MAX_MS),
        _number(d, "process_time_ms", 0.0, MAX_MS),
        _number(d, "physics_time_ms", 0.0, MAX_MS),
    )


def _tracking(ts: float, d: dict[str, Any]) -> TrackingSample:
    return TrackingSample(
        ts, _pose(d, "headset"), _pose(d, "left_controller"), _pose(d, "right_controller")
    )


def _hello(ts: float, d: dict[str, Any]) -> Hello:
    pid = d.get("pid")
    if type(pid) is not int or pid < 0:
        raise _Invalid("pid is not a non-negative integer")
    return Hello(
        ts,
        _text(d, "protocol"),
        _text(d, "godot_version"),
        _text(d, "project"),
        pid,
        _number(d, "rate_hz", 1e-9, MAX_RATE_HZ),
    )


def _scene_loaded(ts: float, d: dict[str, Any]) -> SceneLoaded:
    name = d.get("name")
    if name is not None and type(name) is not str:
        raise _Invalid("name is not a string or null")
    return SceneLoaded(ts, name, _text(d, "path"))


def _player_spawned(ts: float, d: dict[str, Any]) -> PlayerSpawned:
    raw = d.get("position")
    position = None if raw is None else _floats(raw, 3, MAX_COORD, "position")
    return PlayerSpawned(ts, position)  # type: ignore[arg-type]  # length checked


def _error(ts: float, d: dict[str, Any]) -> ErrorEvent:
    message = cut_text(_text(d, "message"))
    return ErrorEvent(ts, message, cut_text(_text(d, "source", ""), MAX_NAME_BYTES))


def _log(ts: float, d: dict[str, Any]) -> LogEvent:
    level = cut_text(_text(d, "level", "info"), MAX_NAME_BYTES)
    return LogEvent(ts, level, cut_text(_text(d, "message")))


_PARSERS: dict[str, Callable[[float, dict[str, Any]], TelemetryEvent]] = {
    "fps": _fps,
    "vr_tracking": _tracking,
    "hello": _hello,
    "scene_loaded": _scene_loaded,
    "player_spawned": _player_spawned,
    "error": _error,
    "log": _log,
}
EVENT_NAMES = frozenset(_PARSERS)


@dataclass
class TelemetryDecoder:
    """Decodes frames and counts what it decoded and rejected (by :class:`RejectKind`).

    ``max_frame`` bounds the frame's length (characters, or bytes for a binary
    frame; a cheap check made before parsing); the WebSocket client enforces
    its own ``max_size`` too.
    """

    max_frame: int = DEFAULT_MAX_FRAME
    decoded: int = 0
    rejected: int = 0
    rejected_by_kind: dict[RejectKind, int] = field(default_factory=dict)

    def decode(self, frame: str | bytes) -> TelemetryEvent | Rejected:
        """One frame to an event, or a :class:`Rejected`; never raises."""
        result = self._decode(frame)
        if type(result) is Rejected:
            self.rejected += 1
            kind = result.kind
            self.rejected_by_kind[kind] = self.rejected_by_kind.get(kind, 0) + 1
        else:
            self.decoded += 1
        return result

    def _decode(self, frame: str | bytes) -> TelemetryEvent | Rejected:
        if len(frame) > self.max_frame:
            return Rejected(f"frame of {len(frame)} > {self.max_frame}", RejectKind.OVERSIZE)
        try:
            message = json.loads(frame)
        except (ValueError, RecursionError, TypeError) as exc:
            # ValueError covers JSONDecodeError, bad UTF-8 and over-long integers.
            return Rejected(f"not JSON: {str(exc)[:80]}", RejectKind.NOT_JSON)
        if type(message) is not dict:
            return Rejected("not a JSON object", RejectKind.NOT_OBJECT)
        event = message.get("event")
        parser = _PARSERS.get(event) if type(event) is str else None
        if parser is None:
            return Rejected(f"unknown event {str(event)[:40]!r}", RejectKind.UNKNOWN_EVENT)
        ts = message.get("timestamp")
        if (type(ts) is not float and type(ts) is not int) or not 0.0 <= ts <= MAX_TIMESTAMP:
            return Rejected(f"{event}: timestamp is not a number in 0..1e11")
        data = message.get("data")
        if type(data) is not dict:
            return Rejected(f"{event}: data is not an object")
        try:
            return parser(float(ts), data)
        except _Invalid as exc:
            return Rejected(f"{event}: {exc}")
