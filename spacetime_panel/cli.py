"""The `spacetime-panel` command.

`spacetime-panel serve` is the headless manager that replaces the guide's
`godot_editor_server.py` and accepts its flags. Without a subcommand the
desktop panel will open; until it exists, the same supervisor runs headless.

Exit codes: 0 clean stop, 1 runtime error (busy port, Godot missing),
2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from spacetime_panel import __version__
from spacetime_panel.api.security import ManagementKeys, management_keys
from spacetime_panel.api.server import CannotServe, serving_problem
from spacetime_panel.arguments import (
    CommandParser,
    port,
    port_list,
    positive_seconds,
    scene_path,
    websocket_url,
)
from spacetime_panel.config import (
    ConfigError,
    Override,
    Settings,
    default_config_path,
    load_settings,
)
from spacetime_panel.godot.addon import AddonInstallError, install_addon, uninstall_addon
from spacetime_panel.godot.commands import simulator_executable
from spacetime_panel.keys_command import add_keys_parser, run_keys
from spacetime_panel.secrets import BRIDGE_API_KEY, PANEL_API_KEY, KeyringUnavailable, SecretStore
from spacetime_panel.service import Paths, configure_logging, prepare_demo_project, run_service
from spacetime_panel.stop_signals import on_stop_signals
from spacetime_panel.telemetry_console import run_telemetry
from spacetime_panel.terminal import (
    PROBE_KINDS,
    add_tls_flags,
    run_probe,
    run_status,
    take_address,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

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


PROBE_TIMEOUT = 3.0
LSP_PROBE_TIMEOUT = 10.0


def default_probe_timeout(kind: str) -> float:
    """A Godot editor that has just opened can take seconds to answer its first LSP
    `initialize`: `probe lsp` waits longer than the other probes by default."""
    return LSP_PROBE_TIMEOUT if kind == "lsp" else PROBE_TIMEOUT


def _where_flags(parser: argparse.ArgumentParser) -> None:
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


def _serve_flags(parser: argparse.ArgumentParser) -> None:
    _where_flags(parser)
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


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = CommandParser(  # its subcommands' parsers too
        prog="spacetime-panel",
        description="Control panel and supervisor for Godot 4.5 VR development.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the supervisor headless with the management API (/health)",
        description="Supervise Godot headless and serve /health, /status, /start, /stop, "
        "/restart, /scene/load and /logs on 127.0.0.1:8090.",
    )
    _serve_flags(serve)

    gui = commands.add_parser(
        "gui",
        help="the desktop panel (the default without a subcommand)",
        description="Open the panel: supervisor, graphs, tray, and the same management API "
        "as serve. `spacetime-panel --demo` opens it on the simulated Godot.",
    )
    _serve_flags(gui)

    status = commands.add_parser(
        "status",
        help="check the six services once and print the port table",
        description="Check the management API, the bridge HTTP API, telemetry, DAP, LSP and "
        "discovery against the configured host and ports. Exit 0 when every expected "
        "service is up (the game's with the game, LSP/DAP with --editor or --demo), else 1.",
    )
    _where_flags(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_tls_flags(status)

    probe = commands.add_parser(
        "probe",
        help="one probe against any peer (real LSP/DAP handshakes, HTTP, WebSocket, TCP)",
        description="Probe one service. Exit 0 when it is up.",
    )
    probe.add_argument("kind", choices=PROBE_KINDS, help="what to speak to the peer")
    probe.add_argument(
        "--host", default="127.0.0.1", help="address, or https://HOST:PORT for probe http"
    )
    probe.add_argument("--port", type=port, help="port (required unless --host has one)")
    probe.add_argument(
        "--timeout",
        type=positive_seconds,
        help=f"seconds (default {PROBE_TIMEOUT:g}; lsp {LSP_PROBE_TIMEOUT:g}: an editor that "
        "has just opened takes seconds to answer its first initialize)",
    )
    probe.add_argument("--json", action="store_true", help="print JSON")
    probe.add_argument(
        "--config",
        type=Path,
        help="config file (its godot.bridge_key_hosts may receive the bridge key)",
    )
    add_tls_flags(probe)

    telemetry = commands.add_parser(
        "telemetry",
        help="the game's live telemetry: FPS, frame times, headset, errors",
        description="Connect to the game's telemetry WebSocket (reconnecting by itself) and "
        "show rolling statistics; exit 1 if no sample arrived.",
    )
    _where_flags(telemetry)
    telemetry.add_argument(
        "--url", type=websocket_url, help="ws://HOST:PORT (default: the configured telemetry port)"
    )
    telemetry.add_argument("--duration", type=positive_seconds, help="stop after this many seconds")
    telemetry.add_argument("--json", action="store_true", help="one JSON summary per second")
    telemetry.add_argument("--record", type=Path, metavar="FILE.csv", help="write samples to CSV")
    telemetry.add_argument(
        "--refresh-rate", type=int, choices=(72, 90, 120, 144), help="headset refresh rate (Hz)"
    )
    _install_addon_parser(commands)
    add_keys_parser(commands)
    return parser


def _install_addon_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    install = commands.add_parser(
        "install-addon",
        help="install the SpaceTime bridge addon into a Godot project (or remove it)",
        description="Copy the bridge addon to PROJECT/addons/spacetime_bridge and enable it in "
        "project.godot (the SpaceTimeBridge autoload, the editor plugin, "
        "run/flush_stdout_on_print=true), after a backup to project.godot.spacetime-backup. "
        "Running it again changes nothing. --uninstall reverses exactly those edits; on a "
        "project without the addon it has nothing to do and exits 0.",
    )
    install.add_argument("project", type=Path, metavar="PROJECT", help="the Godot project folder")
    install.add_argument(
        "--force", action="store_true", help="replace an addon newer than this one"
    )
    install.add_argument(
        "--uninstall", action="store_true", help="remove the addon and undo the project edits"
    )


def install_addon_command(args: argparse.Namespace) -> int:
    """`spacetime-panel install-addon PROJECT [--force] [--uninstall]`."""
    if args.force and args.uninstall:
        print("spacetime-panel: --force is for installing, not with --uninstall", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.uninstall:
            print("\n".join(uninstall_addon(args.project).report()))
            return EXIT_OK
        print("\n".join(install_addon(args.project, force=args.force).report()))
    except AddonInstallError as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_ERROR
    print("Verify: start the game and run `spacetime-panel status`")
    return EXIT_OK


def probe_command(args: argparse.Namespace, bridge_key: str | None) -> int:
    """`spacetime-panel probe KIND --host H --port P [--tls] [--ca-file F]`."""
    try:
        take_address(args)
        key_hosts = load_settings(config_file=args.config).godot.bridge_key_hosts
    except (ConfigError, ValueError) as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.port is None:
        print("spacetime-panel: probe needs --port (or a --host with a port)", file=sys.stderr)
        return EXIT_USAGE
    if (args.tls or args.ca_file is not None) and args.kind != "http":
        print("spacetime-panel: --tls and --ca-file are for probe http", file=sys.stderr)
        return EXIT_USAGE
    timeout = args.timeout if args.timeout is not None else default_probe_timeout(args.kind)
    return asyncio.run(
        run_probe(
            args.kind,
            args.host,
            args.port,
            as_json=args.json,
            timeout=timeout,
            api_key=bridge_key,
            key_hosts=key_hosts,
            tls=args.tls,
            ca_file=args.ca_file,
        )
    )


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
    overrides = overrides_from(args)
    if args.demo and not launching:
        overrides = [Override("godot.launch_editor", True, "--demo"), *overrides]
    elif args.demo:
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


def no_display_reason() -> str | None:
    """Why Qt cannot open a window here, or None (checked before Qt aborts the process)."""
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform in ("win32", "darwin"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display to open the panel on (DISPLAY is not set); "
        "run it headless with: spacetime-panel serve"
    )


def read_management_keys(secrets: SecretStore) -> ManagementKeys | int:
    """The management keys, or the exit code after a one-line complaint."""
    try:
        return management_keys(secrets)
    except KeyringUnavailable as error:
        print(
            f"spacetime-panel: cannot read the management API key: {error} "
            f"(for {PANEL_API_KEY.variable})",
            file=sys.stderr,
        )
        return EXIT_ERROR


def refusal_to_serve(settings: Settings, keys: ManagementKeys) -> int | None:
    """The exit code after a one-line complaint when the API must not be served so, else None.

    A non-loopback bind without a key, an unreadable or mismatched TLS pair,
    a bad trusted-proxy entry: all configuration, exit 2, before Godot starts.
    """
    if settings.api.require_auth and keys.control is None:
        print(
            f"spacetime-panel: api.require_auth is on (API_KEY_REQUIRED) but no management "
            f"API key is set: export {PANEL_API_KEY.variable}=... or store one in the keyring",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if (problem := serving_problem(settings.api, keys)) is not None:
        print(f"spacetime-panel: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return None


def gui(args: argparse.Namespace) -> int:
    """The desktop panel. Same checks as serve, then the Qt window."""
    settings = checked_settings(args)
    if isinstance(settings, int):
        return settings
    keys = read_management_keys(SecretStore())
    if isinstance(keys, int):
        return keys
    if (code := refusal_to_serve(settings, keys)) is not None:
        return code
    if (reason := no_display_reason()) is not None:
        print(f"spacetime-panel: {reason}", file=sys.stderr)
        return EXIT_ERROR
    try:
        from spacetime_panel.ui.app import run_gui
    except ImportError as error:
        print(
            f"spacetime-panel: the desktop panel cannot start ({error}); "
            "run it headless with: spacetime-panel serve",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return run_gui(settings, config_path=args.config or default_config_path(), keys=keys)


def checked_settings(args: argparse.Namespace) -> Settings | int:
    """Settings for launching Godot, or the exit code after a one-line complaint."""
    try:
        settings = settings_from(args)
    except ConfigError as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_ERROR
    if (complaint := check_project(settings)) is not None:
        print(f"spacetime-panel: {complaint}", file=sys.stderr)
        return EXIT_USAGE
    if (complaint := check_godot(settings)) is not None:
        print(f"spacetime-panel: {complaint}", file=sys.stderr)
        return EXIT_ERROR
    return settings


def serve(args: argparse.Namespace) -> int:
    settings = checked_settings(args)
    if isinstance(settings, int):
        return settings
    secrets = SecretStore()
    api_key, _ = secrets.get(BRIDGE_API_KEY)
    keys = read_management_keys(secrets)
    if isinstance(keys, int):
        return keys
    if (code := refusal_to_serve(settings, keys)) is not None:
        return code
    try:
        return asyncio.run(_serve(settings, api_key, keys))
    except CannotServe as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_ERROR


async def _serve(settings: Settings, api_key: str | None, keys: ManagementKeys) -> int:

    configure_logging(settings, Paths.for_settings(settings).logs)
    stop = asyncio.Event()
    on_stop_signals(asyncio.get_running_loop(), stop.set)
    await run_service(settings, api_key=api_key, keys=keys, stop=stop)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `spacetime-panel telemetry --json | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not arguments or (
        arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "--version")
    ):
        arguments.insert(0, "gui")  # no subcommand: the desktop panel
    args = parser.parse_args(arguments)
    if args.command == "gui":
        return gui(args)
    if args.command == "install-addon":
        return install_addon_command(args)
    if args.command == "keys":
        return run_keys(args)
    bridge_key, _ = SecretStore().get(BRIDGE_API_KEY)
    if args.command == "serve":
        return serve(args)
    if args.command == "status":
        try:
            take_address(args)
            settings = settings_from(args, launching=False)
        except (ConfigError, ValueError) as error:
            print(f"spacetime-panel: {error}", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(
            run_status(
                settings,
                as_json=args.json,
                api_key=bridge_key,
                tls=args.tls,
                ca_file=args.ca_file,
            )
        )
    if args.command == "probe":
        return probe_command(args, bridge_key)
    if args.command == "telemetry":
        try:
            settings = settings_from(args, launching=False)
        except ConfigError as error:
            print(f"spacetime-panel: {error}", file=sys.stderr)
            return EXIT_USAGE
        url = args.url or f"ws://127.0.0.1:{settings.ports.telemetry}"
        if url.startswith("wss://"):
            print(
                "spacetime-panel telemetry: argument --url: wss:// is not supported: the "
                "game's telemetry is plain ws:// on 127.0.0.1",
                file=sys.stderr,
            )
            return EXIT_USAGE
        refresh = args.refresh_rate or settings.telemetry.refresh_rate_hz
        return asyncio.run(
            run_telemetry(
                url, duration=args.duration, as_json=args.json, record=args.record,
                refresh_hz=refresh,
            )
        )  # fmt: skip
    parser.print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
