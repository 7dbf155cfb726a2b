"""`spacetime-panel mcp`: the management API as an MCP server on stdio, for AI agents.

An MCP client (Claude Desktop, Claude Code, Cursor, an agent framework) starts
this command and speaks MCP on its stdin and stdout. The tools (health,
services, programs, start/stop/restart, scenes, load_scene, reload_scene,
logs, telemetry_summary, record_telemetry, wait_until_healthy) call a running
panel's management API: the one of `--url`, else the configured `api.host` and
`api.port`, with the management key from `SPACETIME_PANEL_API_KEY` (or the
read-only key, or the keyring), as `status` finds them.

With `--standalone` it supervises Godot itself, as `serve` does (the same flags,
`--demo` too), and its tools talk to that panel; when the client closes stdin
(or on SIGTERM) Godot is stopped and the command exits. stdout is the MCP
channel: every log line goes to stderr and the log file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from spacetime_panel.commands.addresses import EXIT_BAD_CA, split_address
from spacetime_panel.commands.common import (
    EXIT_OK,
    EXIT_USAGE,
    Subcommands,
    fail,
    read_management_keys,
    serve_flags,
    serving_setup,
    settings_from,
)

if TYPE_CHECKING:
    import ssl

    from spacetime_panel.agents.panel_client import PanelClient
    from spacetime_panel.api.security import ManagementKeys
    from spacetime_panel.config import Settings


def add_parser(commands: Subcommands) -> None:
    mcp = commands.add_parser(
        "mcp",
        help="serve the management API to AI agents as an MCP server (stdio)",
        description="An MCP server on stdin/stdout: tools to read the health, the port table, "
        "the programs, the logs and the telemetry, to start, stop and restart Godot and to "
        "load scenes, over a running panel's management API (--url, or the configured host "
        "and port; the key from SPACETIME_PANEL_API_KEY or the keyring). With --standalone it "
        "supervises Godot itself, as serve does, and stops it when the client goes.",
    )
    serve_flags(mcp)
    agent = mcp.add_argument_group("mcp")
    agent.add_argument(
        "--url",
        metavar="http(s)://HOST:PORT",
        help="the panel's management API (default: the configured api.host and api.port)",
    )
    agent.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="verify the API's HTTPS certificate against this PEM file",
    )
    agent.add_argument(
        "--standalone",
        action="store_true",
        help="run a supervisor (the serve flags apply: --demo, --project-path, ...) and talk "
        "to it; Godot stops when the MCP client closes",
    )
    agent.add_argument(
        "--recordings",
        type=Path,
        metavar="DIR",
        help="folder for record_telemetry's CSV files (default: a folder in the temp dir; "
        "with --standalone, recordings/ in the log folder)",
    )
    mcp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spacetime_panel.config import ConfigError
    from spacetime_panel.probes.tls import TlsSetupError

    if args.standalone and args.url:
        return fail("--url is for a panel already running; --standalone runs its own", EXIT_USAGE)
    if args.standalone:
        return _run_standalone(args)
    try:
        settings = settings_from(args, launching=False)
        url = _panel_url(args.url, settings)
    except (ConfigError, ValueError) as error:
        return fail(str(error), EXIT_USAGE)
    keys = _read_keys()
    if isinstance(keys, int):
        return keys
    try:
        verify = _verify(args.ca_file, settings, url)
    except TlsSetupError as error:
        return fail(str(error), EXIT_BAD_CA)
    return asyncio.run(_serve_stdio(url, keys.control or keys.read, verify, args.recordings))


def _read_keys() -> ManagementKeys | int:
    from spacetime_panel.secrets import SecretStore

    return read_management_keys(SecretStore())


def _panel_url(url: str | None, settings: Settings) -> str:
    """`--url` checked, or the configured API's address."""
    if url:
        try:
            host, port, tls = split_address(url)
        except ValueError as error:
            raise ValueError(f"argument --url: {error}") from None
        if tls is None:
            raise ValueError(f"argument --url: {url}: say http:// or https://")
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        scheme = "https" if tls else "http"
        return f"{scheme}://{host}:{port or settings.api.port}"
    host = settings.api.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if settings.api.tls_cert is not None else "http"
    return f"{scheme}://{host}:{settings.api.port}"


def _verify(ca_file: Path | None, settings: Settings, url: str) -> ssl.SSLContext | bool:
    """How to check the API's certificate: --ca-file, the configured api.tls_cert (the
    API's own, trusted as it is), else the system's CAs."""
    from spacetime_panel.probes.tls import tls_context

    if ca_file is not None:
        return tls_context(ca_file)
    if url.startswith("https://") and settings.api.tls_cert is not None:
        return tls_context(settings.api.tls_cert, pinned=True)
    return True


def _log_to_stderr() -> None:
    """stdout is the MCP channel: console log lines go to stderr instead."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _serve_stdio(
    url: str, key: str | None, verify: ssl.SSLContext | bool, recordings: Path | None
) -> int:
    from spacetime_panel.agents.panel_client import PanelClient

    async with PanelClient(url, key=key, verify=verify) as panel:
        await _serve_mcp(panel, recordings)
    return EXIT_OK


async def _serve_mcp(panel: PanelClient, recordings: Path | None) -> None:
    """Serve MCP on stdio until the client closes stdin."""
    from spacetime_panel.agents.server import build_mcp_server

    server = build_mcp_server(panel, recordings=recordings)
    _log_to_stderr()  # after the SDK configured its own logging
    await server.run_stdio_async()


def _run_standalone(args: argparse.Namespace) -> int:
    from spacetime_panel.api.server import CannotServe

    setup = serving_setup(args)
    if isinstance(setup, int):
        return setup
    try:
        return asyncio.run(
            _standalone(setup.settings, setup.bridge_key, setup.keys, args.recordings)
        )
    except CannotServe as error:
        return fail(str(error))


async def _standalone(
    settings: Settings, api_key: str | None, keys: ManagementKeys, recordings: Path | None
) -> int:
    """A PanelService and the MCP server on stdio in one loop; the service stops when
    the client closes stdin, on SIGTERM/Ctrl+C, or when the API server ends."""
    from spacetime_panel.agents.panel_client import PanelClient
    from spacetime_panel.probes.tls import tls_context
    from spacetime_panel.service.panel_service import PanelService, Paths, configure_logging
    from spacetime_panel.service.stop_signals import on_stop_signals

    paths = Paths.for_settings(settings)
    configure_logging(settings, paths.logs)
    _log_to_stderr()
    service = PanelService(settings, api_key=api_key, keys=keys, owns_process=True)
    stop = asyncio.Event()
    undo_signals = on_stop_signals(asyncio.get_running_loop(), stop.set)
    try:
        await service.start()
        tls_cert = settings.api.tls_cert
        verify = tls_context(tls_cert, pinned=True) if tls_cert is not None else True
        async with PanelClient(service.url, key=keys.control, verify=verify) as panel:
            serving = asyncio.create_task(
                _serve_mcp(panel, recordings or paths.logs / "recordings")
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait(
                {serving, stopping, service.serving}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (serving, stopping):
                task.cancel()
            await asyncio.gather(serving, stopping, return_exceptions=True)
    finally:
        undo_signals()
        await service.stop()
    return EXIT_OK
