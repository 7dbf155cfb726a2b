"""/health: the guide's JSON fields, 200 only when nothing blocks, readable blocking issues."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from spacetime_panel.core.health import GameView, compose_health
from spacetime_panel.supervisor.machine import ProgramState
from tests.conftest import program_status

NOW = datetime(2024, 12, 2, 12, 30, 0, tzinfo=UTC)


def status(name="game", state=ProgramState.RUNNING, **overrides):
    running = state in (ProgramState.RUNNING, ProgramState.STARTING)
    return program_status(name, state, **{"pid": 4242 if running else None, **overrides})


HEALTHY_VIEW = GameView(
    api_reachable=True,
    bridge_url="http://127.0.0.1:8080",
    scene_loaded=True,
    scene_name="vr_main",
    scene_path="res://vr_main.tscn",
    player_spawned=True,
)


def health(game=None, editor=None, view=HEALTHY_VIEW, player_timeout=30.0):
    return compose_health(
        game=game, editor=editor, view=view, player_timeout=player_timeout, now=NOW
    )


def test_all_good_is_200_with_every_guide_field():
    result = health(game=status())
    assert result.healthy
    assert result.status_code == 200
    body = result.body
    assert body["server"] == "healthy"
    assert body["timestamp"] == "2024-12-02T12:30:00+00:00"
    assert body["godot_process"] == {"running": True, "pid": 4242}
    assert body["godot_api"]["reachable"] is True
    assert body["scene"]["loaded"] is True
    assert body["scene"]["name"] == "vr_main"
    assert body["player"] == {"spawned": True}
    assert body["overall_healthy"] is True
    assert body["blocking_issues"] == []


def test_guide_fields_are_present_even_when_nothing_runs():
    body = health(view=GameView()).body
    for key in (
        "server",
        "timestamp",
        "godot_process",
        "godot_api",
        "scene",
        "player",
        "overall_healthy",
        "blocking_issues",
    ):
        assert key in body
    assert body["godot_process"] == {"running": False, "pid": None}
    assert body["godot_api"]["reachable"] is False
    assert body["scene"]["loaded"] is False
    assert body["scene"]["name"] is None
    assert body["player"]["spawned"] is False


def test_unhealthy_is_503_and_overall_healthy_false():
    result = health(game=status(state=ProgramState.STOPPED))
    assert not result.healthy
    assert result.status_code == 503
    assert result.body["overall_healthy"] is False
    assert result.body["blocking_issues"]


def test_fatal_shows_the_machines_blocking_issue():
    issue = (
        "game failed 3 times within 300 s (last: killed by SIGKILL); "
        "not restarting until launched again"
    )
    result = health(game=status(state=ProgramState.FATAL, blocking_issue=issue))
    assert result.status_code == 503
    assert result.body["blocking_issues"] == [issue]


def test_fatal_without_text_still_says_the_program_is_down():
    result = health(game=status(state=ProgramState.FATAL))
    assert result.body["blocking_issues"] == ["game is down"]


def test_exited_with_auto_restart_off_shows_its_issue():
    issue = "game exited with code 3 (auto-restart is off)"
    result = health(game=status(state=ProgramState.EXITED, blocking_issue=issue))
    assert result.body["blocking_issues"] == [issue]


def test_stopped_game_is_reported_as_stopped():
    result = health(game=status(state=ProgramState.STOPPED))
    assert result.body["blocking_issues"] == ["game is stopped"]
    assert result.body["godot_process"]["running"] is False


def test_backoff_names_the_last_failure():
    result = health(game=status(state=ProgramState.BACKOFF, last_failure="exited with code 3"))
    assert result.body["blocking_issues"] == [
        "game is restarting after a failure (exited with code 3)"
    ]


def test_starting_and_stopping_block():
    assert health(game=status(state=ProgramState.STARTING)).body["blocking_issues"] == [
        "game is starting"
    ]
    assert health(game=status(state=ProgramState.STOPPING, pid=9)).body["blocking_issues"] == [
        "game is stopping"
    ]


def test_api_unreachable_blocks_a_running_game():
    view = replace(HEALTHY_VIEW, api_reachable=False)
    result = health(game=status(), view=view)
    assert result.status_code == 503
    assert result.body["blocking_issues"] == ["Godot API not reachable"]
    assert result.body["godot_process"]["running"] is True


def test_scene_not_loaded_blocks():
    view = replace(HEALTHY_VIEW, scene_loaded=False, scene_name=None, player_spawned=False)
    assert health(game=status(), view=view).body["blocking_issues"] == ["no scene loaded"]


def test_scene_loading_is_said_as_such():
    view = replace(HEALTHY_VIEW, scene_loaded=False, scene_loading=True, player_spawned=False)
    result = health(game=status(), view=view)
    assert result.body["blocking_issues"] == ["scene is loading"]
    assert result.body["scene"]["loading"] is True


def test_player_not_spawned_yet_blocks():
    view = replace(HEALTHY_VIEW, player_spawned=False)
    result = health(game=status(), view=view)
    assert result.status_code == 503
    assert result.body["blocking_issues"] == ["player not spawned yet"]
    assert result.body["player"]["spawned"] is False


def test_player_overdue_names_the_timeout():
    view = replace(HEALTHY_VIEW, player_spawned=False, player_overdue=True)
    result = health(game=status(), view=view, player_timeout=45.0)
    assert result.body["blocking_issues"] == ["player not spawned within 45 s"]


def test_game_checks_only_apply_while_running():
    # A stopped game has no API, but the issue shown is that it is stopped, not a list of symptoms.
    result = health(game=status(state=ProgramState.STOPPED), view=GameView())
    assert result.body["blocking_issues"] == ["game is stopped"]


def test_editor_issues_are_added():
    editor = status(
        name="editor",
        state=ProgramState.FATAL,
        blocking_issue="editor could not be started: godot not found",
    )
    result = health(game=status(), editor=editor)
    assert result.status_code == 503
    assert result.body["blocking_issues"] == ["editor could not be started: godot not found"]


def test_editor_backoff_and_game_issue_both_listed():
    editor = status(name="editor", state=ProgramState.BACKOFF, last_failure="killed by SIGKILL")
    view = replace(HEALTHY_VIEW, api_reachable=False)
    result = health(game=status(), editor=editor, view=view)
    assert result.body["blocking_issues"] == [
        "Godot API not reachable",
        "editor is restarting after a failure (killed by SIGKILL)",
    ]


def test_running_editor_alone_is_healthy():
    result = health(editor=status(name="editor", pid=77), view=GameView())
    assert result.status_code == 200
    assert result.body["godot_process"] == {"running": False, "pid": None}


def test_programs_section_describes_each_program():
    game = status(restarts=2, last_exit_code=-9, last_failure="killed by SIGKILL", adopted=True)
    editor = status(name="editor", state=ProgramState.STOPPED)
    programs = health(game=game, editor=editor).body["programs"]
    assert programs["game"]["state"] == "RUNNING"
    assert programs["game"]["pid"] == 4242
    assert programs["game"]["restarts"] == 2
    assert programs["game"]["last_exit_code"] == -9
    assert programs["game"]["last_failure"] == "killed by SIGKILL"
    assert programs["game"]["adopted"] is True
    assert programs["game"]["uptime_seconds"] is None
    assert programs["editor"]["state"] == "STOPPED"


def test_a_game_without_the_bridge_addon_has_one_issue_naming_install_addon():
    view = GameView(bridge_missing="spacetime-panel install-addon /games/vr")
    result = health(game=status(), view=view)
    assert result.status_code == 503
    assert result.body["godot_api"]["bridge_installed"] is False
    [issue] = result.body["blocking_issues"]
    assert "no SpaceTime bridge addon" in issue
    assert "`spacetime-panel install-addon /games/vr`" in issue


def test_the_bridge_counts_as_installed_by_default():
    assert health(game=status()).body["godot_api"]["bridge_installed"] is True
