"""Listening for the bridge's UDP beacons (DESIGN.md, "Discovery").

Several listeners share the port (SO_REUSEADDR, and SO_REUSEPORT where the OS has
it) so a panel, a CLI `status` and a test can all listen at once. On Linux a
unicast datagram to 127.0.0.1 reaches only one of them; the bridge's broadcast
copy reaches all, so with several listeners each sees at least the broadcast.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from spacetime_panel.probes.instances import (
    ForeignDatagramError,
    GameInstance,
    MalformedBeaconError,
    parse_beacon,
)
from spacetime_panel.probes.owner import PortOwner
from spacetime_panel.probes.status import (
    DISCOVERY,
    ProbeTarget,
    ServiceState,
    ServiceStatus,
    is_local_host,
)

DEFAULT_PORT = 8087
MAX_DATAGRAM = 64 * 1024
MAX_INSTANCES = 256
ARRIVALS_KEPT = 64


class ListenerState(enum.Enum):
    NEW = "new"
    LISTENING = "listening"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class DiscoveryCounts:
    """Datagrams received since start, by kind."""

    beacons: int = 0
    malformed: int = 0
    foreign: int = 0


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, str], object]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._on_datagram(data, str(addr[0]))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for a UDP listener carry no information we act on.
        return None


#: Copies of one beacon arrive within microseconds; beacons are a second apart.
DUPLICATE_WINDOW = 0.1


class DiscoveryListener:
    """Collects game instances from beacons; instances unseen for `stale_after` s drop out.

    Use in the running loop: `await listener.start()` (never raises: a bind
    failure is kept in `bind_error` and shows as DEGRADED), then `instances()`,
    `status()`, and `close()`.
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        host: str = "0.0.0.0",
        *,
        stale_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.stale_after = stale_after
        self.state = ListenerState.NEW
        self.bind_error: str | None = None
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._instances: dict[tuple[str, int], GameInstance] = {}
        self._arrivals: dict[tuple[str, int], deque[float]] = {}
        self._last: GameInstance | None = None
        self._counts = DiscoveryCounts()

    @property
    def counts(self) -> DiscoveryCounts:
        return self._counts

    async def start(self) -> bool:
        """Bind and listen; False (with `bind_error` set) if the port cannot be bound."""
        if self.state is ListenerState.LISTENING:
            return True
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.host, self.port))
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Receiver(self.receive), sock=sock
            )
        except OSError as exc:
            sock.close()
            self.state = ListenerState.FAILED
            self.bind_error = f"cannot listen on udp {self.host}:{self.port}: {exc.strerror or exc}"
            return False
        self._transport = transport
        self.port = int(sock.getsockname()[1])
        self.state = ListenerState.LISTENING
        self.bind_error = None
        return True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self.state is ListenerState.LISTENING:
            self.state = ListenerState.CLOSED

    async def __aenter__(self) -> DiscoveryListener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def receive(self, datagram: bytes, sender: str) -> GameInstance | None:
        """Take one datagram (the transport calls this; tests may too)."""
        now = self._clock()
        counts = self._counts
        if len(datagram) > MAX_DATAGRAM:
            self._counts = DiscoveryCounts(counts.beacons, counts.malformed + 1, counts.foreign)
            return None
        try:
            instance = parse_beacon(datagram, sender=sender, seen_at=now)
        except ForeignDatagramError:
            self._counts = DiscoveryCounts(counts.beacons, counts.malformed, counts.foreign + 1)
            return None
        except MalformedBeaconError:
            self._counts = DiscoveryCounts(counts.beacons, counts.malformed + 1, counts.foreign)
            return None
        self._counts = DiscoveryCounts(counts.beacons + 1, counts.malformed, counts.foreign)
        self._prune(now)
        if instance.key not in self._instances and len(self._instances) >= MAX_INSTANCES:
            oldest = min(self._instances.values(), key=lambda known: known.seen_at)
            self._forget(oldest.key)
        self._instances[instance.key] = instance
        arrivals = self._arrivals.setdefault(instance.key, deque(maxlen=ARRIVALS_KEPT))
        # One beacon may arrive as several copies (unicast, loopback and LAN broadcast):
        # copies within DUPLICATE_WINDOW count once for the rate.
        if not arrivals or now - arrivals[-1] > DUPLICATE_WINDOW:
            arrivals.append(now)
        self._last = instance
        return instance

    def instances(self, now: float | None = None) -> list[GameInstance]:
        """Instances heard from within `stale_after` seconds, most recent first."""
        self._prune(self._clock() if now is None else now)
        return sorted(self._instances.values(), key=lambda i: i.seen_at, reverse=True)

    def rate(self, instance: GameInstance, now: float | None = None) -> float | None:
        """Beacons per second from `instance` over the last `stale_after` seconds."""
        now = self._clock() if now is None else now
        times = [t for t in self._arrivals.get(instance.key, ()) if now - t <= self.stale_after]
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    def status(self, now: float | None = None) -> ServiceStatus:
        """The discovery port's row in the port table."""
        now = self._clock() if now is None else now
        target = ProbeTarget(DISCOVERY, self.host, self.port, "udp")
        if self.state is ListenerState.FAILED:
            return target.status(ServiceState.DEGRADED, self.bind_error or "cannot listen")
        if self.state is not ListenerState.LISTENING:
            return target.status(ServiceState.UNKNOWN, "not listening")
        fresh = self.instances(now)
        if not fresh:
            if self._last is None:
                return target.status(ServiceState.UNKNOWN, "no beacon yet")
            detail = f"no beacon for {self._last.age(now):.1f} s (last from pid {self._last.pid})"
            return target.status(ServiceState.DOWN, detail)
        newest = fresh[0]
        rate = self.rate(newest, now)
        rate_text = f"{rate:.1f} beacons/s" if rate is not None else "a beacon"
        project = f" (project {newest.project})" if newest.project else ""
        more = f", and {len(fresh) - 1} more" if len(fresh) > 1 else ""
        detail = (
            f"{rate_text} from pid {newest.pid}{project}, last {newest.age(now):.1f} s ago{more}"
        )
        status = target.status(ServiceState.UP, detail, server=newest.godot_version)
        return status.with_owner(_local_process(newest))

    def _prune(self, now: float) -> None:
        for key in [k for k, i in self._instances.items() if now - i.seen_at > self.stale_after]:
            self._forget(key)

    def _forget(self, key: tuple[str, int]) -> None:
        self._instances.pop(key, None)
        self._arrivals.pop(key, None)


def _local_process(instance: GameInstance) -> PortOwner:
    """The beacon's sender as the row's owner, named when it runs on this machine."""
    if not is_local_host(instance.host):
        return PortOwner(instance.pid, None)
    try:
        return PortOwner(instance.pid, psutil.Process(instance.pid).name())
    except psutil.Error:
        return PortOwner(instance.pid, None)
