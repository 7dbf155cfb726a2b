"""Godot command lines and environment for the two programs (DESIGN.md)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from spacetime_panel.config.settings import Settings
from spacetime_panel.supervisor.program import LaunchSpec

SIMULATOR_SCRIPT = "spacetime-godot-sim"


def godot_environment(
    settings: Settings, base: Mapping[str, str], api_key: str | None
) -> dict[str, str]:
    """The environment Godot gets: ours plus the SPACETIME_* settings of the bridge."""
    ports = settings.ports
    env = dict(base)
    env.update(
        SPACETIME_HTTP_PORT=str(ports.http),
        SPACETIME_HTTP_FALLBACK_PORTS=",".join(str(port) for port in ports.http_fallbacks),
        SPACETIME_TELEMETRY_PORT=str(ports.telemetry),
        SPACETIME_DISCOVERY_PORT=str(ports.discovery),
        SPACETIME_LSP_PORT=str(ports.lsp),
        SPACETIME_DAP_PORT=str(ports.dap),
    )
    env.pop("SPACETIME_API_KEY", None)
    if api_key:
        env["SPACETIME_API_KEY"] = api_key
    return env


def game_command(settings: Settings) -> list[str]:
    """`godot --path P [--headless] [extra] res://vr_main.tscn`: runs the bridge autoload."""
    godot = settings.godot
    command = [godot.executable, "--path", str(_project(settings))]
    if godot.headless:
        command.append("--headless")
    command.extend(godot.extra_args)
    if godot.scene_path:
        command.append(godot.scene_path)
    return command


def editor_command(settings: Settings) -> list[str]:
    """`godot --path P --editor --lsp-port 6005 --dap-port 6006`: gives LSP and DAP."""
    godot, ports = settings.godot, settings.ports
    return [
        godot.executable,
        "--path",
        str(_project(settings)),
        "--editor",
        "--lsp-port",
        str(ports.lsp),
        "--dap-port",
        str(ports.dap),
        *godot.extra_args,
    ]


def launch_spec(command: list[str], settings: Settings, api_key: str | None) -> LaunchSpec:
    return LaunchSpec(
        command=command,
        env=godot_environment(settings, os.environ, api_key),
        cwd=_project(settings),
    )


def simulator_executable() -> str:
    """The installed simulator script, found beside this Python first (a venv), then on PATH.

    `shutil.which` adds Windows' extensions (PATHEXT: `spacetime-godot-sim.exe` in
    `Scripts\\`), so a venv that is not activated is found there too.
    """
    beside = str(Path(sys.executable).parent)
    found = shutil.which(SIMULATOR_SCRIPT, path=beside) or shutil.which(SIMULATOR_SCRIPT)
    if found is None:
        raise FileNotFoundError(
            f"{SIMULATOR_SCRIPT} is not installed; reinstall with: pip install spacetime-panel"
        )
    return found


def demo_project() -> Path:
    """The small Godot project shipped with the package, used by --demo."""
    return Path(__file__).resolve().parent.parent / "demo_project"


def _project(settings: Settings) -> Path:
    project = settings.godot.project_path
    return project if project is not None else Path.cwd()
