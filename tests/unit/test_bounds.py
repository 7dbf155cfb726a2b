"""Bounds that hold without a loop: telemetry texts are cut, reconnect delays have a ceiling.

docs/bounds.md names every bound; these tests hold the pure ones to it.
"""

from __future__ import annotations

import itertools
import json

from spacetime_panel.telemetry.client import ReconnectPolicy
from spacetime_panel.telemetry.codec import (
    DEFAULT_MAX_FRAME,
    MAX_NAME_BYTES,
    MAX_TEXT_BYTES,
    ErrorEvent,
    LogEvent,
    TelemetryDecoder,
    cut_text,
)


def frame(event: str, data: dict[str, object]) -> str:
    return json.dumps({"event": event, "timestamp": 1_700_000_000.0, "data": data})


def test_a_text_within_the_limit_is_kept_as_it_is() -> None:
    for text in ("", "boom", "é" * (MAX_TEXT_BYTES // 2), "x" * MAX_TEXT_BYTES):
        assert cut_text(text) is text


def test_a_long_text_is_cut_to_the_limit_with_a_marker_that_counts_the_rest() -> None:
    text = "x" * (MAX_TEXT_BYTES + 1000)
    cut = cut_text(text)
    assert cut == "x" * MAX_TEXT_BYTES + "… (cut, 1000 more bytes)"


def test_the_cut_never_splits_a_character() -> None:
    text = "€" * MAX_TEXT_BYTES  # three bytes each: the limit falls inside one
    cut = cut_text(text)
    head, marker = cut.split("… (cut, ")
    assert set(head) == {"€"}
    assert len(head.encode()) <= MAX_TEXT_BYTES
    assert marker == f"{3 * MAX_TEXT_BYTES - len(head.encode())} more bytes)"


def test_a_lone_surrogate_from_json_does_not_break_the_cut() -> None:
    text = json.loads('"\\ud800"') + "y" * (2 * MAX_TEXT_BYTES)
    assert len(cut_text(text).encode("utf-8", "surrogatepass")) < MAX_TEXT_BYTES + 40


def test_an_error_or_log_of_1_mib_decodes_to_4_kib() -> None:
    """The largest frame the client accepts, carrying one huge message and source."""
    decoder = TelemetryDecoder()
    room = DEFAULT_MAX_FRAME - 200
    error = decoder.decode(frame("error", {"message": "m" * room, "source": "s"}))
    assert isinstance(error, ErrorEvent)
    assert len(error.message.encode()) < MAX_TEXT_BYTES + 40
    assert error.message.endswith(f"… (cut, {room - MAX_TEXT_BYTES} more bytes)")
    source = decoder.decode(frame("error", {"message": "m", "source": "s" * room}))
    assert isinstance(source, ErrorEvent) and len(source.source) < MAX_NAME_BYTES + 40
    half = room // 2
    log = decoder.decode(frame("log", {"level": "l" * half, "message": "m" * half}))
    assert isinstance(log, LogEvent)
    assert len(log.level) < MAX_NAME_BYTES + 40 and len(log.message) < MAX_TEXT_BYTES + 40


def test_reconnect_delays_keep_their_schedule_shortened_by_at_most_the_jitter() -> None:
    def delays(rng_value: float) -> list[float]:
        policy = ReconnectPolicy(
            initial=0.5, maximum=10.0, fast_period=30.0, jitter=0.25, rng=lambda: rng_value
        )
        return [policy.next_delay(t) for t in (0.0, 29.0, 30.0, 31.0, 32.0, 36.0, 45.0, 60.0)]

    assert delays(0.0) == [0.5, 0.5, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert delays(1.0) == [0.375, 0.375, 0.375, 0.75, 1.5, 3.0, 6.0, 7.5]


def test_reconnect_delays_never_pass_the_ceiling_and_differ_between_panels() -> None:
    policy = ReconnectPolicy(initial=0.5, maximum=10.0, fast_period=30.0, jitter=0.25)
    seen = [policy.next_delay(30.0 + t) for t in range(200)]
    assert max(seen) <= 10.0
    assert all(7.5 <= delay <= 10.0 for delay in seen[6:])  # at the ceiling, jittered
    assert len(set(seen[6:])) > 100  # two panels do not retry in step
    fast = ReconnectPolicy(jitter=0.25)
    assert all(0.375 <= fast.next_delay(t) <= 0.5 for t in itertools.repeat(1.0, 50))
