"""The telemetry codec: valid frames decode to typed events, anything else is Rejected."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetime_panel.sim.telemetry import frame
from spacetime_panel.sim.world import World
from spacetime_panel.telemetry.codec import (
    ErrorEvent,
    FpsSample,
    Hello,
    LogEvent,
    PlayerSpawned,
    Pose,
    Rejected,
    RejectKind,
    SceneLoaded,
    TelemetryDecoder,
    TrackingSample,
)

pytestmark = pytest.mark.portable

FPS = {"fps": 90.0, "frame_time_ms": 11.111, "process_time_ms": 4.2, "physics_time_ms": 1.1}
POSE = {"position": [0.0, 1.7, 2.0], "rotation": [0.0, 0.0, 0.0, 1.0]}
TRACKING = {"headset": POSE, "left_controller": None, "right_controller": POSE}


def msg(event: Any, data: Any, timestamp: Any = 1_700_000_000.5) -> str:
    return json.dumps({"event": event, "timestamp": timestamp, "data": data})


def test_every_event_of_the_protocol_decodes_to_its_type() -> None:
    decoder = TelemetryDecoder()
    hello = decoder.decode(
        msg(
            "hello",
            {
                "protocol": "spacetime-bridge/1",
                "godot_version": "4.5.1",
                "project": "/p",
                "pid": 42,
                "rate_hz": 90,
            },
        )
    )
    assert hello == Hello(1_700_000_000.5, "spacetime-bridge/1", "4.5.1", "/p", 42, 90.0)
    assert decoder.decode(msg("fps", FPS)) == FpsSample(1_700_000_000.5, 90.0, 11.111, 4.2, 1.1)
    tracking = decoder.decode(msg("vr_tracking", TRACKING))
    assert isinstance(tracking, TrackingSample)
    assert tracking.headset == Pose((0.0, 1.7, 2.0), (0.0, 0.0, 0.0, 1.0))
    assert tracking.left_controller is None
    assert decoder.decode(msg("scene_loaded", {"name": "menu", "path": "res://m.tscn"})) == (
        SceneLoaded(1_700_000_000.5, "menu", "res://m.tscn")
    )
    spawned = decoder.decode(msg("player_spawned", {"position": [0, 0, 2]}))
    assert spawned == PlayerSpawned(1_700_000_000.5, (0.0, 0.0, 2.0))
    error = decoder.decode(msg("error", {"message": "boom", "source": "vr_main.gd"}))
    assert error == ErrorEvent(1_700_000_000.5, "boom", "vr_main.gd")
    log = decoder.decode(msg("log", {"level": "error", "message": "x"}))
    assert log == LogEvent(1_700_000_000.5, "error", "x")
    assert decoder.decoded == 7 and decoder.rejected == 0


def test_the_simulators_frames_all_decode() -> None:
    world = World(now=0.0, load_delay=0.0, spawn_delay=0.0, seed=3)
    decoder = TelemetryDecoder()
    for i in range(2000):
        assert isinstance(decoder.decode(frame("fps", world.fps_sample())), FpsSample)
        assert isinstance(
            decoder.decode(frame("vr_tracking", world.tracking_sample(i / 90))), TrackingSample
        )
    assert decoder.rejected == 0


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{not json", RejectKind.NOT_JSON),
        ('"a string"', RejectKind.NOT_OBJECT),
        ("[1, 2]", RejectKind.NOT_OBJECT),
        (msg("teleport", {}), RejectKind.UNKNOWN_EVENT),
        (msg(None, FPS), RejectKind.UNKNOWN_EVENT),
        (msg(7, FPS), RejectKind.UNKNOWN_EVENT),
        (json.dumps({"timestamp": 1.0, "data": FPS}), RejectKind.UNKNOWN_EVENT),
        (msg("fps", FPS, timestamp="now"), RejectKind.BAD_FIELD),
        (msg("fps", FPS, timestamp=True), RejectKind.BAD_FIELD),
        (msg("fps", FPS, timestamp=-1), RejectKind.BAD_FIELD),
        (json.dumps({"event": "fps", "data": FPS}), RejectKind.BAD_FIELD),
        (msg("fps", [1, 2]), RejectKind.BAD_FIELD),
        (msg("fps", {**FPS, "fps": "90"}), RejectKind.BAD_FIELD),
        (msg("fps", {**FPS, "fps": True}), RejectKind.BAD_FIELD),
        (msg("fps", {**FPS, "fps": -1}), RejectKind.BAD_FIELD),
        (msg("fps", {**FPS, "fps": 10_001}), RejectKind.BAD_FIELD),
        (msg("fps", {**FPS, "frame_time_ms": -0.5}), RejectKind.BAD_FIELD),
        (msg("fps", {**FPS, "fps": float("nan")}), RejectKind.BAD_FIELD),
        (msg("fps", {**FPS, "physics_time_ms": float("inf")}), RejectKind.BAD_FIELD),
        ('{"event":"fps","timestamp":1,"data":{"fps":1e999}}', RejectKind.BAD_FIELD),
        ('{"event":"fps","timestamp":1,"data":{"fps":' + "9" * 400 + "}}", RejectKind.BAD_FIELD),
        (msg("fps", {"fps": 90.0}), RejectKind.BAD_FIELD),
        (msg("vr_tracking", {**TRACKING, "headset": {**POSE, "position": [0, 1]}}), None),
        (msg("vr_tracking", {**TRACKING, "headset": {**POSE, "rotation": [0, 0, 1]}}), None),
        (msg("vr_tracking", {**TRACKING, "headset": {**POSE, "rotation": [0, 0, 2, 0]}}), None),
        (msg("vr_tracking", {**TRACKING, "headset": {"position": [0, True, 0]}}), None),
        (msg("vr_tracking", {**TRACKING, "headset": [0, 0, 0]}), None),
        (msg("vr_tracking", {"headset": POSE, "left_controller": None}), None),
        (msg("hello", {"protocol": "p", "godot_version": "4", "project": "/", "pid": True}), None),
        (msg("error", {"source": "x"}), None),
        (msg("scene_loaded", {"name": 3, "path": "res://a.tscn"}), None),
    ],
)
def test_invalid_frames_are_rejected_with_their_kind(text: str, kind: RejectKind | None) -> None:
    decoder = TelemetryDecoder()
    result = decoder.decode(text)
    assert isinstance(result, Rejected), result
    assert result.kind is (kind or RejectKind.BAD_FIELD)
    assert result.reason
    assert decoder.rejected == 1
    assert decoder.rejected_by_kind == {result.kind: 1}


def test_oversize_frames_are_rejected_before_parsing() -> None:
    decoder = TelemetryDecoder(max_frame=1000)
    big = msg("log", {"level": "info", "message": "x" * 2000})
    result = decoder.decode(big)
    assert isinstance(result, Rejected) and result.kind is RejectKind.OVERSIZE


def test_bytes_frames_decode_and_bad_utf8_is_rejected() -> None:
    decoder = TelemetryDecoder()
    assert isinstance(decoder.decode(msg("fps", FPS).encode()), FpsSample)
    assert isinstance(decoder.decode(b'{"event": "\xff\xfe"}'), Rejected)
    assert isinstance(decoder.decode("[" * 100_000), Rejected)


# -- properties ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_bytes_and_text_never_raise(data: bytes | str) -> None:
    decoder = TelemetryDecoder()
    result = decoder.decode(data)
    assert decoder.decoded + decoder.rejected == 1
    assert result is not None


@settings(max_examples=300)
@given(
    event=st.sampled_from(["fps", "vr_tracking", "hello", "error", "log", "x"]) | st.text(),
    timestamp=json_values,
    data=json_values,
)
def test_arbitrary_json_messages_never_raise(event: str, timestamp: Any, data: Any) -> None:
    TelemetryDecoder().decode(json.dumps({"event": event, "timestamp": timestamp, "data": data}))


finite = st.floats(min_value=0, max_value=1000, allow_nan=False)
coord = st.floats(min_value=-100, max_value=100, allow_nan=False)
quat = st.floats(min_value=-1, max_value=1, allow_nan=False)
poses = st.none() | st.builds(
    lambda p, r: {"position": p, "rotation": r},
    st.lists(coord, min_size=3, max_size=3),
    st.lists(quat, min_size=4, max_size=4),
)


@given(ts=st.floats(0, 2e9), fps=finite, ft=finite, pt=finite, ph=finite)
def test_valid_fps_frames_round_trip(
    ts: float, fps: float, ft: float, pt: float, ph: float
) -> None:
    data = {"fps": fps, "frame_time_ms": ft, "process_time_ms": pt, "physics_time_ms": ph}
    assert TelemetryDecoder().decode(msg("fps", data, ts)) == FpsSample(ts, fps, ft, pt, ph)


@given(ts=st.floats(0, 2e9), head=poses, left=poses, right=poses)
def test_valid_tracking_frames_round_trip(ts: float, head: Any, left: Any, right: Any) -> None:
    data = {"headset": head, "left_controller": left, "right_controller": right}
    result = TelemetryDecoder().decode(msg("vr_tracking", data, ts))
    assert isinstance(result, TrackingSample)
    for device, pose in zip(
        (head, left, right),
        (result.headset, result.left_controller, result.right_controller),
        strict=True,
    ):
        if device is None:
            assert pose is None
        else:
            assert pose == Pose(tuple(device["position"]), tuple(device["rotation"]))


non_finite = st.sampled_from([math.nan, math.inf, -math.inf])


@given(field=st.sampled_from(sorted(FPS)), bad=non_finite)
def test_nan_and_inf_timings_are_rejected(field: str, bad: float) -> None:
    result = TelemetryDecoder().decode(msg("fps", {**FPS, field: bad}))
    assert isinstance(result, Rejected) and result.kind is RejectKind.BAD_FIELD


@given(
    device=st.sampled_from(["headset", "left_controller", "right_controller"]),
    part=st.sampled_from(["position", "rotation"]),
    index=st.integers(0, 2),
    bad=non_finite,
)
def test_nan_and_inf_poses_are_rejected(device: str, part: str, index: int, bad: float) -> None:
    pose = {"position": [0.0, 1.0, 2.0], "rotation": [0.0, 0.0, 0.0, 1.0]}
    pose[part][index] = bad
    result = TelemetryDecoder().decode(msg("vr_tracking", {**TRACKING, device: pose}))
    assert isinstance(result, Rejected)
