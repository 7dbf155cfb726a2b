"""The port table, kept current: all six services checked together, periodically.

Cheap checks run every `check_interval` (HTTP GETs, the discovery listener, and the
passive "who listens" check); full handshakes with the editor's LSP (and, if asked,
the DAP) and the telemetry `hello` run at most every `handshake_interval`, because
each opens a client session inside Godot. Between handshakes a service keeps its
last handshake result while the same process still listens; a new listener (an
editor restart) gets a handshake on the next tick, and a degraded one (an editor
still opening, slow to answer its first `initialize`) another within
`degraded_recheck` seconds. LSP handshakes wait up to `lsp_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from spacetime_panel.config.settings import Settings
from spacetime_panel.godot.key_policy import ApprovedHosts
from spacetime_panel.probes.bridge import probe_bridge_http, probe_management_api, probe_websocket
from spacetime_panel.probes.discovery import DiscoveryListener, ListenerState
from spacetime_panel.probes.editor import probe_dap, probe_lsp
from spacetime_panel.probes.instances import GameInstance
from spacetime_panel.probes.owner import PortOwner, port_owners
from spacetime_panel.probes.status import (
    BRIDGE_HTTP,
    DAP,
    DISCOVERY,
    LSP,
    MANAGEMENT_API,
    SERVICE_ORDER,
    TELEMETRY,
    ProbeTarget,
    ServiceState,
    ServiceStatus,
    is_local_host,
)
from spacetime_panel.probes.tcp import passive_status
from spacetime_panel.probes.tls import TlsSetupError, tls_context

log = logging.getLogger(__name__)

HANDSHAKE_SERVICES = (TELEMETRY, DAP, LSP)


@dataclass(frozen=True, kw_only=True)
class MonitorPorts:
    """Where the six services are (DESIGN.md's port table)."""

    host: str = "127.0.0.1"
    api_host: str = "127.0.0.1"
    management_api: int = 8090
    bridge_http: int = 8080
    telemetry: int = 8081
    dap: int = 6006
    lsp: int = 6005
    discovery: int = 8087
    discovery_host: str = "0.0.0.0"
    #: The management API serves HTTPS (`api.tls_cert` is set, or `status --tls`).
    api_tls: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, host: str = "127.0.0.1") -> MonitorPorts:
        api_host = settings.api.host
        return cls(
            host=host,
            api_host="127.0.0.1" if api_host in ("0.0.0.0", "", "::") else api_host,
            api_tls=settings.api.tls_cert is not None,
            management_api=settings.api.port,
            bridge_http=settings.ports.http,
            telemetry=settings.ports.telemetry,
            dap=settings.ports.dap,
            lsp=settings.ports.lsp,
            discovery=settings.ports.discovery,
        )

    def target(self, service: str) -> ProbeTarget:
        if service == MANAGEMENT_API:
            return ProbeTarget(service, self.api_host, self.management_api)
        if service == DISCOVERY:
            return ProbeTarget(service, self.discovery_host, self.discovery, "udp")
        ports = {BRIDGE_HTTP: self.bridge_http, TELEMETRY: self.telemetry}
        ports.update({DAP: self.dap, LSP: self.lsp})
        return ProbeTarget(service, self.host, ports[service])


def expected_from_settings(settings: Settings) -> frozenset[str]:
    """The services that should be up: our API, the game's when it is launched, the
    editor's when it is. Discovery is optional (the beacon may be off)."""
    expected = {MANAGEMENT_API}
    if settings.godot.launch_game:
        expected |= {BRIDGE_HTTP, TELEMETRY}
    if settings.godot.launch_editor:
        expected |= {LSP, DAP}
    return frozenset(expected)


