"""What the panel knows of the running game, and how it talks to its bridge.

The Controller owns one GameLink. It holds the view /health reports (bridge
reachable, scene, player), finds the game's bridge at start-up (readiness),
polls it for the watchdog, follows scene loads until the player spawns, and
takes scene and player events from telemetry as they happen. When the bridge
says it answers on other ports than configured (a fallback), it reports them
to the Controller (`on_ports`), which re-points the checks and telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from spacetime_panel.config.settings import Settings
from spacetime_panel.core.health import GameView
from spacetime_panel.godot.addon import bridge_autoload_declared, install_command
from spacetime_panel.godot.bridge import BridgeClient, BridgeError, find_bridge
from spacetime_panel.godot.key_policy import ApprovedHosts
from spacetime_panel.godot.scenes import scene_name, validate_scene_path
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.output import ProgramOutput
from spacetime_panel.supervisor.process import GodotProcess
from spacetime_panel.supervisor.program import ProgramStatus
from spacetime_panel.telemetry.codec import ErrorEvent, PlayerSpawned, SceneLoaded, TelemetryEvent

log = logging.getLogger(__name__)

#: `on_ports(http_port, telemetry_port, host)`: the game answers on these ports.
PortsChanged = Callable[[int | None, int | None, str], None]

SCENE_POLL_SECONDS = 0.25
#: A game without the bridge addon counts as ready once it has stayed up this long.
NO_BRIDGE_SETTLE_SECONDS = 3.0


class NotRunning(Exception):
    """The action needs the game, and the game is not running."""


class BridgeMissing(NotRunning):
    """The action needs the bridge addon, and the game's project does not have it."""


