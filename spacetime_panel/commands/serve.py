"""`spacetime-panel serve`: the supervisor headless, with the management API.

It replaces the guide's `godot_editor_server.py` and accepts its flags. The
API port is bound before any Godot starts; SIGTERM or Ctrl+C stops Godot,
then the API, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from spacetime_panel.commands.common import (
    EXIT_OK,
    Subcommands,
    fail,
    serve_flags,
    serving_setup,
)
from spacetime_panel.config import Settings

if TYPE_CHECKING:
    from spacetime_panel.api.security import ManagementKeys


def add_parser(commands: Subcommands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the supervisor headless with the management API (/health)",
        description="Supervise Godot headless and serve /health, /status, /start, /stop, "
        "/restart, /scene/load and /logs on 127.0.0.1:8090.",
    )
    serve_flags(serve)
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spacetime_panel.api.server import CannotServe

    setup = serving_setup(args)
    if isinstance(setup, int):
        return setup
    try:
        return asyncio.run(_serve(setup.settings, setup.bridge_key, setup.keys))
    except CannotServe as error:
        return fail(str(error))


async def _serve(settings: Settings, api_key: str | None, keys: ManagementKeys) -> int:
    from spacetime_panel.service.panel_service import Paths, configure_logging, run_service
    from spacetime_panel.service.stop_signals import on_stop_signals

    configure_logging(settings, Paths.for_settings(settings).logs)
    stop = asyncio.Event()
    on_stop_signals(asyncio.get_running_loop(), stop.set)
    await run_service(settings, api_key=api_key, keys=keys, stop=stop)
    return EXIT_OK
