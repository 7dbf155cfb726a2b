"""``spacetime-godot-sim``: a stand-in for Godot 4.5 with Godot's command line.

    spacetime-godot-sim --path PROJECT [--headless] [res://vr_main.tscn]   (game)
    spacetime-godot-sim --path PROJECT --editor --lsp-port 6005 --dap-port 6006
    spacetime-godot-sim --version

Unknown Godot flags are accepted and ignored. Settings and faults come from
``SPACETIME_*`` environment variables (see settings.py and faults.py). Exit
codes: 0 clean stop, 1 cannot run (no project, ports busy), 2 bad settings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from spacetime_panel.sim.console import Console
from spacetime_panel.sim.editor import EditorPortBusyError, start_editor_services
from spacetime_panel.sim.faults import EDITOR_PREFIX, GAME_PREFIX, Faults, spawn_stubborn_child
from spacetime_panel.sim.game import GameRuntime
from spacetime_panel.sim.lifecycle import SimLifecycle
from spacetime_panel.sim.project import SCENE_SUFFIXES, GodotProject, ProjectError
from spacetime_panel.sim.settings import GODOT_VERSION, GameSettings, SettingsError


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Godot's flags that matter here; everything else is ignored like a real build would."""
    parser = argparse.ArgumentParser(
        prog="spacetime-godot-sim", description="Simulated Godot 4.5 for SpaceTime Panel"
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--path", help="the project folder (default: the current directory)")
    parser.add_argument("-e", "--editor", action="store_true", help="run as the editor")
    parser.add_argument("--headless", action="store_true", help="accepted; the sim has no window")
    parser.add_argument("--lsp-port", type=int, default=6005)
    parser.add_argument("--dap-port", type=int, default=6006)
    args, unknown = parser.parse_known_args(list(argv))
    # Like Godot, a bare argument naming a scene file is the scene to run; values
    # of unknown flags ("--rendering-driver opengl3") are not scenes.
    scenes = [a for a in unknown if not a.startswith("-") and a.lower().endswith(SCENE_SUFFIXES)]
    args.scene = scenes[-1] if scenes else None
    return args


async def run_editor(*, lsp_port: int, dap_port: int, faults: Faults, console: Console) -> int:
    """Editor mode: LSP and DAP until SIGTERM/SIGINT."""
    lifecycle = SimLifecycle(console, faults)
    lifecycle.install()
    console.info(f"Godot Engine v{GODOT_VERSION} - https://godotengine.org (editor, simulated)")
    if faults.start_delay and await lifecycle.stop_requested_within(faults.start_delay):
        return 0
    try:
        servers = await start_editor_services(lsp_port, dap_port, console.info)
    except EditorPortBusyError as exc:
        console.error(str(exc))
        return 1
    if faults.spawn_child:
        console.info(f"sim: spawned child pid {spawn_stubborn_child()}")
    console.info(f"editor: language server on 127.0.0.1:{lsp_port}")
    console.info(f"editor: debug adapter on 127.0.0.1:{dap_port}")
    try:
        await lifecycle.wait_stop()
        console.info("sim: stopping")
        return 0
    finally:
        for server in servers:
            server.close()
        lifecycle.run_cleanups()


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Parse, validate and run one mode; returns the process exit code."""
    args = parse_args(argv)
    console = Console()
    if args.version:
        console.info(GODOT_VERSION)
        return 0
    root = Path(args.path) if args.path else Path.cwd()
    try:
        project = GodotProject.load(root)
    except ProjectError as exc:
        console.error(str(exc))
        return 1
    try:
        if args.editor:
            for flag, port in (("--lsp-port", args.lsp_port), ("--dap-port", args.dap_port)):
                if not 1 <= port <= 65535:
                    raise SettingsError(f"{flag} {port} is out of range (1..65535)")
            faults = Faults.from_env(env, EDITOR_PREFIX)
            return asyncio.run(
                run_editor(
                    lsp_port=args.lsp_port, dap_port=args.dap_port, faults=faults, console=console
                )
            )
        settings = GameSettings.from_env(env)
        faults = Faults.from_env(env, GAME_PREFIX)
    except SettingsError as exc:
        console.error(f"ERROR: {exc}")
        return 2
    runtime = GameRuntime(
        project=project, scene_arg=args.scene, settings=settings, faults=faults, console=console
    )
    return asyncio.run(runtime.run())


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    code = run(sys.argv[1:] if argv is None else argv, os.environ)
    sys.exit(code)


if __name__ == "__main__":
    main()
