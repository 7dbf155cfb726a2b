"""Environment parsing for the simulator's settings and faults, and its project reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacetime_panel.sim.faults import EDITOR_PREFIX, Faults
from spacetime_panel.sim.project import (
    GodotProject,
    ProjectError,
    SceneNotFoundError,
    ScenePathError,
)
from spacetime_panel.sim.settings import GameSettings, SettingsError


def test_defaults_are_the_guide_ports() -> None:
    settings = GameSettings.from_env({})
    assert (settings.http_port, settings.telemetry_port, settings.discovery_port) == (
        8080,
        8081,
        8087,
    )
    assert settings.api_key is None
    assert settings.rate_hz == 90.0
    assert settings.http_ports() == [8080, 8083, 8084, 8085]


def test_env_overrides_and_discovery_zero_is_off() -> None:
    settings = GameSettings.from_env(
        {
            "SPACETIME_HTTP_PORT": "8084",
            "SPACETIME_DISCOVERY_PORT": "0",
            "SPACETIME_API_KEY": "k",
            "SPACETIME_SIM_RATE_HZ": "72",
        }
    )
    assert settings.discovery_port is None
    assert settings.api_key == "k"
    assert settings.rate_hz == 72.0
    assert settings.http_ports() == [8084, 8083, 8085]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SPACETIME_HTTP_PORT", "http"),
        ("SPACETIME_HTTP_PORT", "0"),
        ("SPACETIME_TELEMETRY_PORT", "70000"),
        ("SPACETIME_SIM_RATE_HZ", "0"),
        ("SPACETIME_SIM_RATE_HZ", "nan"),
        ("SPACETIME_SIM_LOAD_DELAY", "-1"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        GameSettings.from_env({name: value})


def test_faults_parse_and_default_to_behaving() -> None:
    assert Faults.from_env({}) == Faults()
    faults = Faults.from_env(
        {
            "SPACETIME_SIM_CRASH_AFTER": "2.5",
            "SPACETIME_SIM_EXIT_CODE": "139",
            "SPACETIME_SIM_NO_PLAYER": "true",
            "SPACETIME_SIM_SPAWN_CHILD": "1",
        }
    )
    assert faults.crash_after == 2.5
    assert faults.exit_code == 139
    assert faults.no_player and faults.spawn_child
    assert faults.hang_after is None


def test_editor_faults_use_their_own_variables() -> None:
    env = {"SPACETIME_SIM_CRASH_AFTER": "1", "SPACETIME_SIM_EDITOR_HANG_AFTER": "3"}
    faults = Faults.from_env(env, EDITOR_PREFIX)
    assert faults.crash_after is None
    assert faults.hang_after == 3.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SPACETIME_SIM_CRASH_AFTER", "soon"),
        ("SPACETIME_SIM_HANG_AFTER", "inf"),
        ("SPACETIME_SIM_EXIT_CODE", "256"),
        ("SPACETIME_SIM_NO_PLAYER", "maybe"),
    ],
)
def test_bad_faults_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Faults.from_env({name: value})


def _project(tmp_path: Path, config: str) -> GodotProject:
    (tmp_path / "project.godot").write_text(config)
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "a.tscn").write_text(
        '[gd_scene format=3]\n[node name="A" type="Node"]\n'
    )
    return GodotProject.load(tmp_path)


def test_project_reads_name_and_main_scene(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        'config_version=5\n\n[application]\n\nconfig/name="My Game"\n'
        'run/main_scene="res://scenes/a.tscn"\nconfig/features=PackedStringArray("4.5")\n',
    )
    assert project.name == "My Game"
    assert project.main_scene == "res://scenes/a.tscn"
    assert project.scene_file("res://scenes/a.tscn") == (tmp_path / "scenes" / "a.tscn").resolve()


def test_project_without_application_section(tmp_path: Path) -> None:
    project = _project(tmp_path, "config_version=5\n")
    assert project.main_scene is None
    assert project.name == tmp_path.name


def test_missing_project_godot_is_godots_message(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="Couldn't load project data"):
        GodotProject.load(tmp_path)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("scenes/a.tscn", ScenePathError),
        ("res://scenes/../scenes/a.tscn", ScenePathError),
        ("res://project.godot", ScenePathError),
        ("res://scenes/b.tscn", SceneNotFoundError),
        ("res://scenes", ScenePathError),
    ],
)
def test_scene_paths_are_checked(tmp_path: Path, path: str, error: type[Exception]) -> None:
    project = _project(tmp_path, "config_version=5\n")
    with pytest.raises(error):
        project.scene_file(path)


def test_command_line_scene_may_be_relative(tmp_path: Path) -> None:
    project = _project(tmp_path, "config_version=5\n")
    assert project.to_res_path("scenes/a.tscn") == "res://scenes/a.tscn"
    assert project.to_res_path(str(tmp_path / "scenes" / "a.tscn")) == "res://scenes/a.tscn"
