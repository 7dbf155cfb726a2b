"""Faults the simulator can be told to show, for testing the supervisor.

They come from environment variables so they pass through the supervisor
unchanged. The game reads ``SPACETIME_SIM_*``; the editor reads the same names
with an ``EDITOR_`` infix (``SPACETIME_SIM_EDITOR_CRASH_AFTER``), so one
environment can break the game without breaking the editor.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from spacetime_panel.sim.settings import env_flag, env_int, env_seconds

GAME_PREFIX = "SPACETIME_SIM_"
EDITOR_PREFIX = "SPACETIME_SIM_EDITOR_"

# The grandchild ignores SIGTERM, holds the inherited stdout/stderr open and
# sleeps. It exits on its own only after its parent has been gone for a long
# while, so a test that forgets it does not leak it forever, while a supervisor
# that fails to kill the whole group still sees it.
_GRANDCHILD_CODE = """
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
parent = os.getppid()
orphaned_since = None
while True:
    time.sleep(1.0)
    if os.getppid() != parent:
        orphaned_since = orphaned_since or time.monotonic()
        if time.monotonic() - orphaned_since > {orphan_grace}:
            os._exit(0)
"""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Which misbehaviour to show; None/False means "behave"."""

    crash_after: float | None = None
    exit_code: int = 1
    hang_after: float | None = None
    start_delay: float | None = None
    no_player: bool = False
    spawn_child: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str = GAME_PREFIX) -> Faults:
        """Parse ``{prefix}CRASH_AFTER`` etc.; raises SettingsError on a bad value."""
        return cls(
            crash_after=env_seconds(env, prefix + "CRASH_AFTER"),
            exit_code=env_int(env, prefix + "EXIT_CODE", 1, low=0, high=255),
            hang_after=env_seconds(env, prefix + "HANG_AFTER"),
            start_delay=env_seconds(env, prefix + "START_DELAY"),
            no_player=env_flag(env, prefix + "NO_PLAYER"),
            spawn_child=env_flag(env, prefix + "SPAWN_CHILD"),
        )


def spawn_stubborn_child(orphan_grace: float = 120.0) -> int:
    """Start a grandchild that ignores SIGTERM and shares our stdout/stderr; return its pid."""
    code = _GRANDCHILD_CODE.format(orphan_grace=float(orphan_grace))
    # Same process group and inherited pipes on purpose: that is what the
    # supervisor's stop must cope with.
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
    return proc.pid


def crash_now(exit_code: int, write_error: Callable[[str], None]) -> None:
    """Exit at once, without clean-up, like a Godot that segfaulted."""
    write_error(f"sim: crashing on purpose (exit code {exit_code})")
    os._exit(exit_code)
