"""StateFile: what the panel launched survives a panel restart; bad files never crash it."""

from __future__ import annotations

import json

import pytest

from spacetime_panel.supervisor.statefile import LaunchRecord, StateFile

pytestmark = pytest.mark.portable

GAME = LaunchRecord(pid=4242, create_time=1733140200.5, command=["godot", "--path", "/p"])
EDITOR = LaunchRecord(pid=77, create_time=1733140300.25, command=["godot", "-e"])


def test_missing_file_loads_as_nothing_launched(tmp_path):
    assert StateFile(tmp_path / "state.json").load() == {}


def test_round_trip_through_a_new_instance(tmp_path):
    path = tmp_path / "sub" / "state.json"
    StateFile(path).record("game", GAME)
    StateFile(path).record("editor", EDITOR)
    # A restarted panel reads what the previous one wrote.
    assert StateFile(path).load() == {"game": GAME, "editor": EDITOR}


def test_file_is_plain_json_keyed_by_program(tmp_path):
    path = tmp_path / "state.json"
    StateFile(path).record("game", GAME)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw == {
        "game": {"pid": 4242, "create_time": 1733140200.5, "command": ["godot", "--path", "/p"]}
    }
    assert not path.with_suffix(".tmp").exists()


def test_record_replaces_the_previous_launch(tmp_path):
    state = StateFile(tmp_path / "state.json")
    state.record("game", GAME)
    newer = LaunchRecord(pid=5000, create_time=1733149999.0, command=["godot"])
    state.record("game", newer)
    assert state.load() == {"game": newer}


def test_forget_removes_one_program(tmp_path):
    state = StateFile(tmp_path / "state.json")
    state.record("game", GAME)
    state.record("editor", EDITOR)
    state.forget("game")
    assert state.load() == {"editor": EDITOR}


def test_file_removed_when_nothing_is_left(tmp_path):
    path = tmp_path / "state.json"
    state = StateFile(path)
    state.record("game", GAME)
    state.forget("game")
    assert not path.exists()
    assert not path.with_suffix(".tmp").exists()
    assert state.load() == {}


def test_forget_unknown_program_leaves_file_alone(tmp_path):
    path = tmp_path / "state.json"
    state = StateFile(path)
    state.forget("game")
    assert not path.exists()
    state.record("game", GAME)
    state.forget("editor")
    assert state.load() == {"game": GAME}


def test_corrupt_file_is_ignored(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"game": {"pid": 12', encoding="utf-8")
    state = StateFile(path)
    assert state.load() == {}
    # And the next launch overwrites it with a good file.
    state.record("game", GAME)
    assert state.load() == {"game": GAME}


def test_non_object_json_is_ignored(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    assert StateFile(path).load() == {}


def test_bad_entries_are_skipped_good_ones_kept(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps(
            {
                "game": {"pid": 10, "create_time": 1.5, "command": ["godot"]},
                "editor": {"pid": "not a pid", "create_time": 2.0},
                "other": {"create_time": 3.0},
                "weird": 42,
            }
        ),
        encoding="utf-8",
    )
    assert StateFile(path).load() == {
        "game": LaunchRecord(pid=10, create_time=1.5, command=["godot"])
    }


def test_entry_without_command_loads_with_empty_command(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"game": {"pid": 10, "create_time": 1.5}}), encoding="utf-8")
    assert StateFile(path).load() == {"game": LaunchRecord(pid=10, create_time=1.5, command=[])}
