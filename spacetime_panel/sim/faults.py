"""Faults the simulator can be told to show, for testing the supervisor.

They come from environment variables so they pass through the supervisor
unchanged. The game reads ``SPACETIME_SIM_*``; the editor reads the same names
with an ``EDITOR_`` infix (``SPACETIME_SIM_EDITOR_CRASH_AFTER``), so one
environment can break the game without breaking the editor.

Telemetry faults (game only):

- ``SPACETIME_SIM_BAD_TELEMETRY=1`` mixes malformed frames into the telemetry
  stream, about one per 20 valid frames (:data:`BAD_TELEMETRY_SHARE`): invalid
  JSON, unknown events, wrong types, ``NaN``/``Infinity`` literals, missing
  fields, booleans for numbers (:func:`malformed_frame`). Valid frames still
  all arrive; the bad ones come in addition.
- ``SPACETIME_SIM_TELEMETRY_FLAP=S`` drops every telemetry WebSocket
  connection every S seconds (the value is the period in seconds; 0 or unset
  is off). The drop is abrupt (TCP closed without a close frame), like a
  crashed peer or a pulled cable; the server keeps listening, so clients can
  reconnect at once.

Bridge fault (game only):

- ``SPACETIME_SIM_NO_BRIDGE=1`` runs a game without the SpaceTime bridge, as
  a real Godot project without the addon would: it starts, prints and stays
  up until it is stopped, but serves nothing (no HTTP, telemetry, beacon or
  port file).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from spacetime_panel.sim.settings import env_flag, env_int, env_seconds

GAME_PREFIX = "SPACETIME_SIM_"
BAD_TELEMETRY_SHARE = 0.05
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
    bad_telemetry: bool = False
    telemetry_flap: float | None = None
    no_bridge: bool = False

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
            bad_telemetry=env_flag(env, prefix + "BAD_TELEMETRY"),
            telemetry_flap=env_seconds(env, prefix + "TELEMETRY_FLAP") or None,
            no_bridge=env_flag(env, prefix + "NO_BRIDGE"),
        )


def spawn_stubborn_child(orphan_grace: float = 120.0) -> int:
    """Start a grandchild that ignores SIGTERM and shares our stdout/stderr; return its pid."""
    code = _GRANDCHILD_CODE.format(orphan_grace=float(orphan_grace))
    # Same process group and inherited pipes on purpose: that is what the
    # supervisor's stop must cope with.
    # SIGTERM is ignored from before exec (an ignored disposition survives exec), so
    # there is no moment in which the grandchild's pid is known but SIGTERM kills it.
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, preexec_fn=_ignore_sigterm
    )
    return proc.pid


def _ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def crash_now(exit_code: int, write_error: Callable[[str], None]) -> None:
    """Exit at once, without clean-up, like a Godot that segfaulted."""
    write_error(f"sim: crashing on purpose (exit code {exit_code})")
    os._exit(exit_code)


def _fps_data() -> dict[str, object]:
    return {"fps": 90.0, "frame_time_ms": 11.111, "process_time_ms": 4.2, "physics_time_ms": 1.1}


def _frame(event: object, data: object, timestamp: object = 0.0) -> str:
    return json.dumps({"event": event, "timestamp": timestamp, "data": data})


# Each entry makes one kind of malformed frame from a real timestamp; a
# telemetry client must reject every one of them and keep going.
_MALFORMED: tuple[Callable[[float], str], ...] = (
    lambda ts: _frame("fps", _fps_data(), ts)[:-7],  # cut short: invalid JSON
    lambda ts: "not json at all",
    lambda ts: "[1, 2, 3]",  # JSON, not an object
    lambda ts: _frame("teleport", {"x": 1}, ts),  # unknown event
    lambda ts: _frame(None, _fps_data(), ts),  # missing event name
    lambda ts: _frame("fps", {**_fps_data(), "fps": "ninety"}, ts),  # wrong type
    lambda ts: _frame("fps", {**_fps_data(), "fps": True}, ts),  # a boolean is not a number
    # json.dumps writes these as the NaN / Infinity literals the JSON spec forbids
    lambda ts: _frame("fps", {**_fps_data(), "frame_time_ms": float("nan")}, ts),
    lambda ts: _frame("fps", {**_fps_data(), "fps": float("inf")}, ts),
    lambda ts: _frame("fps", {**_fps_data(), "fps": -5.0}, ts),  # out of range
    lambda ts: _frame("fps", {"fps": 90.0}, ts),  # missing fields
    lambda ts: _frame("fps", _fps_data(), "yesterday"),  # bad timestamp
    lambda ts: _frame("fps", [90.0], ts),  # data is not an object
    lambda ts: _frame(
        "vr_tracking",
        {
            "headset": {"position": [0.0, float("nan"), 0.0], "rotation": [0.0, 0.0, 0.0, 1.0]},
            "left_controller": None,
            "right_controller": None,
        },
        ts,
    ),
    lambda ts: _frame(
        "vr_tracking",
        {"headset": {"position": [0.0, 1.7], "rotation": [0, 0, 0, 1]}, "left_controller": None},
        ts,
    ),  # short position, missing device
)


def malformed_frame(rng: random.Random, timestamp: float) -> str:
    """One malformed telemetry frame of a randomly chosen kind."""
    return rng.choice(_MALFORMED)(timestamp)


def malformed_frames(timestamp: float = 0.0) -> list[str]:
    """One frame of every malformed kind (for tests)."""
    return [make(timestamp) for make in _MALFORMED]
