"""The SpaceTime bridge addon in a Godot project: is it declared, and how to install it."""

from __future__ import annotations

import shlex
from pathlib import Path

from spacetime_panel.godot.project_file import read_entry

AUTOLOAD_NAME = "SpaceTimeBridge"
AUTOLOAD_PATH = "res://addons/spacetime_bridge/bridge.gd"
PLUGIN_CFG = "res://addons/spacetime_bridge/plugin.cfg"


def bridge_autoload_declared(project: Path) -> bool:
    """True when PROJECT/project.godot declares the SpaceTimeBridge autoload.

    False when there is no project.godot, no such entry, or the file cannot be read:
    the supervisor only uses this to decide whether to wait for the bridge.
    """
    try:
        return read_entry(project, "autoload", AUTOLOAD_NAME) is not None
    except Exception:  # an odd file must never stop a launch
        return False


def install_command(project: Path) -> str:
    """The command a user runs to install the addon into `project`."""
    return f"spacetime-panel install-addon {shlex.quote(str(project))}"
