"""The `spacetime-panel` command: it parses the command line and dispatches.

Each subcommand lives in its own module under `spacetime_panel/commands/`.
Without a subcommand the desktop panel opens (`gui`).

Exit codes: 0 done, 1 runtime error (busy port, Godot missing), 2 bad
configuration or usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from spacetime_panel import __version__
from spacetime_panel.commands import (
    check_scenes,
    deploy,
    doctor,
    gui,
    install_addon,
    keys,
    mcp,
    probe,
    serve,
    status,
    telemetry,
)
from spacetime_panel.commands.arguments import CommandParser
from spacetime_panel.commands.common import EXIT_OK, EXIT_USAGE

#: The subcommands, in the order `--help` lists them.
COMMANDS = (
    serve,
    gui,
    status,
    probe,
    telemetry,
    install_addon,
    keys,
    deploy,
    check_scenes,
    doctor,
    mcp,
)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = CommandParser(  # its subcommands' parsers too
        prog="spacetime-panel",
        description="Control panel and supervisor for Godot 4.5 VR development.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


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
    args.argv = arguments
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return EXIT_USAGE
    code: int = run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
