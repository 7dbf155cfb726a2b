"""Per-service checks (LSP, DAP, HTTP, WebSocket, TCP, passive) and service discovery."""
