"""The Controller: one per project. It owns the supervised programs and what is known of them.

Data flows one way: the programs and the bridge checks update the held
state; the management API and the Qt widgets read it through the public
methods here (the types they need come from `core.views`) and never reach
into the supervisor, the probes or the telemetry client. Changes that several
parts follow, such as the game's ports, are one event here (`_ports_changed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from spacetime_panel.config.settings import Settings
from spacetime_panel.core.game_link import GameLink, NotRunning
from spacetime_panel.core.health import GameView, Health, compose_health
from spacetime_panel.core.views import RecordingStatus
from spacetime_panel.godot.addon import bridge_autoload_declared, install_addon
from spacetime_panel.godot.commands import editor_command, game_command, launch_spec
from spacetime_panel.godot.key_policy import approved_now, is_loopback, normalize_host
from spacetime_panel.godot.scenes import list_scenes
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
from spacetime_panel.telemetry import (
    CsvRecorder,
    TelemetryBuffers,
    TelemetryClient,
    TelemetryStats,
    TelemetrySummary,
)
from spacetime_panel.telemetry.codec import TelemetryEvent

log = logging.getLogger(__name__)

#: Seconds between cheap service checks while no window shows (a window: the setting).
HIDDEN_CHECK_S = 10.0
#: Telemetry read batching while a window draws the graphs (no later than a redraw at
#: 20 Hz), and relaxed while only the tray shows.
VISIBLE_TELEMETRY_BATCH_S = 1 / 20
HIDDEN_TELEMETRY_BATCH_S = 0.25


@dataclass(frozen=True, slots=True)
class Wait:
    """A long wait the user may watch and cancel."""

    title: str
    elapsed: float
    timeout: float

    @property
    def fraction(self) -> float:
        return min(1.0, self.elapsed / self.timeout) if self.timeout > 0 else 1.0


__all__ = ["Controller", "NotRunning", "Wait", "state_file_for"]

ProgramName = Literal["game", "editor"]


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
        self._telemetry_listeners: list[Callable[[TelemetryEvent], None]] = []
        #: The six services of the port table, checked in the background.
        probes = settings.probes
        self.monitor = ServiceMonitor(
            settings,
            http,
            api_key=api_key,
            key_hosts=self._bridge_key_hosts,
            check_interval=probes.check_interval,
            handshake_interval=probes.handshake_interval,
            timeout=probes.timeout,
            lsp_timeout=probes.lsp_timeout,
            degraded_recheck=probes.degraded_recheck,
            dap_handshake=probes.dap_handshake,
        )
        #: The game's telemetry stream (None when telemetry is off or no game is launched).
        self.telemetry: TelemetryClient | None = None
        #: Records telemetry samples to CSV when started (`start_recording`).
        self.recorder = CsvRecorder()
        if settings.telemetry.enabled and settings.godot.launch_game:
            self.telemetry = TelemetryClient(
                f"ws://127.0.0.1:{settings.ports.telemetry}",
                stats=TelemetryStats(refresh_hz=settings.telemetry.refresh_rate_hz),
                recorder=self.recorder,
                on_event=self._on_telemetry,
            )
        #: The running game's bridge and what is known of its scene and player.
        self.game = GameLink(
            settings,
            http=http,
            api_key=api_key,
            on_ports=self._ports_changed,
            key_hosts=self._bridge_key_hosts,
            clock=clock,
        )
        self.programs: dict[str, SupervisedProgram] = {}
        godot = settings.godot
        if godot.launch_game:
            self.programs["game"] = self._program(
                "game",
                game_command,
                self.game.ready,
                self.game.healthy,
                log_dir,
                state_file,
                describe_wait=self.game.describe_wait,
            )
            self.programs["game"].subscribe(self.game.on_game_change)
            self.game.output = self.programs["game"].output
        if godot.launch_editor:
            self.programs["editor"] = self._program(
                "editor",
                editor_command,
                self._editor_ready,
                self._editor_ready,
                log_dir,
                state_file,
                describe_wait=self._describe_editor_wait,
            )
        self._state_file = state_file
        self._background: set[asyncio.Task[Any]] = set()

    def _program(
        self,
        name: ProgramName,
        command: Callable[[Settings], list[str]],
        ready: Callable[[GodotProcess], Any],
        healthy: Callable[[GodotProcess], Any],
        log_dir: Path | None,
        state_file: StateFile | None,
        *,
        describe_wait: Callable[[GodotProcess], str],
    ) -> SupervisedProgram:
        sup = self.settings.supervisor
        policy = RestartPolicy(
            first_backoff=sup.first_backoff,
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
            describe_wait=describe_wait,
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
            program.start()  # a record that was not adopted is forgotten by adopt()

    async def close(self) -> None:
        """Stop everything (unless configured to leave Godot running for the next panel)."""
        self.game.close()
        self.recorder.stop()
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

    def start(self, which: str = "all") -> list[str]:
        """Launch the program(s); a launch also clears a FATAL failure count.

        Returns the names whose start is queued behind a stop in progress: they
        start when that stop ends ("will start when the stop ends").
        """
        return [program.name for program in self._select(which) if program.start()]

    async def stop(self, which: str = "all") -> None:
        await asyncio.gather(*(p.stop() for p in self._select(which)))

    async def restart(self, which: str = "all") -> None:
        await asyncio.gather(*(p.restart() for p in self._select(which)))

    # --- what the views read ---------------------------------------------------

    def subscribe(self, listener: Callable[[ProgramStatus], None]) -> None:
        """Call `listener` after every change of state of any program (for notifications)."""
        for program in self.programs.values():
            program.subscribe(listener)

    def subscribe_telemetry(self, listener: Callable[[TelemetryEvent], None]) -> None:
        """Call `listener` with every decoded telemetry event as it arrives (for /metrics)."""
        self._telemetry_listeners.append(listener)

    def subscribe_output(self, listener: Callable[[OutputLine], None]) -> None:
        """Call `listener` with every new output line of any program (for a live log)."""
        for program in self.programs.values():
            program.output.subscribe(listener)

    def scenes(self) -> list[str]:
        """The project's scenes as res:// paths (empty when the project folder is missing)."""
        project = self.settings.godot.project_path or Path.cwd()
        return list_scenes(project) if project.is_dir() else []

    def bridge_addon_missing(self) -> bool:
        """True when the project has a project.godot without the SpaceTimeBridge autoload."""
        project = self.game.project
        return (project / "project.godot").is_file() and not bridge_autoload_declared(project)

    async def install_bridge_addon(self) -> list[str]:
        """Install the bridge addon into the project; what was done, a line each.

        Raises AddonInstallError (a one-line reason). The game loads the addon when it
        starts again.
        """
        result = await asyncio.to_thread(install_addon, self.game.project)
        return result.report()

    def follow_instance(self, instance: GameInstance) -> None:
        """Watch and read telemetry from another running game (one found by discovery).

        The bridge key goes with the checks only to loopback or an approved host
        (`approve_bridge_key_host`); any other is checked without it, and says so.
        """
        self._ports_changed(instance.http_port, instance.telemetry_port, instance.host)

    def _ports_changed(
        self, http_port: int | None, telemetry_port: int | None, host: str = "127.0.0.1"
    ) -> None:
        """The game to watch answers on these ports: the one event that re-points the
        service checks and the telemetry client (None keeps a port as it is).

        Raised by the game's readiness (the bridge fell back to another port) and by
        `follow_instance` (a game found by discovery).
        """
        self.monitor.follow_ports(host, http_port, telemetry_port)
        if telemetry_port is not None and self.telemetry is not None:
            where = f"[{host}]" if ":" in host else host
            self.telemetry.url = f"ws://{where}:{telemetry_port}"

    def set_visible(self, visible: bool) -> None:
        """A window shows the panel (True) or only the tray does: checks and telemetry
        reads at the window's rates, or relaxed ones that cost the game nothing."""
        every = self.settings.probes.check_interval
        self.monitor.check_interval = every if visible else max(HIDDEN_CHECK_S, every)
        if self.telemetry is not None:
            batch = VISIBLE_TELEMETRY_BATCH_S if visible else HIDDEN_TELEMETRY_BATCH_S
            self.telemetry.batch_interval = batch

    @property
    def has_bridge_key(self) -> bool:
        """True when a bridge key is configured (so there is something to send or withhold)."""
        return bool(self._api_key)

    def bridge_key_host_approved(self, host: str) -> bool:
        """True when `host` may receive the bridge key: loopback, or approved by the user."""
        return is_loopback(host) or normalize_host(host) in approved_now(self._bridge_key_hosts)

    def approve_bridge_key_host(self, host: str) -> None:
        """Let `host` receive the bridge key from now on (this panel's settings, in memory).

        The checks read the approved hosts through the controller at each request,
        so the next check of a followed game on `host` carries the key.
        """
        if self.bridge_key_host_approved(host):
            return
        godot = self.settings.godot
        hosts = (*godot.bridge_key_hosts, normalize_host(host))
        self.settings = self.settings.model_copy(
            update={"godot": godot.model_copy(update={"bridge_key_hosts": hosts})}
        )
        log.info("the bridge key may now be sent to %s", normalize_host(host))

    def _bridge_key_hosts(self) -> tuple[str, ...]:
        """The approved hosts as the settings say now (they change on approval)."""
        return self.settings.godot.bridge_key_hosts

    def start_recording(self, path: Path) -> None:
        """Write every telemetry sample to CSV at `path` (RecordingError if unwritable)."""
        self.recorder.start(path)

    def stop_recording(self) -> None:
        self.recorder.stop()

    def recording(self) -> RecordingStatus:
        """The telemetry recording now (on or off, rows written, where, why it stopped)."""
        recorder = self.recorder
        return RecordingStatus(recorder.recording, recorder.rows, recorder.path, recorder.error)

    def telemetry_summary(self) -> TelemetrySummary | None:
        """The telemetry figures now (None when telemetry is off); cheap, a few times a second."""
        return self.telemetry.summary() if self.telemetry is not None else None

    def telemetry_buffers(self) -> TelemetryBuffers | None:
        """The ring buffers the graphs read (None when telemetry is off); read, never write."""
        return self.telemetry.buffers if self.telemetry is not None else None

    def current_wait(self) -> Wait | None:
        """The long wait in progress, if any: a program starting, a scene, the player."""
        now = self._clock()
        sup = self.settings.supervisor
        for program in self.programs.values():
            status = program.status()
            if status.state is ProgramState.STARTING:
                return Wait(f"Starting {status.name}", now - status.state_since, sup.start_timeout)
        since = self.game.waiting_since
        if self.game.waiting and since is not None:
            view = self.view
            what = "Waiting for the player"
            if not view.scene_loaded:
                what = f"Loading {view.scene_name or 'the scene'}"
            return Wait(what, now - since, sup.player_timeout)
        return None

    def cancel_wait(self) -> None:
        """Give up the current wait: a starting program is stopped, a scene wait forgotten."""
        for program in self.programs.values():
            if program.state is ProgramState.STARTING:
                task = asyncio.get_running_loop().create_task(program.stop())
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                return
        self.game.close()

    @property
    def view(self) -> GameView:
        """What /health reports of the game's bridge, scene and player."""
        return self.game.view

    def _on_telemetry(self, event: TelemetryEvent) -> None:
        self.game.on_telemetry(event)
        for listener in self._telemetry_listeners:
            listener(event)

    async def godot_status(self) -> dict[str, Any]:
        """Godot's own /status (retried)."""
        return await self.game.godot_status()

    async def load_scene(self, path: str) -> dict[str, Any]:
        """Ask the game to load `path` (validated first: InvalidScenePath)."""
        return await self.game.load_scene(path)

    async def reload_scene(self) -> dict[str, Any]:
        return await self.game.reload_scene()

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
            warnings=self.warnings(),
        )

    def warnings(self) -> list[str]:
        """What the user should know but that blocks nothing, each once (e.g. a state
        file that cannot be written: the game is supervised, but a restarted panel
        will not adopt it)."""
        found = (w for p in self.programs.values() for w in p.status().warnings)
        return list(dict.fromkeys(found))

    def logs(self, lines: int) -> list[OutputLine]:
        """The last `lines` lines of every program, oldest first."""
        merged = [line for p in self.programs.values() for line in p.output.tail(lines)]
        merged.sort(key=lambda line: line.timestamp)
        return merged[-lines:] if lines > 0 else []

    def _describe_editor_wait(self, process: GodotProcess) -> str:
        return (
            f"the editor (pid {process.pid}) did not listen for LSP on "
            f"127.0.0.1:{self.settings.ports.lsp}; likely causes: a Godot older than 4.2 "
            "(no --lsp-port), the project manager opened instead of the project (check "
            "--project-path), or another program holds the port"
        )

    async def _editor_ready(self, process: GodotProcess) -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", self.settings.ports.lsp)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
