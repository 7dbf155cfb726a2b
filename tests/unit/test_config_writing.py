"""Saving settings: what load_settings reads back is what was saved, and only changes are kept."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from keyring.backends import fail

from spacetime_panel.config import ConfigError, Settings, load_settings, save_settings
from spacetime_panel.config.writing import settings_document
from spacetime_panel.secrets import BRIDGE_API_KEY, PANEL_API_KEY, SecretStore
from tests.unit.test_secrets import MemoryKeyring


def read_back(path: Path) -> Settings:
    return load_settings(config_file=path, environ={}, use_default_file=False)


def changed_settings(root: Path) -> Settings:
    """Something different from the defaults in every area, paths and tuples included."""
    return Settings.model_validate(
        {
            "godot": {
                "executable": str(root / "bin" / "godot 4.5"),
                "project_path": root / "my game",
                "scene_path": "res://levels/ünïcode room.tscn",
                "auto_load_scene": True,
                "launch_game": False,
                "launch_editor": True,
                "headless": True,
                "extra_args": ("--verbose", 'quote " and \\ backslash', "line\nbreak"),
            },
            "ports": {
                "http": 9080,
                "http_fallbacks": (9083, 9084),
                "telemetry": 9081,
                "dap": 7006,
                "lsp": 7005,
                "discovery": 9087,
            },
            "supervisor": {"start_timeout": 12.5, "max_restart_attempts": 7, "auto_restart": False},
            "api": {"port": 9090, "require_auth": True, "allowed_origins": ("http://a", "b")},
            "telemetry": {"refresh_rate_hz": 144, "enabled": False},
            "logging": {"level": "DEBUG", "directory": root / "logs", "backup_count": 0},
            "state_dir": root / "state",
        }
    )


def test_defaults_write_an_empty_document_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_settings(Settings(), path)

    assert tomllib.loads(path.read_text(encoding="utf-8")) == {}
    assert path.read_text(encoding="utf-8").startswith("# SpaceTime Panel settings")
    assert read_back(path) == Settings()


def test_many_changed_values_round_trip(tmp_path: Path) -> None:
    settings = changed_settings(tmp_path)
    path = tmp_path / "config.toml"
    save_settings(settings, path)

    assert read_back(path) == settings
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert document["godot"]["project_path"] == str(tmp_path / "my game")
    assert document["ports"]["http_fallbacks"] == [9083, 9084]
    assert document["state_dir"] == str(tmp_path / "state")


def test_only_values_that_differ_from_the_defaults_are_written(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"ports": {"telemetry": 9999, "http": 8080}, "telemetry": {"refresh_rate_hz": 120}}
    )
    path = tmp_path / "config.toml"
    save_settings(settings, path)

    # http=8080 is the default, so it stays out: a later default change will reach this user.
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {
        "ports": {"telemetry": 9999},
        "telemetry": {"refresh_rate_hz": 120},
    }


def test_relative_paths_are_saved_as_absolute_ones(tmp_path: Path) -> None:
    settings = Settings.model_validate({"godot": {"project_path": "game"}})
    document = settings_document(settings)
    assert document["godot"]["project_path"] == str(Path.cwd() / "game")


def test_the_folder_is_created_and_an_old_file_replaced(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "config.toml"
    save_settings(Settings.model_validate({"api": {"port": 9001}}), path)
    save_settings(Settings.model_validate({"api": {"port": 9002}}), path)

    assert read_back(path).api.port == 9002
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_a_symlinked_config_file_is_written_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "config.toml"
    real.parent.mkdir()
    real.write_text("", encoding="utf-8")
    link = tmp_path / "config.toml"
    link.symlink_to(real)

    save_settings(Settings.model_validate({"api": {"port": 9003}}), link)

    assert link.is_symlink()
    assert read_back(real).api.port == 9003


def test_an_unwritable_path_is_one_line_error_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be", encoding="utf-8")
    path = blocker / "config.toml"

    with pytest.raises(ConfigError) as raised:
        save_settings(Settings.model_validate({"api": {"port": 9004}}), path)

    message = str(raised.value)
    assert message.startswith(f"config file {path}: cannot write (")
    assert "\n" not in message and "Traceback" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.mkdir()  # os.replace cannot put a file where a folder is

    with pytest.raises(ConfigError, match="cannot write"):
        save_settings(Settings.model_validate({"api": {"port": 9005}}), path)

    assert path.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_only_toml_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"only \.toml"):
        save_settings(Settings(), tmp_path / "production.json")
    assert list(tmp_path.iterdir()) == []


def test_api_keys_never_reach_the_file(tmp_path: Path) -> None:
    store = SecretStore(MemoryKeyring(), environ={})
    store.set(BRIDGE_API_KEY, "bridge-key-4f1b9c")
    store.set(PANEL_API_KEY, "panel-key-77d2e0")
    no_keyring = SecretStore(fail.Keyring(), environ={"SPACETIME_API_KEY": "env-key-5a5a"})
    assert no_keyring.get(BRIDGE_API_KEY)[0] == "env-key-5a5a"
    path = tmp_path / "config.toml"

    save_settings(changed_settings(tmp_path), path)

    text = path.read_text(encoding="utf-8")
    for value in ("bridge-key-4f1b9c", "panel-key-77d2e0", "env-key-5a5a"):
        assert value not in text
    assert os.stat(path).st_size > 0


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    port=st.integers(1, 65535),
    fallbacks=st.lists(st.integers(1, 65535), max_size=4).map(tuple),
    args=st.lists(st.text(max_size=12), max_size=4).map(tuple),
    scene=st.text(min_size=1, max_size=20),
    timeout=st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
    rate=st.sampled_from([72, 90, 120, 144]),
)
def test_round_trip_for_arbitrary_values(
    tmp_path_factory: pytest.TempPathFactory,
    port: int,
    fallbacks: tuple[int, ...],
    args: tuple[str, ...],
    scene: str,
    timeout: float,
    rate: int,
) -> None:
    settings = Settings.model_validate(
        {
            "godot": {"scene_path": scene, "extra_args": args},
            "ports": {"lsp": port, "http_fallbacks": fallbacks},
            "supervisor": {"stop_timeout": timeout},
            "telemetry": {"refresh_rate_hz": rate},
        }
    )
    path = tmp_path_factory.mktemp("round") / "config.toml"
    save_settings(settings, path)
    assert read_back(path) == settings
