"""The /health composer: held state in, the guide's JSON and a verdict out.

Pure: no I/O, no clock of its own. It never calls Godot; what it reports is
what the supervisor and its checks already know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spacetime_panel import __version__
from spacetime_panel.probes.status import ServiceStatus
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.program import ProgramStatus


@dataclass(slots=True)
class GameView:
    """What the panel last learned from the game's bridge. Reset when the game goes away."""

    api_reachable: bool = False
    bridge_url: str | None = None
    scene_loaded: bool = False
    scene_loading: bool = False
    scene_name: str | None = None
    scene_path: str | None = None
    player_spawned: bool = False
    player_overdue: bool = False  # not spawned within player_timeout
    #: The command that installs the bridge addon, when the game's project lacks it.
    bridge_missing: str | None = None
    checked_at: float | None = None


@dataclass(frozen=True, slots=True)
class Health:
    body: dict[str, Any]
    healthy: bool

    @property
    def status_code(self) -> int:
        return 200 if self.healthy else 503


def _program_issues(status: ProgramStatus) -> list[str]:
    name = status.name
    match status.state:
        case ProgramState.RUNNING:
            return []
        case ProgramState.FATAL | ProgramState.EXITED:
            return [status.blocking_issue or f"{name} is down"]
        case ProgramState.BACKOFF:
            return [f"{name} is restarting after a failure ({status.last_failure})"]
        case ProgramState.STARTING:
            return [f"{name} is starting"]
        case ProgramState.STOPPING:
            return [f"{name} is stopping"]
        case ProgramState.STOPPED:
            return [f"{name} is stopped"]
    return []


def _game_issues(view: GameView, player_timeout: float) -> list[str]:
    if view.bridge_missing is not None:
        return [
            "the game has no SpaceTime bridge addon, so scene loads, telemetry and /status "
            f"are off; install it with `{view.bridge_missing}`"
        ]
    if not view.api_reachable:
        return ["Godot API not reachable"]
    if not view.scene_loaded:
        return ["scene is loading" if view.scene_loading else "no scene loaded"]
    if not view.player_spawned:
        if view.player_overdue:
            return [f"player not spawned within {player_timeout:g} s"]
        return ["player not spawned yet"]
    return []


def program_json(status: ProgramStatus) -> dict[str, Any]:
    uptime = status.uptime
    return {
        "state": status.state.value,
        "pid": status.pid,
        "uptime_seconds": None if uptime is None else round(uptime, 1),
        "restarts": status.restarts,
        "last_exit_code": status.last_exit_code,
        "last_failure": status.last_failure,
        "adopted": status.adopted,
        "start_queued": status.start_queued,
    }


def compose_health(
    *,
    game: ProgramStatus | None,
    editor: ProgramStatus | None,
    view: GameView,
    player_timeout: float,
    now: datetime,
    services: Sequence[ServiceStatus] = (),
    warnings: Sequence[str] = (),
) -> Health:
    """The guide's /health document. Any blocking issue makes it unhealthy (503).

    `services` (the port table) is reported for information; the verdict rests on
    the programs and the game's own answers, which are what the user acts on.
    `warnings` (a state file that cannot be written, say) are shown, never blocking.
    """
    issues: list[str] = []
    if game is not None:
        issues += _program_issues(game)
        if game.state is ProgramState.RUNNING:
            issues += _game_issues(view, player_timeout)
    if editor is not None:
        issues += _program_issues(editor)
    programs = {s.name: program_json(s) for s in (game, editor) if s is not None}
    body: dict[str, Any] = {
        "server": "healthy",
        "timestamp": now.isoformat(timespec="seconds"),
        "godot_process": {
            "running": game is not None and game.pid is not None,
            "pid": game.pid if game is not None else None,
        },
        "godot_api": {
            "reachable": view.api_reachable,
            "url": view.bridge_url,
            "bridge_installed": view.bridge_missing is None,
        },
        "scene": {
            "loaded": view.scene_loaded,
            "name": view.scene_name,
            "path": view.scene_path,
            "loading": view.scene_loading,
        },
        "player": {"spawned": view.player_spawned},
        "overall_healthy": not issues,
        "blocking_issues": issues,
        "warnings": list(warnings),
        "programs": programs,
        "services": [service.to_json() for service in services],
        "version": __version__,
    }
    return Health(body=body, healthy=not issues)
