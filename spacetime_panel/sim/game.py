"""Game mode: the bridge HTTP API, telemetry, discovery and the simulated world."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

from spacetime_panel.sim.bridge import BridgeApi, EditorProbe, PortsBusyError, bind_first_free
from spacetime_panel.sim.bridge import make_server as make_http_server
from spacetime_panel.sim.console import Console
from spacetime_panel.sim.discovery import (
    DiscoveryBeacon,
    port_file_path,
    remove_port_file_if_ours,
    write_port_file,
)
from spacetime_panel.sim.faults import BAD_TELEMETRY_SHARE, Faults, spawn_stubborn_child
from spacetime_panel.sim.lifecycle import SimLifecycle
from spacetime_panel.sim.project import GodotProject, SceneNotFoundError, ScenePathError
from spacetime_panel.sim.settings import BRIDGE_VERSION, GODOT_VERSION, PROTOCOL, GameSettings
from spacetime_panel.sim.telemetry import TelemetryServer
from spacetime_panel.sim.world import World, WorldEvent

HOST = "127.0.0.1"
SHUTDOWN_GRACE = 1.5


def _bind_telemetry(port: int) -> socket.socket | None:
    try:
        return bind_first_free([port], HOST)
    except PortsBusyError:
        return None


class GameRuntime:
    """One run of the simulated game, from start-up to clean exit."""

    def __init__(
        self,
        *,
        project: GodotProject,
        scene_arg: str | None,
        settings: GameSettings,
        faults: Faults,
        console: Console,
    ) -> None:
        self._project = project
        self._scene_arg = scene_arg
        self._settings = settings
        self._faults = faults
        self._console = console
        self._lifecycle = SimLifecycle(console, faults)
        self._pid = os.getpid()
        self._child_pid: int | None = None

    def _first_scene(self) -> str | None:
        if self._scene_arg:
            return self._project.to_res_path(self._scene_arg)
        return self._project.main_scene

    def _identity(self, http_port: int, telemetry_port: int | None) -> dict[str, Any]:
        identity: dict[str, Any] = {
            "protocol": PROTOCOL,
            "version": BRIDGE_VERSION,
            "godot_version": GODOT_VERSION,
            "pid": self._pid,
            "project": str(self._project.root),
            "project_name": self._project.name,
            "http_port": http_port,
            "telemetry_port": telemetry_port,
        }
        if self._child_pid is not None:
            identity["child_pid"] = self._child_pid
        return identity

    def _on_world_event(self, event: WorldEvent) -> None:
        if event.name == "scene_loaded":
            self._console.info(f"scene loaded: {event.data['path']}")
        elif event.name == "player_spawned":
            self._console.info(f"player spawned at {event.data['position']}")
        elif event.name == "log":
            self._console.info(str(event.data["message"]))
        elif event.name == "error":
            self._console.engine_error(str(event.data["message"]), str(event.data["source"]))

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the return value is the exit code."""
        lifecycle = self._lifecycle
        lifecycle.install()
        console = self._console
        console.info(
            f"Godot Engine v{GODOT_VERSION} - https://godotengine.org (SpaceTime simulator)"
        )

        first_scene = self._first_scene()
        if first_scene is not None:
            try:
                self._project.scene_file(first_scene)
            except (ScenePathError, SceneNotFoundError) as exc:
                console.error(f"ERROR: Failed loading scene: {first_scene} ({exc})")
                return 1
            # Godot loads the first scene before anything else runs, and quits when it fails.
            engine_errors = self._project.load_errors(first_scene)[:-1]
            if engine_errors:
                for error in engine_errors:
                    console.engine_error(error["message"], error["source"])
                console.error(f"ERROR: Failed loading scene: {first_scene}")
                return 1

        if self._faults.start_delay and await lifecycle.stop_requested_within(
            self._faults.start_delay
        ):
            return 0

        if self._faults.no_bridge:
            # A project without the addon: the game runs, nobody answers.
            console.info("sim: this game has no SpaceTime bridge; serving nothing")
            await lifecycle.wait_stop()
            return 0

        try:
            http_sock = bind_first_free(self._settings.http_ports(), HOST)
        except PortsBusyError as exc:
            console.error(f"ERROR: SpaceTime bridge: {exc}; free one or set SPACETIME_HTTP_PORT")
            return 1
        http_port = int(http_sock.getsockname()[1])
        telemetry_sock = _bind_telemetry(self._settings.telemetry_port)
        if telemetry_sock is None:
            console.error(
                f"ERROR: SpaceTime bridge: telemetry port {self._settings.telemetry_port} "
                "is busy; telemetry is off"
            )
        telemetry_port = self._settings.telemetry_port if telemetry_sock else None

        if self._faults.spawn_child:
            self._child_pid = spawn_stubborn_child()
            console.info(f"sim: spawned child pid {self._child_pid}")

        try:
            return await self._serve(http_sock, telemetry_sock, http_port, telemetry_port)
        finally:
            lifecycle.run_cleanups()

    async def _serve(
        self,
        http_sock: socket.socket,
        telemetry_sock: socket.socket | None,
        http_port: int,
        telemetry_port: int | None,
    ) -> int:
        settings, console, lifecycle = self._settings, self._console, self._lifecycle
        world = World(
            now=time.monotonic(),
            load_delay=settings.load_delay,
            spawn_delay=settings.spawn_delay,
            spawn_player=not self._faults.no_player,
        )
        identity = self._identity(http_port, telemetry_port)
        announcement = {"service": "spacetime-bridge", "host": HOST, **identity}

        port_file = port_file_path(self._project.root)
        try:
            write_port_file(port_file, announcement)
            lifecycle.add_cleanup(lambda: remove_port_file_if_ours(port_file, self._pid))
        except OSError as exc:
            console.error(f"WARNING: cannot write {port_file}: {exc.strerror or exc}")

        probe = EditorProbe(settings.lsp_port, settings.dap_port)
        api = BridgeApi(
            world=world,
            project=self._project,
            probe=probe,
            identity=lambda: identity,
            on_scene_request=console.info,
        )
        http_server = make_http_server(api.asgi(settings.api_key))
        hello = {
            "protocol": PROTOCOL,
            "godot_version": GODOT_VERSION,
            "project": str(self._project.root),
            "pid": self._pid,
            "rate_hz": settings.rate_hz,
        }
        telemetry = TelemetryServer(
            world=world,
            hello=hello,
            rate_hz=settings.rate_hz,
            on_world_event=self._on_world_event,
            bad_share=BAD_TELEMETRY_SHARE if self._faults.bad_telemetry else 0.0,
            flap_period=self._faults.telemetry_flap,
        )
        tasks: list[asyncio.Task[Any]] = []
        try:
            if telemetry_sock is not None:
                await telemetry.start(telemetry_sock)
                console.listener = lambda level, message: telemetry.publish(
                    "log", {"level": level, "message": message}
                )
                console.info(f"SpaceTime bridge: telemetry on ws://{HOST}:{telemetry_port}")
            http_task = asyncio.create_task(http_server.serve(sockets=[http_sock]))
            tasks = [
                http_task,
                asyncio.create_task(telemetry.run_frames()),
                asyncio.create_task(probe.run()),
            ]
            if settings.discovery_port is not None:
                tasks.append(
                    asyncio.create_task(
                        DiscoveryBeacon(announcement, settings.discovery_port).run()
                    )
                )
            ready_task = asyncio.create_task(http_server.ready.wait())
            await asyncio.wait([ready_task, http_task], return_when=asyncio.FIRST_COMPLETED)
            ready_task.cancel()
            console.info(f"SpaceTime bridge: HTTP on {HOST}:{http_port}")

            first_scene = self._first_scene()
            if first_scene is not None:
                world.load(first_scene, time.monotonic())
                console.info(f"loading scene: {first_scene}")

            stop_task = asyncio.create_task(lifecycle.wait_stop())
            done, _ = await asyncio.wait([stop_task, *tasks], return_when=asyncio.FIRST_COMPLETED)
            if stop_task not in done:
                stop_task.cancel()
                console.error("ERROR: SpaceTime bridge: a server stopped unexpectedly")
                return 1
            console.info("sim: stopping")
            return 0
        finally:
            console.listener = None
            http_server.should_exit = True
            await telemetry.close()
            for task in tasks[1:]:
                task.cancel()
            if tasks:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(tasks[0], SHUTDOWN_GRACE)
                await asyncio.gather(*tasks[1:], return_exceptions=True)
            http_sock.close()
