"""The simulated world, driven by an explicit clock (no loop, no sockets)."""

from __future__ import annotations

import math

import pytest

from spacetime_panel.sim.world import SceneState, World, quat_from_euler


def make_world(**kwargs: object) -> World:
    options: dict[str, object] = {"now": 0.0, "load_delay": 0.3, "spawn_delay": 0.2, "seed": 1}
    options.update(kwargs)
    return World(**options)  # type: ignore[arg-type]


def test_a_scene_loads_after_the_delay_then_the_player_spawns() -> None:
    world = make_world()
    world.load("res://vr_main.tscn", now=1.0)
    world.advance(1.29)
    assert world.scene_snapshot() == {
        "loaded": False,
        "loading": True,
        "name": "vr_main",
        "path": "res://vr_main.tscn",
    }
    world.advance(1.3)
    assert world.state is SceneState.LOADED
    assert world.player_snapshot() == {"spawned": False, "position": None}
    world.advance(1.5)
    assert world.player_snapshot()["spawned"] is True
    assert [e.name for e in world.drain_events()] == ["scene_loaded", "player_spawned"]
    assert world.drain_events() == []


def test_a_late_advance_still_reports_events_in_order() -> None:
    world = make_world()
    world.load("res://scenes/menu.tscn", now=0.0)
    world.advance(10.0)
    events = world.drain_events()
    assert [e.name for e in events] == ["scene_loaded", "player_spawned"]
    assert events[0].data == {"name": "menu", "path": "res://scenes/menu.tscn"}


def test_the_newest_load_wins() -> None:
    world = make_world()
    world.load("res://a.tscn", now=0.0)
    world.load("res://b.tscn", now=0.2)
    world.advance(0.35)  # a would have finished by now
    assert world.state is SceneState.LOADING
    world.advance(0.5)
    assert world.scene_path == "res://b.tscn"
    assert [(e.name, e.data["name"]) for e in world.drain_events()] == [("scene_loaded", "b")]


def test_reload_resets_the_player_and_needs_a_scene() -> None:
    world = make_world()
    assert world.reload(now=0.0) is False
    world.load("res://vr_main.tscn", now=0.0)
    world.advance(1.0)
    assert world.player_snapshot()["spawned"]
    assert world.reload(now=1.0) is True
    assert world.player_snapshot()["spawned"] is False
    assert world.scene_snapshot()["loading"] is True


def test_no_player_fault_never_spawns() -> None:
    world = make_world(spawn_player=False)
    world.load("res://vr_main.tscn", now=0.0)
    world.advance(100.0)
    assert world.scene_snapshot()["loaded"] is True
    assert world.player_snapshot()["spawned"] is False


def test_fps_hovers_at_90_with_rare_slow_frames() -> None:
    world = make_world()
    samples = [world.fps_sample() for _ in range(5000)]
    slow = [s for s in samples if s["frame_time_ms"] > 13.0]
    assert 0 < len(slow) < 50
    normal = [s for s in samples if s not in slow]
    assert all(88.0 < s["fps"] <= 90.0 for s in normal)
    for sample in samples:
        assert math.isclose(sample["frame_time_ms"] * sample["fps"], 1000.0, rel_tol=1e-3)


@pytest.mark.parametrize("t", [0.0, 0.5, 3.3, 100.0])
def test_tracking_poses_are_plausible(t: float) -> None:
    world = make_world()
    sample = world.tracking_sample(now=t)
    head = sample["headset"]
    assert 1.6 < head["position"][1] < 1.8
    for device in ("headset", "left_controller", "right_controller"):
        rotation = sample[device]["rotation"]
        assert math.isclose(math.hypot(*rotation), 1.0, abs_tol=1e-5)
    left, right = sample["left_controller"]["position"], sample["right_controller"]["position"]
    assert math.dist(left, right) > 0.2  # two hands, not one
    assert head["position"][1] - left[1] > 0.2  # hands below the head


def test_tracking_moves_smoothly() -> None:
    world = make_world()
    a = world.tracking_sample(now=5.0)["headset"]["position"]
    b = world.tracking_sample(now=5.0 + 1 / 90)["headset"]["position"]
    assert 0 < math.dist(a, b) < 0.01


def test_quaternion_from_yaw_turns_about_y() -> None:
    x, y, z, w = quat_from_euler(math.pi / 2, 0.0)
    assert math.isclose(y, math.sin(math.pi / 4))
    assert math.isclose(w, math.cos(math.pi / 4))
    assert x == 0.0 and z == 0.0
