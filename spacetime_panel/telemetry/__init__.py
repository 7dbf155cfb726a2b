"""The game's telemetry: codec (pure), ring buffers and statistics, recorder, WebSocket client."""
