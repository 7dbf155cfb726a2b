"""The management HTTP API (/health, /status, /start, ...)."""
