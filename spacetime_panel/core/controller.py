"""The Controller: one per project. It owns the supervised programs and what is known of them.

Data flows one way: the programs and the bridge checks update the held
state; the management API (and later the Qt widgets) read it through the
public methods here and never reach into the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil

from spacetime_panel.config.settings import Settings
from spacetime_panel.core.health import GameView, Health, compose_health
from spacetime_panel.godot.bridge import BridgeClient, BridgeError, find_bridge
from spacetime_panel.godot.commands import editor_command, game_command, launch_spec
from spacetime_panel.godot.scenes import scene_name, validate_scene_path
from spacetime_panel.probes import GameInstance, ServiceMonitor, ServiceStatus, rank_instances
from spacetime_panel.probes.instances import read_port_file
from spacetime_panel.supervisor.machine import ProgramMachine, ProgramState
from spacetime_panel.supervisor.output import OutputLine, ProgramOutput
from spacetime_panel.supervisor.policy import RestartPolicy
from spacetime_panel.supervisor.process import GodotProcess
from spacetime_panel.supervisor.program import (
    LaunchSpec,
    ProgramStatus,
    SupervisedProgram,
    Timing,
)
from spacetime_panel.supervisor.statefile import StateFile
from spacetime_panel.telemetry import TelemetryClient, TelemetryStats
from spacetime_panel.telemetry.codec import ErrorEvent, PlayerSpawned, SceneLoaded, TelemetryEvent

log = logging.getLogger(__name__)

ProgramName = Literal["game", "editor"]
SCENE_POLL_SECONDS = 0.25


class NotRunning(Exception):
    """The action needs the game, and the game is not running."""


def state_file_for(state_dir: Path, settings: Settings) -> StateFile:
    """One state file per project and management port, so two panels never adopt each other's."""
    project = str(settings.godot.project_path or Path.cwd())
    key = hashlib.sha256(f"{project}|{settings.api.port}".encode()).hexdigest()[:12]
    return StateFile(state_dir / f"launched-{key}.json")


