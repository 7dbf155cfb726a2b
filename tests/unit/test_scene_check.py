"""check-scenes' pieces without processes: the scene list, the JUnit report, and the
simulator failing a scene whose dependency is missing (as Godot does)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from spacetime_panel.godot.scene_check import SceneResult, find_scenes, write_junit
from spacetime_panel.sim.project import GodotProject
from spacetime_panel.sim.world import SceneState, World


def scene(
    project: Path, relative: str, text: str = '[gd_scene format=3]\n\n[node name="A"]\n'
) -> None:
    file = project / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project.godot").write_text("config_version=5\n", encoding="utf-8")
    for relative in (
        "main.tscn",
        "levels/one.tscn",
        "levels/two.scn",
        "addons/tool/dock.tscn",
        ".godot/imported/x.tscn",
        "raw/.gdignore",
        "raw/ignored.tscn",
    ):
        scene(tmp_path, relative)
    return tmp_path


def test_scenes_skip_dot_folders_gdignore_and_addons(project: Path) -> None:
    assert find_scenes(project) == [
        "res://levels/one.tscn",
        "res://levels/two.scn",
        "res://main.tscn",
    ]
    assert "res://addons/tool/dock.tscn" in find_scenes(project, excludes=())


def test_patterns_and_excludes(project: Path) -> None:
    assert find_scenes(project, patterns=["levels/*"]) == [
        "res://levels/one.tscn",
        "res://levels/two.scn",
    ]
    assert find_scenes(project, patterns=["res://main.tscn"]) == ["res://main.tscn"]
    assert find_scenes(project, excludes=["addons/*", "*.scn", "main.tscn"]) == [
        "res://levels/one.tscn"
    ]


def test_junit_report(tmp_path: Path) -> None:
    target = tmp_path / "scenes.xml"
    results = [
        SceneResult("res://a.tscn", True, 0.25),
        SceneResult("res://b.tscn", False, 1.5, "Failed loading resource: x", ("e1 (src)", "e2")),
    ]

    write_junit(results, target)

    root = ET.parse(target).getroot()
    assert (root.tag, root.attrib["tests"], root.attrib["failures"]) == ("testsuites", "2", "1")
    (suite,) = root.findall("testsuite")
    assert suite.attrib["tests"] == "2"
    assert suite.attrib["failures"] == "1"
    assert float(suite.attrib["time"]) == pytest.approx(1.75)
    passed, failed = suite.findall("testcase")
    assert passed.attrib == {"name": "res://a.tscn", "classname": "scenes", "time": "0.250"}
    assert list(passed) == []
    failure = failed.find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "Failed loading resource: x"
    assert failure.text == "e1 (src)\ne2"
    assert failed.findtext("system-out") == "e1 (src)\ne2"


BROKEN = """[gd_scene load_steps=2 format=3]

[ext_resource type="Texture2D" uid="uid://abc" path="res://missing.png" id="1"]

[node name="Broken" type="Node3D"]
"""


def test_a_missing_dependency_gives_godots_errors_then_the_bridges(project: Path) -> None:
    scene(project, "broken.tscn", BROKEN)
    sim = GodotProject.load(project)

    errors = sim.load_errors("res://broken.tscn")

    assert [e["message"] for e in errors] == [
        "Failed loading resource: res://missing.png. Make sure resources have been imported "
        "by opening the project in the editor at least once.",
        "res://broken.tscn:3 - Parse Error: [ext_resource] referenced non-existent resource "
        "at: res://missing.png",
        "Failed loading resource: res://broken.tscn. Make sure resources have been imported "
        "by opening the project in the editor at least once.",
        "Scene res://broken.tscn: loading failed (status 2)",
    ]
    assert errors[-1]["source"] == "spacetime_bridge"
    assert sim.load_errors("res://main.tscn") == []


def test_a_scene_that_uses_a_broken_scene_fails_too(project: Path) -> None:
    scene(project, "broken.tscn", BROKEN)
    scene(
        project,
        "outer.tscn",
        '[gd_scene format=3]\n[ext_resource type="PackedScene" path="res://broken.tscn" id="1"]\n'
        '[ext_resource type="PackedScene" path="res://main.tscn" id="2"]\n',
    )
    messages = [e["message"] for e in GodotProject.load(project).load_errors("res://outer.tscn")]

    assert messages[0].startswith("Failed loading resource: res://missing.png.")
    assert (
        "res://outer.tscn:2 - Parse Error: [ext_resource] referenced non-existent resource at: res://broken.tscn"
        in messages
    )
    assert messages[-1] == "Scene res://outer.tscn: loading failed (status 2)"
    # A scene whose dependencies all exist loads.
    scene(project, "good.tscn", '[ext_resource type="PackedScene" path="res://main.tscn" id="1"]\n')
    assert GodotProject.load(project).load_errors("res://good.tscn") == []


def test_a_failed_load_sends_its_errors_and_keeps_the_scene_from_before() -> None:
    world = World(now=0.0, load_delay=1.0, spawn_delay=0.5)
    world.load("res://main.tscn", 0.0)
    world.advance(2.0)
    world.drain_events()
    error = {
        "message": "Scene res://broken.tscn: loading failed (status 2)",
        "source": "spacetime_bridge",
    }

    world.load("res://broken.tscn", 3.0, [error])
    assert world.scene_snapshot()["loading"] is True
    world.advance(3.5)
    assert world.drain_events() == []
    world.advance(4.0)

    events = world.drain_events()
    assert [(e.name, e.data) for e in events] == [("error", error)]
    assert world.state is SceneState.LOADED
    assert world.scene_snapshot() == {
        "loaded": True,
        "loading": False,
        "name": "main",
        "path": "res://main.tscn",
    }
    assert world.player_snapshot()["spawned"] is True
    # The next load is a normal one again.
    world.load("res://main.tscn", 5.0)
    world.advance(6.0)
    assert [e.name for e in world.drain_events()] == ["scene_loaded"]


def test_a_failed_first_load_leaves_no_scene() -> None:
    world = World(now=0.0, load_delay=1.0, spawn_delay=0.5)
    world.load("res://broken.tscn", 0.0, [{"message": "x", "source": "y"}])
    world.advance(1.0)

    assert [e.name for e in world.drain_events()] == ["error"]
    assert world.scene_snapshot() == {"loaded": False, "loading": False, "name": None, "path": None}
