"""The game's telemetry: codec (pure), ring buffers and statistics, recorder, WebSocket client.

Typical use (the controller, the CLI)::

    client = TelemetryClient("ws://127.0.0.1:8081")
    client.start()                      # in the running loop
    client.summary().to_json()          # a few times per second
    client.buffers.fps_series(n)        # for the graphs
    await client.stop()
"""

from spacetime_panel.telemetry.buffers import TelemetryBuffers
from spacetime_panel.telemetry.client import TelemetryClient
from spacetime_panel.telemetry.recorder import CsvRecorder, RecordingError
from spacetime_panel.telemetry.session import TelemetrySession
from spacetime_panel.telemetry.stats import ConnectionState, TelemetryStats, TelemetrySummary

__all__ = [
    "ConnectionState",
    "CsvRecorder",
    "RecordingError",
    "TelemetryBuffers",
    "TelemetryClient",
    "TelemetrySession",
    "TelemetryStats",
    "TelemetrySummary",
]
