"""`spacetime-panel [gui]`: the desktop panel (the default without a subcommand).

The same checks as `serve`, then the Qt window. Before Qt is touched it says,
in one line, why a window cannot open here (no display; on Linux, Qt's xcb
libraries missing, with the Debian packages that hold them), and how to run
the same supervisor headless with the user's own flags.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from spacetime_panel.commands.common import (
    EXIT_ERROR,
    Subcommands,
    fail,
    serve_flags,
    serving_setup,
)


def add_parser(commands: Subcommands) -> None:
    gui = commands.add_parser(
        "gui",
        help="the desktop panel (the default without a subcommand)",
        description="Open the panel: supervisor, graphs, tray, and the same management API "
        "as serve. `spacetime-panel --demo` opens it on the simulated Godot.",
    )
    serve_flags(gui)
    gui.set_defaults(run=run)


def headless_hint(argv: list[str]) -> str:
    """`spacetime-panel serve` with the flags the user gave the panel."""
    flags = [arg for arg in argv if arg != "gui"]
    return shlex.join(["spacetime-panel", "serve", *flags])


def no_display_reason() -> str | None:
    """Why Qt cannot open a window here, or None (checked before Qt aborts the process)."""
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform in ("win32", "darwin"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display to open the panel on (DISPLAY is not set)"


def run(args: argparse.Namespace) -> int:
    from spacetime_panel.config import default_config_path

    setup = serving_setup(args)  # the panel reads the bridge key again when it starts
    if isinstance(setup, int):
        return setup
    settings, keys = setup.settings, setup.keys
    hint = headless_hint(getattr(args, "argv", []))
    if (reason := no_display_reason()) is not None:
        return fail(f"{reason}; run it headless with: {hint}", EXIT_ERROR)
    from spacetime_panel.doctor.qt_libraries import qt_platform_check

    if (qt := qt_platform_check()).verdict == "error":  # Qt would abort the process
        return fail(f"the desktop panel cannot start: {qt.detail}; fix: {qt.fix}; or run it "
                    f"headless with: {hint}")  # fmt: skip
    try:
        from spacetime_panel.ui.app import run_gui
    except ImportError as error:
        return fail(f"the desktop panel cannot start ({error}); run it headless with: {hint}")
    return run_gui(settings, config_path=args.config or default_config_path(), keys=keys)
