"""The audit log: one line per mutating call of the management API (who, what, result).

A line reads::

    2026-12-02T06:30:00.123Z client=127.0.0.1 key=3f2a9c1b(control) POST /stop
    asked=program="game" -> 200

(on one line). `key` is a fingerprint (the first 8 hex digits of the SHA-256
of what the client presented), never the key or token itself; "no key" when
none was presented. Each line goes to a rotating `audit.log` in the panel's
log folder and to the panel log (logger `spacetime_panel.audit`). As a last
guard, every line is scrubbed of the secrets the log was given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import logging.handlers
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

AUDIT_FILE = "audit.log"
#: How much of a body is kept to tell what a call asked for.
BODY_SAMPLE_BYTES = 4096
#: The body fields that say what a call asked for.
ASKED_FIELDS = ("program", "path")
FIELD_LIMIT = 120

log = logging.getLogger("spacetime_panel.audit")


def fingerprint(credential: str | None) -> str:
    """`3f2a9c1b` for a presented key or token (not reversible), "no key" for none."""
    if not credential:
        return "no key"
    return hashlib.sha256(credential.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def printable(text: str, limit: int = FIELD_LIMIT) -> str:
    """`text` with control characters escaped (no forged lines), cut to `limit`."""
    escaped = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def asked(body: bytes) -> str:
    """What a JSON body asked for: its program/path fields, or "-"."""
    try:
        document = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return "(not JSON)" if len(body) < BODY_SAMPLE_BYTES else "(large body)"
    if not isinstance(document, dict):
        return "-"
    parts = [
        f"{name}={printable(json.dumps(document[name], ensure_ascii=False))}"
        for name in ASKED_FIELDS
        if name in document
    ]
    return " ".join(parts) or "-"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One mutating call, as the audit line tells it."""

    client: str
    key: str
    method: str
    path: str
    asked: str
    status: int
    time: datetime

    def line(self) -> str:
        stamp = self.time.astimezone(UTC).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z")
        return (
            f"{stamp} client={printable(self.client, 60)} key={self.key} "
            f"{self.method} {printable(self.path)} asked={self.asked} -> {self.status}"
        )


class AuditLog:
    """Writes audit lines to `path` (rotating; None: the panel log only) and the panel log."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        backup_count: int = 5,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.path = path
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._handler: logging.Handler | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._handler = handler

    def write(self, entry: AuditEntry, *, redact: Iterable[str | None] = ()) -> None:
        """Write one line, scrubbed of the log's secrets and of `redact` (what was presented)."""
        line = entry.line()
        for secret in (*self._secrets, *(s for s in redact if s and len(s) >= 8)):
            line = line.replace(secret, "[redacted]")
        if self._handler is not None:
            record = logging.LogRecord(log.name, logging.INFO, __file__, 0, line, None, None)
            self._handler.handle(record)
        log.info("%s", line)

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()
            self._handler = None