class ServiceMonitor:
    """Checks the six services; `snapshot()` is the latest table, in port-table order."""

    def __init__(
        self,
        ports: MonitorPorts | Settings,
        client: httpx.AsyncClient,
        *,
        api_key: str | None = None,
        key_hosts: ApprovedHosts | None = None,
        api_client: httpx.AsyncClient | None = None,
        handshake_interval: float = 30.0,
        check_interval: float = 2.0,
        timeout: float = 2.0,
        lsp_timeout: float = 10.0,
        degraded_recheck: float = 5.0,
        expected: Iterable[str] | None = None,
        dap_handshake: bool = False,
        project: Path | None = None,
        listener: DiscoveryListener | None = None,
        on_update: Callable[[list[ServiceStatus]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        api_ca_file: Path | None = None
        if isinstance(ports, Settings):
            if expected is None:
                expected = expected_from_settings(ports)
            project = project or ports.godot.project_path
            if key_hosts is None:
                key_hosts = ports.godot.bridge_key_hosts
            api_ca_file = ports.api.tls_cert
            ports = MonitorPorts.from_settings(ports)
        self.ports = ports
        self.expected: frozenset[str] = frozenset(
            expected if expected is not None else (MANAGEMENT_API,)
        )
        self.handshake_interval = handshake_interval
        self.check_interval = check_interval
        self.timeout = timeout
        self.lsp_timeout = lsp_timeout
        self.degraded_recheck = degraded_recheck
        self.dap_handshake = dap_handshake
        self._client = client
        self._api_key = api_key
        #: Hosts besides loopback that may get the bridge key (a callable: read each check).
        self._key_hosts: ApprovedHosts = key_hosts if key_hosts is not None else ()
        #: The management API's client when it serves HTTPS: the caller's, or one made
        #: here that trusts the API's own certificate (`api.tls_cert`).
        self._api_client = api_client
        self._api_ca_file = api_ca_file
        self._pinned_client: httpx.AsyncClient | None = None
        self._project = project
        self._owns_listener = listener is None
        self._listener = listener or DiscoveryListener(ports.discovery, ports.discovery_host)
        self._on_update = on_update
        self._clock = clock
        self._latest: dict[str, ServiceStatus] = {}
        self._handshaken_at: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def listener(self) -> DiscoveryListener:
        return self._listener

    def set_bridge_port(self, port: int) -> None:
        """The game's bridge fell back to another port (8083-8085): check that one."""
        self.ports = replace(self.ports, bridge_http=port)

    def set_telemetry_port(self, port: int) -> None:
        self.ports = replace(self.ports, telemetry=port)

    def follow(self, instance: GameInstance) -> None:
        """Check the game a discovery source found (its bridge and telemetry ports)."""
        self.follow_ports(instance.host, instance.http_port, instance.telemetry_port)

    def follow_ports(self, host: str, bridge_http: int | None, telemetry: int | None) -> None:
        """Check the game on `host` at these ports (None keeps that port as it is)."""
        ports = replace(self.ports, host=host)
        if bridge_http is not None:
            ports = replace(ports, bridge_http=bridge_http)
        if telemetry is not None:
            ports = replace(ports, telemetry=telemetry)
        self.ports = ports

    def set_expected(self, services: Iterable[str]) -> None:
        self.expected = frozenset(services)

    def snapshot(self) -> list[ServiceStatus]:
        """The latest status of each service checked so far, in port-table order."""
        return [self._latest[s] for s in SERVICE_ORDER if s in self._latest]

    def all_expected_up(self) -> bool:
        """True when every expected service's latest status is UP."""
        return all(
            s in self._latest and self._latest[s].state is ServiceState.UP for s in self.expected
        )

    async def check_once(self, full: bool = True) -> list[ServiceStatus]:
        """Check all six services concurrently and return them in port-table order.

        `full=False` does the cheap checks only; handshakes still happen for a service
        whose listener changed since its last handshake.
        """
        async with self._lock:
            state = self._listener.state
            restart = state is ListenerState.CLOSED and self._owns_listener
            retry = full and state is ListenerState.FAILED  # the port may be free by now
            if state is ListenerState.NEW or restart or retry:
                await self._listener.start()
            ports = self.ports
            owners = await self._owners(ports)
            now = self._clock()
            handshake = {
                s
                for s in HANDSHAKE_SERVICES
                if self._handshake_due(ports.target(s), owners, full, now)
            }
            if not self.dap_handshake:
                handshake.discard(DAP)
            results = await asyncio.gather(
                self._check_api(ports),
                probe_bridge_http(
                    self._client,
                    ports.host,
                    ports.bridge_http,
                    api_key=self._api_key,
                    key_hosts=self._key_hosts,
                    timeout=self.timeout,
                    owner=False,
                ),
                self._check(TELEMETRY, ports, handshake, owners),
                self._check(DAP, ports, handshake, owners),
                self._check(LSP, ports, handshake, owners),
            )
            statuses = [self._with_owner(status, owners) for status in results]
            statuses.append(self._listener.status())
            for status in statuses:
                self._latest[status.service] = status
                if status.service in handshake:
                    self._handshaken_at[status.service] = now
            snapshot = self.snapshot()
        if self._on_update is not None:
            self._on_update(snapshot)
        return snapshot

    def start(self) -> None:
        """Check periodically in the running event loop until `stop()`."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._owns_listener:
            self._listener.close()
        pinned, self._pinned_client = self._pinned_client, None
        if pinned is not None:
            await pinned.aclose()

    async def _check_api(self, ports: MonitorPorts) -> ServiceStatus:
        """Our management API's row: over HTTPS when it serves TLS."""
        client = self._client
        if ports.api_tls:
            if self._api_client is not None:
                client = self._api_client
            elif self._api_ca_file is not None:
                try:
                    client = self._pinned_api_client(self._api_ca_file)
                except TlsSetupError as error:
                    return ports.target(MANAGEMENT_API).status(ServiceState.DEGRADED, str(error))
        return await probe_management_api(
            client,
            ports.api_host,
            ports.management_api,
            timeout=self.timeout,
            owner=False,
            scheme="https" if ports.api_tls else "http",
        )

    def _pinned_api_client(self, ca_file: Path) -> httpx.AsyncClient:
        if self._pinned_client is None:
            context = tls_context(ca_file, pinned=True)
            self._pinned_client = httpx.AsyncClient(verify=context, trust_env=False)
        return self._pinned_client

    async def _run(self) -> None:
        last_full: float | None = None
        while True:
            now = self._clock()
            full = last_full is None or now - last_full >= self.handshake_interval
            try:
                await self.check_once(full=full)
            except Exception:  # a bug here must not end the port table's updates
                log.exception("service check failed")
            if full:
                last_full = now
            await asyncio.sleep(self.check_interval)

    def _handshake_due(
        self, target: ProbeTarget, owners: dict[int, PortOwner], full: bool, now: float
    ) -> bool:
        last = self._handshaken_at.get(target.service)
        interval_over = last is None or now - last >= self.handshake_interval
        if not is_local_host(target.host):
            return full and interval_over  # no passive check for another machine
        owner = owners.get(target.port)
        if owner is None:
            return False  # nobody listens: the passive DOWN says it all
        previous = self._latest.get(target.service)
        if previous is None or previous.state is ServiceState.DOWN:
            return True
        if previous.state is ServiceState.DEGRADED:
            # e.g. an editor that was still opening: ask again soon, not in 30 s
            return last is None or now - last >= self.degraded_recheck
        if previous.owner_pid != owner.pid or previous.port != target.port:
            return True  # a new process took the port: verify it speaks the protocol
        return full and interval_over

    async def _check(
        self,
        service: str,
        ports: MonitorPorts,
        handshake: set[str],
        owners: dict[int, PortOwner],
    ) -> ServiceStatus:
        target = ports.target(service)
        if service not in handshake:
            passive = passive_status(target, owners.get(target.port))
            previous = self._latest.get(service)
            if passive.state is ServiceState.UNKNOWN and service in self._handshaken_at:
                return previous or passive  # another machine: the last handshake stands
            keeps = (
                passive.is_up
                and previous is not None
                and service in self._handshaken_at
                and previous.owner_pid == passive.owner_pid
                and previous.port == passive.port
            )
            return previous if keeps and previous is not None else passive
        timeout = self.timeout
        if service == TELEMETRY:
            return await probe_websocket(
                target.host,
                target.port,
                timeout=timeout,
                owner=False,
                api_key=self._api_key,
                key_hosts=self._key_hosts,
            )
        if service == LSP:
            return await probe_lsp(
                target.host,
                target.port,
                timeout=max(timeout, self.lsp_timeout),
                root=self._project,
                owner=False,
            )
        return await probe_dap(target.host, target.port, timeout=timeout, owner=False)

    async def _owners(self, ports: MonitorPorts) -> dict[int, PortOwner]:
        """One scan of the OS's socket table for all local TCP ports."""
        if not is_local_host(ports.host):
            return {}
        wanted = [ports.bridge_http, ports.telemetry, ports.dap, ports.lsp]
        if is_local_host(ports.api_host):
            wanted.append(ports.management_api)
        return await asyncio.to_thread(port_owners, wanted, "tcp")

    @staticmethod
    def _with_owner(status: ServiceStatus, owners: dict[int, PortOwner]) -> ServiceStatus:
        if status.owner_pid is not None or not is_local_host(status.host):
            return status
        return status.with_owner(owners.get(status.port))
