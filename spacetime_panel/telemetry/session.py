"""The telemetry pipeline without the socket: frame -> decoder -> buffers, stats, recorder.

:class:`TelemetrySession` is what the WebSocket client feeds each received
frame into, and what tests and the benchmark drive directly (no loop, no
socket): ``ingest(frame, now)`` decodes, appends valid samples to the ring
buffers, updates the statistics, writes the CSV row when recording and calls
the ``on_event`` callback; ``summary(now)`` computes the figures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from spacetime_panel.telemetry.buffers import TelemetryBuffers
from spacetime_panel.telemetry.codec import (
    ErrorEvent,
    FpsSample,
    Hello,
    Rejected,
    TelemetryDecoder,
    TelemetryEvent,
    TrackingSample,
)
from spacetime_panel.telemetry.recorder import CsvRecorder
from spacetime_panel.telemetry.stats import TelemetryStats, TelemetrySummary

log = logging.getLogger(__name__)

EventCallback = Callable[[TelemetryEvent], None]


class TelemetrySession:
    """One panel's telemetry state: decoder, ring buffers, statistics and an optional recorder.

    ``on_event`` sees every decoded event (never a rejected frame). An
    exception in it is logged once per kind and counted in
    ``callback_errors``, and never stops the stream.
    """

    def __init__(
        self,
        *,
        buffers: TelemetryBuffers | None = None,
        stats: TelemetryStats | None = None,
        decoder: TelemetryDecoder | None = None,
        recorder: CsvRecorder | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.buffers = buffers if buffers is not None else TelemetryBuffers()
        self.stats = stats if stats is not None else TelemetryStats()
        self.decoder = decoder if decoder is not None else TelemetryDecoder()
        self.recorder = recorder
        self.on_event = on_event
        self.callback_errors = 0
        self._logged_callback_errors: set[str] = set()
        self.last_rejected: Rejected | None = None

    def ingest(self, frame: str | bytes, now: float) -> TelemetryEvent | Rejected:
        """Take one received frame at panel time ``now``; returns what it decoded to."""
        stats = self.stats
        stats.on_message(now)
        event = self.decoder.decode(frame)
        # Most frequent first: this runs up to 288 times a second.
        if isinstance(event, FpsSample):
            self.buffers.append_fps(event)
            stats.on_fps(now)
        elif isinstance(event, TrackingSample):
            self.buffers.append_tracking(event)
        elif isinstance(event, Rejected):
            self.last_rejected = event
            stats.on_rejected(event.kind)
            return event
        elif isinstance(event, Hello):
            stats.on_hello(event)
        elif isinstance(event, ErrorEvent):
            stats.on_error(event)
        recorder = self.recorder
        if recorder is not None:
            recorder.write(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:
                self.callback_errors += 1
                name = type(exc).__name__
                if name not in self._logged_callback_errors:
                    self._logged_callback_errors.add(name)
                    log.exception("telemetry on_event callback failed (logged once per kind)")
        return event

    def summary(self, now: float) -> TelemetrySummary:
        """The statistics at panel time ``now`` (see :mod:`.stats` for the definitions)."""
        return self.stats.summary(self.buffers, now)
