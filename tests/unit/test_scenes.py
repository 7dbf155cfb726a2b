"""Scene paths: bad paths are refused with a readable reason; the project's scenes are listed."""

from __future__ import annotations

import pytest

from spacetime_panel.godot.scenes import (
    InvalidScenePath,
    list_scenes,
    scene_file,
    scene_name,
    validate_scene_path,
)


@pytest.mark.parametrize("path", ["res://vr_main.tscn", "res://a/b.scn", "res://levels/x_1.tscn"])
def test_good_scene_paths_are_accepted_unchanged(path):
    assert validate_scene_path(path) == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "must start with res://"),
        ("vr_main.tscn", "must start with res://"),
        ("user://save.tscn", "must start with res://"),
        ("res://../x.tscn", "'..'"),
        ("res://a/../../x.tscn", "'..'"),
        ("res://a\\b.tscn", "forbidden character"),
        ("res://a\x00.tscn", "forbidden character"),
        ("res://a.gd", "must end in .tscn or .scn"),
        ("res://a.tscn.bak", "must end in .tscn or .scn"),
    ],
)
def test_bad_scene_paths_are_refused_with_a_one_line_reason(path, reason):
    with pytest.raises(InvalidScenePath) as info:
        validate_scene_path(path)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message


def test_invalid_scene_path_is_a_value_error():
    with pytest.raises(ValueError):
        validate_scene_path("res://a.gd")


def test_message_quotes_the_offending_path():
    with pytest.raises(InvalidScenePath, match=r"'res://\.\./x\.tscn'"):
        validate_scene_path("res://../x.tscn")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("res://vr_main.tscn", "vr_main"),
        ("res://levels/vr_main.tscn", "vr_main"),
        ("res://a/b/menu.scn", "menu"),
    ],
)
def test_scene_name_is_the_file_stem(path, name):
    assert scene_name(path) == name


def test_scene_file_is_inside_the_project(tmp_path):
    assert scene_file(tmp_path, "res://levels/vr_main.tscn") == tmp_path / "levels" / "vr_main.tscn"
    assert scene_file(tmp_path, "res://vr_main.tscn") == tmp_path / "vr_main.tscn"


def test_scene_file_refuses_invalid_paths(tmp_path):
    with pytest.raises(InvalidScenePath):
        scene_file(tmp_path, "res://../outside.tscn")


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[gd_scene]\n", encoding="utf-8")


def test_list_scenes_finds_both_kinds_sorted_and_skips_godot_folders(tmp_path):
    for relative in [
        "vr_main.tscn",
        "levels/space.scn",
        "levels/deep/asteroids.tscn",
        "ui/menu.tscn",
        ".godot/imported/cache.tscn",
        ".godot/editor/x.scn",
        "scripts/player.gd",
        "README.md",
    ]:
        _touch(tmp_path / relative)
    assert list_scenes(tmp_path) == [
        "res://levels/deep/asteroids.tscn",
        "res://levels/space.scn",
        "res://ui/menu.tscn",
        "res://vr_main.tscn",
    ]


def test_listed_scenes_pass_validation_and_map_back_to_their_files(tmp_path):
    _touch(tmp_path / "levels" / "space.tscn")
    [scene] = list_scenes(tmp_path)
    assert validate_scene_path(scene) == scene
    assert scene_file(tmp_path, scene).is_file()


def test_list_scenes_of_an_empty_project_is_empty(tmp_path):
    assert list_scenes(tmp_path) == []


def test_absolute_path_after_res_prefix_is_refused() -> None:
    with pytest.raises(InvalidScenePath, match="inside the project"):
        validate_scene_path("res:///etc/passwd.tscn")


def test_scene_file_never_leaves_the_project(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidScenePath):
        scene_file(tmp_path, "res:///etc/passwd.tscn")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("res://" + "a" * 251 + ".tscn", "a name of 256 bytes, over 255"),
        ("res://" + "é" * 126 + ".tscn", "a name of 257 bytes, over 255"),
        ("res://" + "d" * 256 + "/x.tscn", "a name of 256 bytes, over 255"),
        ("res://" + "/".join(["d" * 255] * 4) + "/x.tscn", "1036 bytes long, over 1024"),
    ],
)
def test_over_long_names_and_paths_are_refused_in_one_short_line(path: str, reason: str) -> None:
    with pytest.raises(InvalidScenePath) as info:
        validate_scene_path(path)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message and len(message) < 160  # the path is cut, not echoed whole


def test_the_longest_name_and_path_are_accepted() -> None:
    name = "res://" + "a" * 250 + ".tscn"  # 255 bytes of name
    assert validate_scene_path(name) == name
    path = "res://" + "/".join(["d" * 254] * 3) + "/" + "b" * 248 + ".tscn"
    assert len(path.encode()) == 1024
    assert validate_scene_path(path) == path
