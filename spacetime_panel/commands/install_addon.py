"""`spacetime-panel install-addon PROJECT [--force] [--uninstall]`: the bridge addon, in or out."""

from __future__ import annotations

import argparse
from pathlib import Path

from spacetime_panel.commands.common import EXIT_OK, EXIT_USAGE, Subcommands, fail
from spacetime_panel.godot.addon import AddonInstallError, install_addon, uninstall_addon


def add_parser(commands: Subcommands) -> None:
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
    install.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.force and args.uninstall:
        return fail("--force is for installing, not with --uninstall", EXIT_USAGE)
    try:
        if args.uninstall:
            print("\n".join(uninstall_addon(args.project).report()))
            return EXIT_OK
        print("\n".join(install_addon(args.project, force=args.force).report()))
    except AddonInstallError as error:
        return fail(str(error))
    print("Verify: start the game and run `spacetime-panel status`")
    return EXIT_OK
