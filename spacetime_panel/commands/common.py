"""What the subcommands share: exit codes, the flags that say where things are,
settings from config + environment + flags, and the checks before launching.

Exit codes: 0 done, 1 runtime error (busy port, Godot missing), 2 bad
configuration or usage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from spacetime_panel.commands.arguments import (
    CommandParser,
    port,
    port_list,
    positive_seconds,
    scene_path,
)
from spacetime_panel.config import ConfigError, Override, Settings, load_settings

if TYPE_CHECKING:
    from spacetime_panel.api.security import ManagementKeys
    from spacetime_panel.secrets import SecretStore

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

#: What `add_subparsers()` returns: each command module adds its parser to it.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# flag destination -> (settings key, flag as the user typed it)
FLAG_KEYS: dict[str, tuple[str, str]] = {
    "port": ("api.port", "--port"),
    "host": ("api.host", "--host"),
    "godot_port": ("ports.http", "--godot-port"),
    "http_fallback_ports": ("ports.http_fallbacks", "--http-fallback-ports"),
    "telemetry_port": ("ports.telemetry", "--telemetry-port"),
    "lsp_port": ("ports.lsp", "--lsp-port"),
    "dap_port": ("ports.dap", "--dap-port"),
    "discovery_port": ("ports.discovery", "--discovery-port"),
    "godot_path": ("godot.executable", "--godot-path"),
    "project_path": ("godot.project_path", "--project-path"),
    "scene_path": ("godot.scene_path", "--scene-path"),
    "auto_load_scene": ("godot.auto_load_scene", "--auto-load-scene"),
    "headless": ("godot.headless", "--headless"),
    "xvfb": ("godot.xvfb", "--xvfb"),
    "editor": ("godot.launch_editor", "--editor"),
    "no_game": ("godot.launch_game", "--no-game"),
    "player_timeout": ("supervisor.player_timeout", "--player-timeout"),
    "check_interval": ("supervisor.check_interval", "--check-interval"),
    "start_timeout": ("supervisor.start_timeout", "--start-timeout"),
    "stop_timeout": ("supervisor.stop_timeout", "--stop-timeout"),
    "leave_running": ("supervisor.stop_godot_on_exit", "--leave-running"),
    "log_level": ("logging.level", "--log-level"),
    "log_dir": ("logging.directory", "--log-dir"),
    "state_dir": ("state_dir", "--state-dir"),
    "tls_cert": ("api.tls_cert", "--tls-cert"),
    "tls_key": ("api.tls_key", "--tls-key"),
}
# Switches that turn a setting off when given.
NEGATED = {"no_game", "leave_running"}

# flag -> settings key, for the one-line error of a bad flag
SETTING_OF_FLAG = {flag: key for key, flag in FLAG_KEYS.values()}


def fail(message: str, code: int = EXIT_ERROR) -> int:
    """Print `spacetime-panel: message` on stderr and return `code`."""
    print(f"spacetime-panel: {message}", file=sys.stderr)
    return code


def where_flags(parser: argparse.ArgumentParser) -> None:
    """Where things are: shared by every command that talks to Godot or the panel."""
    if isinstance(parser, CommandParser):
        parser.settings_keys = SETTING_OF_FLAG  # its errors name the setting a flag sets
    where = parser.add_argument_group("where")
    where.add_argument("--config", type=Path, help="config file (TOML, or the guide's JSON)")
    where.add_argument(
        "--demo",
        action="store_true",
        help="the simulated Godot (game and editor) on the bundled demo project",
    )
    where.add_argument("--host", help="management API address (default 127.0.0.1)")
    where.add_argument("--port", type=port, help="management API port (default 8090)")
    where.add_argument("--godot-port", type=port, help="the game's bridge HTTP port (8080)")
    where.add_argument(
        "--http-fallback-ports",
        type=port_list,
        metavar="PORT,...",
        help="the bridge's ports when --godot-port is busy (8083,8084,8085; '' for none)",
    )
    where.add_argument("--telemetry-port", type=port, help="the game's telemetry WebSocket (8081)")
    where.add_argument("--lsp-port", type=port, help="the editor's LSP port (6005)")
    where.add_argument("--dap-port", type=port, help="the editor's DAP port (6006)")
    where.add_argument("--discovery-port", type=port, help="UDP service discovery port (8087)")
    where.add_argument(
        "--editor", action="store_true", default=None, help="the Godot editor (LSP, DAP) too"
    )
    where.add_argument("--no-game", action="store_true", default=None, help="without the game")


def serve_flags(parser: argparse.ArgumentParser) -> None:
    """Everything `serve` and the desktop panel accept (the guide's flags among them)."""
    where_flags(parser)
    guide = parser.add_argument_group("the guide's godot_editor_server.py flags")
    guide.add_argument("--godot-path", help="the Godot executable (default: godot on PATH)")
    guide.add_argument("--project-path", type=Path, help="the Godot project folder")
    guide.add_argument(
        "--auto-load-scene",
        action="store_true",
        default=None,
        help="load --scene-path after start and wait for the player",
    )
    guide.add_argument(
        "--scene-path", type=scene_path, help="scene to run (default res://vr_main.tscn)"
    )
    guide.add_argument(
        "--player-timeout", type=positive_seconds, help="seconds to wait for the player (30)"
    )
    guide.add_argument(
        "--check-interval", type=positive_seconds, help="seconds between health checks (30)"
    )
    more = parser.add_argument_group("more")
    more.add_argument(
        "--headless", action="store_true", default=None, help="pass --headless to the game"
    )
    more.add_argument(
        "--xvfb",
        action="store_true",
        default=None,
        help="without DISPLAY: run Godot on a virtual display (Xvfb) the panel starts and stops",
    )
    more.add_argument(
        "--start-timeout", type=positive_seconds, help="seconds for Godot to be ready (60)"
    )
    more.add_argument(
        "--stop-timeout", type=positive_seconds, help="seconds from SIGTERM to SIGKILL (10)"
    )
    more.add_argument(
        "--leave-running",
        action="store_true",
        default=None,
        help="on exit leave Godot running; the next panel adopts it",
    )
    more.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    more.add_argument("--log-dir", type=Path, help="folder for spacetime-panel.log and Godot logs")
    more.add_argument("--state-dir", type=Path, help="folder for the launched-process record")
    tls = parser.add_argument_group("HTTPS for the management API")
    tls.add_argument("--tls-cert", type=Path, metavar="FILE", help="certificate (PEM)")
    tls.add_argument("--tls-key", type=Path, metavar="FILE", help="its private key (PEM)")


def overrides_from(args: argparse.Namespace) -> list[Override]:
    found: list[Override] = []
    for dest, (key, flag) in FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest in NEGATED:
            value = not value
        if isinstance(value, Path):
            value = value.expanduser().resolve()
        found.append(Override(key, value, flag))
    return found


def settings_from(args: argparse.Namespace, *, launching: bool = True) -> Settings:
    """Settings from config, environment and flags; `--demo` prepares the demo project
    only when something will be launched."""
    from spacetime_panel.godot.commands import simulator_executable

    overrides = overrides_from(args)
    if args.demo and not launching:
        overrides = [Override("godot.launch_editor", True, "--demo"), *overrides]
    elif args.demo:
        from spacetime_panel.service.panel_service import prepare_demo_project

        given = {o.key for o in overrides}
        demo = [
            Override("godot.executable", simulator_executable(), "--demo"),
            Override("godot.auto_load_scene", True, "--demo"),
        ]
        if "godot.project_path" not in given:
            demo.append(Override("godot.project_path", prepare_demo_project(), "--demo"))
        if "godot.launch_editor" not in given:
            demo.append(Override("godot.launch_editor", True, "--demo"))
        overrides = [*demo, *overrides]
    return load_settings(config_file=args.config, overrides=overrides)


def check_project(settings: Settings) -> str | None:
    """A one-line complaint about the project folder, or None when it looks like a project."""
    project = settings.godot.project_path
    if project is None:
        project = Path.cwd()
    if not project.is_dir():
        return f"project folder {project} does not exist (set --project-path)"
    if not (project / "project.godot").is_file():
        return f"{project} is not a Godot project: no project.godot (set --project-path)"
    return None


def check_godot(settings: Settings) -> str | None:
    """A one-line complaint when the Godot executable cannot be found, else None."""
    executable = settings.godot.executable
    if os.sep in executable or (os.altsep and os.altsep in executable):
        path = Path(executable)
        if not path.is_file():
            return f"Godot not found at {path} (check --godot-path, or try --demo)"
        if not os.access(path, os.X_OK):
            return f"{path} is not executable (check --godot-path)"
        return None
    if shutil.which(executable) is None:
        return f"Godot not found: {executable!r} is not on PATH (pass --godot-path, or try --demo)"
    return None


def checked_settings(args: argparse.Namespace) -> Settings | int:
    """Settings for launching Godot, or the exit code after a one-line complaint."""
    try:
        settings = settings_from(args)
    except ConfigError as error:
        return fail(str(error), EXIT_USAGE)
    except FileNotFoundError as error:
        return fail(str(error), EXIT_ERROR)
    if (complaint := check_project(settings)) is not None:
        return fail(complaint, EXIT_USAGE)
    if (complaint := check_godot(settings)) is not None:
        return fail(complaint, EXIT_ERROR)
    if (code := check_xvfb(settings)) is not None:
        return code
    return settings


def check_xvfb(settings: Settings) -> int | None:
    """With godot.xvfb: exit 2 where there is no X11 (Windows, macOS), exit 1 when
    Xvfb is missing and needed (no DISPLAY); None when Godot can be launched."""
    from spacetime_panel.supervisor.virtual_display import (
        existing_display,
        missing_tools,
        platform_problem,
    )

    if not settings.godot.xvfb:
        return None
    if (problem := platform_problem()) is not None:
        return fail(problem, EXIT_USAGE)
    if existing_display(os.environ) is None and (problem := missing_tools()) is not None:
        return fail(problem, EXIT_ERROR)
    return None


def bridge_key() -> str | None:
    """The Godot bridge's key, from the environment or the keyring (None when unset, or
    when no keyring can be read). A `SPACETIME_API_KEY_FILE` that cannot be read raises
    KeyringUnavailable: a key the user asked for is never dropped in silence."""
    from spacetime_panel.secrets import BRIDGE_API_KEY, KeyringUnavailable, SecretStore

    store = SecretStore()
    try:
        key, _ = store.lookup(BRIDGE_API_KEY)
    except KeyringUnavailable:
        if store.names_a_file(BRIDGE_API_KEY):
            raise
        return None
    return key


def read_management_keys(secrets: SecretStore) -> ManagementKeys | int:
    """The management keys, or the exit code after a one-line complaint."""
    from spacetime_panel.api.security import management_keys
    from spacetime_panel.secrets import PANEL_API_KEY, KeyringUnavailable

    try:
        return management_keys(secrets)
    except KeyringUnavailable as error:
        return fail(f"cannot read the management API key: {error} (for {PANEL_API_KEY.variable})")


def refusal_to_serve(settings: Settings, keys: ManagementKeys) -> int | None:
    """The exit code after a one-line complaint when the API must not be served so, else None.

    A non-loopback bind without a key, an unreadable or mismatched TLS pair,
    a bad trusted-proxy entry: all configuration, exit 2, before Godot starts.
    """
    from spacetime_panel.api.server import serving_problem
    from spacetime_panel.secrets import PANEL_API_KEY

    if settings.api.require_auth and keys.control is None:
        return fail(
            f"api.require_auth is on (API_KEY_REQUIRED) but no management API key is set: "
            f"export {PANEL_API_KEY.variable}=... or store one in the keyring",
            EXIT_USAGE,
        )
    if (problem := serving_problem(settings.api, keys)) is not None:
        return fail(problem, EXIT_USAGE)
    return None


@dataclass(frozen=True, slots=True)
class ServingSetup:
    """What `serve`, the desktop panel and `mcp --standalone` need before they serve."""

    settings: Settings
    bridge_key: str | None
    keys: ManagementKeys


def serving_setup(args: argparse.Namespace) -> ServingSetup | int:
    """Checked settings, the bridge key and the management keys, with nothing that refuses
    serving them; or the exit code after a one-line complaint (before any Godot starts)."""
    from spacetime_panel.secrets import KeyringUnavailable, SecretStore

    settings = checked_settings(args)
    if isinstance(settings, int):
        return settings
    try:
        api_key = bridge_key()
    except KeyringUnavailable as error:
        return fail(f"cannot read the bridge key: {error}")
    keys = read_management_keys(SecretStore())
    if isinstance(keys, int):
        return keys
    if (code := refusal_to_serve(settings, keys)) is not None:
        return code
    return ServingSetup(settings, api_key, keys)
