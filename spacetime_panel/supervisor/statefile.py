"""What the supervisor launched, on disk, so that a restarted panel adopts it.

One small JSON file: `{"game": {"pid": 123, "create_time": 1733140200.5, ...}}`.
Written atomically (temporary file, then rename) so that a panel killed
mid-write never leaves half a file behind. `record` and `forget` raise OSError
when the folder cannot be written; the supervisor turns that into a warning
(the program is supervised all the same; only adoption after a restart is lost).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LaunchRecord:
    pid: int
    create_time: float
    command: list[str]


class StateFile:
    """The launched programs of one panel, keyed by program name."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, LaunchRecord]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable state file %s: %s", self.path, error)
            return {}
        records: dict[str, LaunchRecord] = {}
        if isinstance(raw, dict):
            for name, entry in raw.items():
                try:
                    records[name] = LaunchRecord(
                        pid=int(entry["pid"]),
                        create_time=float(entry["create_time"]),
                        command=[str(part) for part in entry.get("command", [])],
                    )
                except (KeyError, TypeError, ValueError):
                    log.warning("ignoring bad entry %r in state file %s", name, self.path)
        return records

    def record(self, name: str, launch: LaunchRecord) -> None:
        records = self.load()
        records[name] = launch
        self._write(records)

    def forget(self, name: str) -> None:
        records = self.load()
        if records.pop(name, None) is not None:
            self._write(records)

    def _write(self, records: dict[str, LaunchRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        payload = {name: asdict(record) for name, record in records.items()}
        try:
            temporary.write_text(json.dumps(payload, indent=2), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            # A full disk must not also leave half a temporary file behind.
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        if not records:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
