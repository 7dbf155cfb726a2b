"""Running games the panel can find, from three sources: UDP beacons, the port file the
bridge writes into the project, and (the fallback) asking `GET /status` on the bridge's
known ports. All three carry the same announcement:

    {"service": "spacetime-bridge", "protocol", "pid", "project", "host",
     "http_port", "telemetry_port", "godot_version"}
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import httpx

from spacetime_panel.godot.key_policy import ApprovedHosts, bearer_header

SERVICE_NAME = "spacetime-bridge"
PORT_FILE = Path(".godot") / "spacetime_bridge.json"
WILDCARD_HOSTS = ("", "0.0.0.0", "::")

Source = Literal["beacon", "port_file", "scan"]


@dataclass(frozen=True, slots=True)
class GameInstance:
    """One running game's bridge; `seen_at` is `time.monotonic()` when last heard of."""

    pid: int
    host: str
    http_port: int
    telemetry_port: int | None
    project: str | None
    godot_version: str | None
    source: Source
    seen_at: float
    protocol: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.host, self.pid)

    def age(self, now: float | None = None) -> float:
        """Seconds since it was last heard of."""
        return max(0.0, (time.monotonic() if now is None else now) - self.seen_at)

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "http_port": self.http_port,
            "telemetry_port": self.telemetry_port,
            "project": self.project,
            "godot_version": self.godot_version,
            "protocol": self.protocol,
            "source": self.source,
            "age_s": round(self.age(now), 3),
        }


class BeaconError(ValueError):
    """A datagram that is not a usable beacon."""


class MalformedBeaconError(BeaconError):
    """Not JSON, or a spacetime-bridge announcement with missing or wrong fields."""


class ForeignDatagramError(BeaconError):
    """Valid JSON from some other service sharing the port."""


def instance_from_announcement(
    data: Mapping[str, Any], *, source: Source, seen_at: float, sender: str | None = None
) -> GameInstance:
    """Validate an announcement; MalformedBeaconError names the first bad field.

    A wildcard or missing `host` is replaced by the sender's address.
    """
    pid = _as_int(data.get("pid"))
    if pid is None or pid <= 0:
        raise MalformedBeaconError("pid is not a positive integer")
    http_port = _as_port(data.get("http_port"))
    if http_port is None:
        raise MalformedBeaconError("http_port is not a port number")
    telemetry_port = _as_port(data.get("telemetry_port"))
    if telemetry_port is None and data.get("telemetry_port") is not None:
        raise MalformedBeaconError("telemetry_port is not a port number")
    host = data.get("host")
    if host is not None and not isinstance(host, str):
        raise MalformedBeaconError("host is not a string")
    if host is None or host in WILDCARD_HOSTS:
        host = sender or "127.0.0.1"
    return GameInstance(
        pid=pid,
        host=host,
        http_port=http_port,
        telemetry_port=telemetry_port,
        project=_text(data.get("project")),
        godot_version=_text(data.get("godot_version")),
        source=source,
        seen_at=seen_at,
        protocol=_text(data.get("protocol")),
    )


def parse_beacon(datagram: bytes, *, sender: str, seen_at: float) -> GameInstance:
    """One UDP datagram as a game instance; raises MalformedBeaconError or
    ForeignDatagramError (the listener counts them separately)."""
    try:
        data = json.loads(datagram)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBeaconError("not JSON") from None
    if not isinstance(data, dict):
        raise MalformedBeaconError("not a JSON object")
    if data.get("service") != SERVICE_NAME:
        raise ForeignDatagramError(f"service {data.get('service')!r}")
    return instance_from_announcement(data, source="beacon", seen_at=seen_at, sender=sender)


def read_port_file(project_dir: Path, *, now: float | None = None) -> GameInstance | None:
    """The instance in `PROJECT/.godot/spacetime_bridge.json`, or None if there is no
    usable file (missing, half-written, foreign). Never raises.

    The file says a bridge ran; it stays behind if the game was killed, so check
    the pid or the port before trusting it.
    """
    try:
        data = json.loads((project_dir / PORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("service", SERVICE_NAME) != SERVICE_NAME:
        return None
    seen_at = time.monotonic() if now is None else now
    try:
        return instance_from_announcement(data, source="port_file", seen_at=seen_at)
    except MalformedBeaconError:
        return None


async def scan_ports(
    client: httpx.AsyncClient,
    host: str,
    ports: Iterable[int],
    *,
    api_key: str | None = None,
    key_hosts: ApprovedHosts = (),
    timeout: float = 1.0,
) -> list[GameInstance]:
    """Ask `GET /status` on each port (concurrently); the bridges that answer with their
    identity, in the order of `ports`. Ports that do not answer are skipped.

    `api_key` goes only to loopback or to one of `key_hosts` (key_policy)."""
    headers = bearer_header(host, api_key, key_hosts)

    async def ask(port: int) -> GameInstance | None:
        where = f"[{host}]" if ":" in host else host
        try:
            async with asyncio.timeout(timeout):
                response = await client.get(
                    f"http://{where}:{port}/status", headers=headers, timeout=timeout
                )
            body = response.json()
        except (httpx.HTTPError, TimeoutError, ValueError, UnicodeDecodeError):
            return None
        bridge = body.get("bridge") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(bridge, dict):
            return None
        announced = {**bridge, "http_port": port, "host": host}
        try:
            return instance_from_announcement(announced, source="scan", seen_at=time.monotonic())
        except MalformedBeaconError:
            return None

    found = await asyncio.gather(*(ask(port) for port in ports))
    return [instance for instance in found if instance is not None]


def rank_instances(
    instances: Iterable[GameInstance], own_pid: int | None = None
) -> list[GameInstance]:
    """One entry per (host, pid), the freshest sighting kept; the supervisor's own game
    (`own_pid`) first, then the most recently seen."""
    newest: dict[tuple[str, int], GameInstance] = {}
    for instance in instances:
        known = newest.get(instance.key)
        if known is None or instance.seen_at > known.seen_at:
            newest[instance.key] = _merged(instance, known)
        else:
            newest[instance.key] = _merged(known, instance)

    def order(instance: GameInstance) -> tuple[bool, float]:
        return (instance.pid != own_pid, -instance.seen_at)

    return sorted(newest.values(), key=order)


def _merged(fresh: GameInstance, older: GameInstance | None) -> GameInstance:
    """The fresh sighting, with fields it lacks taken from an older one (a scan knows
    no telemetry port when the bridge did not say)."""
    if older is None:
        return fresh
    return replace(
        fresh,
        telemetry_port=fresh.telemetry_port or older.telemetry_port,
        project=fresh.project or older.project,
        godot_version=fresh.godot_version or older.godot_version,
        protocol=fresh.protocol or older.protocol,
    )


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_port(value: Any) -> int | None:
    number = _as_int(value)
    return number if number is not None and 1 <= number <= 65535 else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
