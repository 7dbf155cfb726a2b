"""Service discovery: a UDP beacon once a second and a port file in ``.godot/``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

PORT_FILE_NAME = "spacetime_bridge.json"


def port_file_path(project_root: Path) -> Path:
    """Where the bridge writes its discovery JSON: ``PROJECT/.godot/spacetime_bridge.json``."""
    return project_root / ".godot" / PORT_FILE_NAME


def write_port_file(path: Path, announcement: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(announcement, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, path)


def remove_port_file_if_ours(path: Path, pid: int) -> bool:
    """Delete the port file unless another bridge has written its own since."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(content, dict) or content.get("pid") != pid:
        return False
    with contextlib.suppress(OSError):
        path.unlink()
        return True
    return False


class DiscoveryBeacon:
    """Sends the announcement on loopback and to the broadcast address every ``interval`` s.

    On loopback it goes to 127.0.0.1 (for a listener bound to that address) and,
    when broadcasting is allowed, to 127.255.255.255: a unicast datagram reaches
    only one of several listeners sharing the port (SO_REUSEPORT), a loopback
    broadcast reaches every one bound to 0.0.0.0 (a panel and a `status` at once).
    Listeners see duplicates and keep one instance per (host, pid).
    """

    def __init__(self, announcement: dict[str, Any], port: int, interval: float = 1.0) -> None:
        self._payload = json.dumps(announcement).encode()
        self._port = port
        self._interval = interval
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._broadcast = True
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        except OSError:
            self._broadcast = False

    def send_once(self) -> None:
        """One beacon; errors (no listener, no network, not permitted) are ignored."""
        targets = [("127.0.0.1", self._port)]
        if self._broadcast:
            targets += [("127.255.255.255", self._port), ("255.255.255.255", self._port)]
        for target in targets:
            with contextlib.suppress(OSError):
                self._sock.sendto(self._payload, target)

    async def run(self) -> None:
        """Beacon forever (cancel to stop)."""
        try:
            while True:
                self.send_once()
                await asyncio.sleep(self._interval)
        finally:
            self._sock.close()