class Controller:
    """Supervises the game and the editor of one project and holds what /health reports."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        api_key: str | None = None,
        log_dir: Path | None = None,
        state_file: StateFile | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._http = http
        self._api_key = api_key
        self._clock = clock
        self.view = GameView()
        #: Failed bridge requests since start (connection errors and error answers).
        self.bridge_errors = 0
        self._bridge_observers: list[Callable[[float], None]] = []
        self._bridge: BridgeClient | None = None
        self._scene_watch: asyncio.Task[None] | None = None
        #: The six services of the port table, checked in the background.
        self.monitor = ServiceMonitor(settings, http, api_key=api_key)
        #: The game's telemetry stream (None when telemetry is off or no game is launched).
        self.telemetry: TelemetryClient | None = None
        if settings.telemetry.enabled and settings.godot.launch_game:
            self.telemetry = TelemetryClient(
                f"ws://127.0.0.1:{settings.ports.telemetry}",
                stats=TelemetryStats(refresh_hz=settings.telemetry.refresh_rate_hz),
                on_event=self._on_telemetry,
            )
        self.programs: dict[str, SupervisedProgram] = {}
        godot = settings.godot
        if godot.launch_game:
            self.programs["game"] = self._program(
                "game", game_command, self._game_ready, self._game_healthy, log_dir, state_file
            )
            self.programs["game"].subscribe(self._on_game_change)
        if godot.launch_editor:
            self.programs["editor"] = self._program(
                "editor",
                editor_command,
                self._editor_ready,
                self._editor_ready,
                log_dir,
                state_file,
            )
        self._state_file = state_file

    def _program(
        self,
        name: ProgramName,
        command: Callable[[Settings], list[str]],
        ready: Callable[[GodotProcess], Any],
        healthy: Callable[[GodotProcess], Any],
        log_dir: Path | None,
        state_file: StateFile | None,
    ) -> SupervisedProgram:
        sup = self.settings.supervisor
        policy = RestartPolicy(
            max_failures=sup.max_restart_attempts,
            failure_window=sup.failure_window,
            backoff_initial=sup.backoff_initial,
            backoff_max=sup.backoff_max,
        )
        logs = self.settings.logging
        output = ProgramOutput(
            name,
            tail_lines=sup.log_tail_lines,
            log_file=log_dir / f"{name}.log" if log_dir is not None else None,
            max_bytes=logs.max_bytes,
            backup_count=logs.backup_count,
        )

        def launch() -> LaunchSpec:
            return launch_spec(command(self.settings), self.settings, self._api_key)

        return SupervisedProgram(
            ProgramMachine(name, policy, auto_restart=sup.auto_restart),
            launch=launch,
            ready_check=ready,
            health_check=healthy,
            output=output,
            timing=Timing(
                start_timeout=sup.start_timeout,
                stop_timeout=sup.stop_timeout,
                check_interval=sup.check_interval,
                unhealthy_threshold=sup.unhealthy_threshold,
            ),
            state_file=state_file,
            clock=self._clock,
        )

    # --- lifecycle ---------------------------------------------------------------

    def start_up(self) -> None:
        """Adopt what a previous panel left running; start the rest; start watching services."""
        self.monitor.start()
        if self.telemetry is not None:
            self.telemetry.start()
        records = self._state_file.load() if self._state_file is not None else {}
        for name, program in self.programs.items():
            record = records.get(name)
            if record is not None and program.adopt(record):
                log.info("adopted %s (pid %d) from a previous run", name, record.pid)
                continue
            if record is not None and self._state_file is not None:
                self._state_file.forget(name)
            program.start()

    async def close(self) -> None:
        """Stop everything (unless configured to leave Godot running for the next panel)."""
        if self._scene_watch is not None:
            self._scene_watch.cancel()
        stop = self.settings.supervisor.stop_godot_on_exit
        await asyncio.gather(*(p.close(stop_process=stop) for p in self.programs.values()))
        await self.monitor.stop()
        if self.telemetry is not None:
            await self.telemetry.stop()

    def _select(self, which: str) -> list[SupervisedProgram]:
        if which == "all":
            return list(self.programs.values())
        program = self.programs.get(which)
        if program is None:
            raise KeyError(f"{which} is not enabled in this panel's settings")
        return [program]

    def start(self, which: str = "all") -> None:
        for program in self._select(which):
            program.start()

    async def stop(self, which: str = "all") -> None:
        await asyncio.gather(*(p.stop() for p in self._select(which)))

    async def restart(self, which: str = "all") -> None:
        await asyncio.gather(*(p.restart() for p in self._select(which)))

    # --- what the views read ---------------------------------------------------

    def observe_bridge_latency(self, observer: Callable[[float], None]) -> None:
        """Call `observer(seconds)` after every request to the game's bridge."""
        self._bridge_observers.append(observer)

    def _bridge_answered(self, seconds: float, ok: bool) -> None:
        if not ok:
            self.bridge_errors += 1
        for observer in self._bridge_observers:
            observer(seconds)

    def statuses(self) -> dict[str, ProgramStatus]:
        return {name: program.status() for name, program in self.programs.items()}

    def services(self) -> list[ServiceStatus]:
        """The latest port table (six rows once the first check has run)."""
        return self.monitor.snapshot()

    def instances(self) -> list[GameInstance]:
        """Running games: from beacons and the project's port file, ours first."""
        found = self.monitor.listener.instances()
        project = self.settings.godot.project_path
        if project is not None and (from_file := read_port_file(project)) is not None:
            found.append(from_file)
        game = self.programs.get("game")
        own = game.status().pid if game is not None else None
        return rank_instances(found, own_pid=own)

    def health(self) -> Health:
        game = self.programs.get("game")
        editor = self.programs.get("editor")
        return compose_health(
            game=game.status() if game is not None else None,
            editor=editor.status() if editor is not None else None,
            view=self.view,
            player_timeout=self.settings.supervisor.player_timeout,
            now=datetime.now(),
            services=self.monitor.snapshot(),
        )

    def logs(self, lines: int) -> list[OutputLine]:
        """The last `lines` lines of every program, oldest first."""
        merged = [line for p in self.programs.values() for line in p.output.tail(lines)]
        merged.sort(key=lambda line: line.timestamp)
        return merged[-lines:] if lines > 0 else []

    # --- talking to the game ---------------------------------------------------

    def _running_bridge(self) -> BridgeClient:
        game = self.programs.get("game")
        if game is None or game.state is not ProgramState.RUNNING or self._bridge is None:
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

    # --- checks passed to the supervisor -------------------------------------

    async def _game_ready(self, process: GodotProcess) -> bool:
        ports = self.settings.ports
        found = await find_bridge(
            self._http,
            [ports.http, *ports.http_fallbacks],
            _family_pids(process.pid),
            api_key=self._api_key,
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
        """Point the service checks at the ports the game really uses (after a fallback)."""
        bridge = status.get("bridge")
        if not isinstance(bridge, dict):
            return
        http_port, telemetry_port = bridge.get("http_port"), bridge.get("telemetry_port")
        if isinstance(http_port, int):
            self.monitor.set_bridge_port(http_port)
        if isinstance(telemetry_port, int):
            self.monitor.set_telemetry_port(telemetry_port)
            url = f"ws://127.0.0.1:{telemetry_port}"
            if self.telemetry is not None and self.telemetry.url != url:
                self.telemetry.url = url

    def _on_telemetry(self, event: TelemetryEvent) -> None:
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
                game = self.programs.get("game")
                if game is not None:
                    game.output.add("telemetry", f"error from {source}: {message}")

    async def _game_healthy(self, process: GodotProcess) -> bool:
        if self._bridge is None:
            return False
        return await self._refresh_view(self._bridge)

    async def _editor_ready(self, process: GodotProcess) -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", self.settings.ports.lsp)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

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

    def _on_game_change(self, status: ProgramStatus) -> None:
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
