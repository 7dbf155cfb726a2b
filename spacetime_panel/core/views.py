"""What the Controller publishes, and the types the views need to read it.

The Qt face (and any other view) imports these from here, never from
`supervisor/`, `probes/` or `telemetry/`: the Controller is the one door
between a view and the core (DESIGN.md, "Data flows one way"). The types are
the core's own, re-exported; `RecordingStatus` is a snapshot made for views.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spacetime_panel.probes.instances import GameInstance
from spacetime_panel.probes.status import (
    BRIDGE_HTTP,
    DAP,
    DISCOVERY,
    LSP,
    MANAGEMENT_API,
    SERVICE_ORDER,
    TELEMETRY,
    ServiceState,
    ServiceStatus,
)
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.output import OutputLine
from spacetime_panel.supervisor.program import ProgramStatus
from spacetime_panel.telemetry.buffers import TelemetryBuffers, TrackingSeries
from spacetime_panel.telemetry.recorder import RecordingError
from spacetime_panel.telemetry.stats import TelemetrySummary

__all__ = [
    "BRIDGE_HTTP",
    "DAP",
    "DISCOVERY",
    "LSP",
    "MANAGEMENT_API",
    "SERVICE_ORDER",
    "TELEMETRY",
    "GameInstance",
    "OutputLine",
    "ProgramState",
    "ProgramStatus",
    "RecordingError",
    "RecordingStatus",
    "ServiceState",
    "ServiceStatus",
    "TelemetryBuffers",
    "TelemetrySummary",
    "TrackingSeries",
]


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """The telemetry recording now: on or off, samples written, where, and why it stopped."""

    recording: bool
    rows: int
    path: Path | None = None
    error: str | None = None