class GameLink:
    """The game's bridge and the held view of scene and player."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        api_key: str | None,
        on_ports: PortsChanged | None = None,
        key_hosts: ApprovedHosts = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._http = http
        self._api_key = api_key
        #: Hosts besides loopback that may get the bridge key (key_policy decides).
        self._key_hosts = key_hosts
        self._on_ports = on_ports
        self._clock = clock
        self.view = GameView()
        #: Failed bridge requests since start (connection errors and error answers).
        self.bridge_errors = 0
        self._bridge_observers: list[Callable[[float], None]] = []
        self._bridge: BridgeClient | None = None
        self._scene_watch: asyncio.Task[None] | None = None
        #: When the current wait for scene and player began (the clock's time), or None.
        self.waiting_since: float | None = None
        self._game_state = ProgramState.STOPPED
        self._addon_checked_for: int | None = None  # the pid whose start read project.godot
        #: Where telemetry errors are written (the game's output), set by the controller.
        self.output: ProgramOutput | None = None

    def observe_bridge_latency(self, observer: Callable[[float], None]) -> None:
        """Call `observer(seconds)` after every request to the game's bridge."""
        self._bridge_observers.append(observer)

    def _bridge_answered(self, seconds: float, ok: bool) -> None:
        if not ok:
            self.bridge_errors += 1
        for observer in self._bridge_observers:
            observer(seconds)

    def close(self) -> None:
        """Stop following the scene (also: the user cancelled the wait for the player)."""
        if self._scene_watch is not None:
            self._scene_watch.cancel()
            self._scene_watch = None
        self.waiting_since = None

    @property
    def waiting(self) -> bool:
        """True while a scene load or the player's spawn is being waited for."""
        return self._scene_watch is not None and not self._scene_watch.done()

    # --- talking to the game ---------------------------------------------------

    def _running_bridge(self) -> BridgeClient:
        if self._game_state is ProgramState.RUNNING and self.view.bridge_missing is not None:
            raise BridgeMissing(
                "the game's project has no SpaceTime bridge addon; install it with "
                f"`{self.view.bridge_missing}` and restart the game"
            )
        if self._game_state is not ProgramState.RUNNING or self._bridge is None:
            raise NotRunning("the game is not running")
        return self._bridge

    async def godot_status(self, attempts: int = 3, delay: float = 0.5) -> dict[str, Any]:
        """Godot's own /status, retried a few times (a game under load answers late)."""
        bridge = self._running_bridge()
        for attempt in range(attempts):
            try:
                return await bridge.status()
            except BridgeError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def load_scene(self, path: str) -> dict[str, Any]:
        validate_scene_path(path)
        answer = await self._running_bridge().load_scene(path)
        self._expect_scene(path)
        return answer

    async def reload_scene(self) -> dict[str, Any]:
        answer = await self._running_bridge().reload_scene()
        self._expect_scene(self.view.scene_path)
        return answer

    def _expect_scene(self, path: str | None) -> None:
        self.view.scene_loaded = False
        self.view.scene_loading = True
        self.view.player_spawned = False
        self.view.player_overdue = False
        if path is not None:
            self.view.scene_path, self.view.scene_name = path, scene_name(path)
        self._watch_scene(load=None)

    # --- checks passed to the supervisor (the game's) ---------------------

    @property
    def project(self) -> Path:
        return self.settings.godot.project_path or Path.cwd()

    async def ready(self, process: GodotProcess) -> bool:
        """Readiness: our game's bridge answers /status (on the port or a fallback).

        A project without the bridge addon cannot answer: its game is ready once it
        has stayed up NO_BRIDGE_SETTLE_SECONDS, and /health says how to add the addon.
        """
        if self._addon_checked_for != process.pid:
            self._addon_checked_for = process.pid
            if bridge_autoload_declared(self.project):
                self.view.bridge_missing = None
            else:
                self.view.bridge_missing = install_command(self.project)
            if self.view.bridge_missing is not None and self.output is not None:
                self.output.add(
                    "supervisor",
                    f"{self.project} has no SpaceTime bridge (no SpaceTimeBridge autoload in "
                    "project.godot): the game is supervised without it; scene loads, telemetry "
                    f"and /status need it: run `{self.view.bridge_missing}`",
                )
        if self.view.bridge_missing is not None:
            up_for = time.time() - process.create_time
            if up_for < NO_BRIDGE_SETTLE_SECONDS:
                await asyncio.sleep(min(0.5, NO_BRIDGE_SETTLE_SECONDS - up_for))
                return False
            return True
        ports = self.settings.ports
        found = await find_bridge(
            self._http,
            [ports.http, *ports.http_fallbacks],
            _family_pids(process.pid),
            api_key=self._api_key,
            key_hosts=self._key_hosts,
            timeout=min(2.0, self.settings.supervisor.request_timeout),
        )
        if found is None:
            return False
        self._bridge, status = found
        self._bridge.observer = self._bridge_answered
        self._follow_ports(status)
        self.view.api_reachable = True
        self.view.bridge_url = self._bridge.base_url
        self.view.checked_at = self._clock()
        wanted = self.settings.godot.scene_path if self.settings.godot.auto_load_scene else None
        self._watch_scene(load=wanted)
        return True

    def _follow_ports(self, status: dict[str, Any]) -> None:
        """Report the ports the game really uses (after a fallback) to the Controller."""
        bridge = status.get("bridge")
        if not isinstance(bridge, dict) or self._on_ports is None:
            return
        http_port, telemetry_port = bridge.get("http_port"), bridge.get("telemetry_port")
        self._on_ports(
            http_port if type(http_port) is int else None,
            telemetry_port if type(telemetry_port) is int else None,
            "127.0.0.1",
        )

    def on_telemetry(self, event: TelemetryEvent) -> None:
        """Scene and player events update the held view at once (no wait for a poll)."""
        view = self.view
        match event:
            case SceneLoaded(name=name, path=path):
                view.scene_loaded, view.scene_loading = True, False
                view.scene_path, view.scene_name = path, name or scene_name(path)
                view.player_spawned = False
            case PlayerSpawned():
                view.player_spawned, view.player_overdue = True, False
            case ErrorEvent(message=message, source=source):
                if self.output is not None:
                    self.output.add("telemetry", f"error from {source}: {message}")

    def describe_wait(self, process: GodotProcess) -> str:
        """What a start of the game waits for, and why it may not come (for a timeout)."""
        ports = self.settings.ports
        fallbacks = ", ".join(str(port) for port in ports.http_fallbacks)
        where = f"127.0.0.1:{ports.http}" + (f" (or {fallbacks})" if fallbacks else "")
        return (
            f"the SpaceTime bridge of pid {process.pid} did not answer GET /status on {where}; "
            "likely causes: the game hangs or is still loading, the bridge autoload failed to "
            "load (see the game's log), the bridge is inert in a release export "
            "(project setting spacetime_bridge/release/enabled), or another program holds "
            "the ports (set SPACETIME_HTTP_PORT)"
        )

    async def healthy(self, process: GodotProcess) -> bool:
        """The watchdog's check: the bridge answers; refreshes the view on the way.

        Without the bridge addon there is nothing to ask: a running game is healthy.
        """
        if self.view.bridge_missing is not None:
            return process.running
        if self._bridge is None:
            return False
        return await self._refresh_view(self._bridge)

    async def _refresh_view(self, bridge: BridgeClient) -> bool:
        """Read scene and player from the bridge into the held view; False if unreachable."""
        view = self.view
        try:
            scene = await bridge.scene()
            player = await bridge.player()
        except BridgeError as error:
            log.debug("bridge check failed: %s", error)
            view.api_reachable = False
            return False
        view.api_reachable = True
        view.checked_at = self._clock()
        view.scene_loaded = bool(scene.get("loaded"))
        view.scene_loading = bool(scene.get("loading"))
        path = scene.get("path")
        view.scene_path = path if isinstance(path, str) and path else view.scene_path
        name = scene.get("name")
        view.scene_name = name if isinstance(name, str) and name else view.scene_name
        view.player_spawned = bool(player.get("spawned"))
        return True

    def _watch_scene(self, load: str | None) -> None:
        if self._scene_watch is not None:
            self._scene_watch.cancel()
        if self._bridge is not None:
            self.waiting_since = self._clock()
            self._scene_watch = asyncio.create_task(self._follow_scene(self._bridge, load))

    async def _follow_scene(self, bridge: BridgeClient, load: str | None) -> None:
        """Poll scene and player until the player spawns or `player_timeout` runs out.

        With `load`, ask for that scene first unless it is already loaded or loading.
        """
        deadline = self._clock() + self.settings.supervisor.player_timeout
        if await self._refresh_view(bridge) and load is not None:
            view = self.view
            if view.scene_path != load or not (view.scene_loaded or view.scene_loading):
                try:
                    await bridge.load_scene(load)
                except BridgeError as error:
                    log.warning("auto-load of %s failed: %s", load, error)
        while self._clock() < deadline:
            if await self._refresh_view(bridge) and self.view.player_spawned:
                return
            await asyncio.sleep(SCENE_POLL_SECONDS)
        if not self.view.player_spawned:
            self.view.player_overdue = True
            log.warning("player not spawned within %g s", self.settings.supervisor.player_timeout)

    def on_game_change(self, status: ProgramStatus) -> None:
        """The game's state changed: forget the bridge and the view when it is not running."""
        self._game_state = status.state
        if status.state is not ProgramState.RUNNING:
            if self._scene_watch is not None:
                self._scene_watch.cancel()
                self._scene_watch = None
            self._bridge = None
            self.view = GameView()


def _family_pids(pid: int) -> set[int]:
    """The pid and its descendants: a launcher script may run Godot as its child."""
    pids = {pid}
    with contextlib.suppress(psutil.Error):
        pids.update(child.pid for child in psutil.Process(pid).children(recursive=True))
    return pids
