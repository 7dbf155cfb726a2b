"""The protocol contract's files, and the panel's codec and scene-path rule against them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from spacetime_panel import protocol
from spacetime_panel.godot.scenes import InvalidScenePath, validate_scene_path
from spacetime_panel.sim.http_guard import check_head
from spacetime_panel.telemetry.codec import (
    ErrorEvent,
    FpsSample,
    Hello,
    LogEvent,
    PlayerSpawned,
    Rejected,
    RejectKind,
    SceneLoaded,
    TelemetryDecoder,
    TrackingSample,
)

pytestmark = pytest.mark.portable

SCHEMAS = [
    "status",
    "scene",
    "player",
    "scene_request",
    "error",
    "telemetry_frame",
    "beacon",
    "port_file",
]
FRAMES: list[dict[str, Any]] = protocol.vectors("frames")
PATHS: list[dict[str, Any]] = protocol.vectors("scene_paths")
HTTP: dict[str, Any] = protocol.vectors("http")
EVENT_TYPES = {
    "hello": Hello,
    "fps": FpsSample,
    "vr_tracking": TrackingSample,
    "scene_loaded": SceneLoaded,
    "player_spawned": PlayerSpawned,
    "error": ErrorEvent,
    "log": LogEvent,
}


def _strict_json(text: str) -> Any:
    """Parse as JSON proper: NaN and Infinity are not JSON (Python's parser reads them)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_schema_is_a_valid_2020_12_schema_with_its_id(name: str) -> None:
    document = protocol.schema(name)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://spacetime-panel/protocol/{name}.json"


def test_the_loader_refuses_names_that_are_not_contract_files() -> None:
    with pytest.raises(ValueError, match="not a contract file name"):
        protocol.schema("../vectors/http")


@pytest.mark.parametrize(
    "case", [f for f in FRAMES if f["verdict"] == "accept"], ids=lambda case: case["name"]
)
def test_accepted_frames_validate_and_decode_to_their_event(case: dict[str, Any]) -> None:
    assert protocol.validate("telemetry_frame", _strict_json(case["frame"])) == []
    event = TelemetryDecoder().decode(case["frame"])
    assert type(event) is EVENT_TYPES[case["event"]], event


@pytest.mark.parametrize(
    "case", [f for f in FRAMES if f["verdict"] == "reject"], ids=lambda case: case["name"]
)
def test_rejected_frames_are_refused_by_the_codec_and_the_schema(case: dict[str, Any]) -> None:
    result = TelemetryDecoder().decode(case["frame"])
    assert isinstance(result, Rejected), result
    assert result.kind == RejectKind(case["kind"]), result.reason
    try:
        document = _strict_json(case["frame"])
    except (ValueError, RecursionError):
        return  # not JSON: no schema can accept it
    assert protocol.validate("telemetry_frame", document) != []


def test_frames_cover_every_event_and_every_reject_kind_but_oversize() -> None:
    assert {f["event"] for f in FRAMES if f["verdict"] == "accept"} == set(EVENT_TYPES)
    kinds = {RejectKind(f["kind"]) for f in FRAMES if f["verdict"] == "reject"}
    assert kinds == set(RejectKind) - {RejectKind.OVERSIZE}
    assert len({f["name"] for f in FRAMES}) == len(FRAMES)


@pytest.mark.parametrize("case", PATHS, ids=lambda case: repr(case["path"]))
def test_scene_path_verdicts_are_validate_scene_paths(case: dict[str, Any]) -> None:
    try:
        validate_scene_path(case["path"])
        valid = True
    except InvalidScenePath:
        valid = False
    assert valid is case["valid"], case["why"]


def test_http_cases_are_self_consistent() -> None:
    names = [case["name"] for case in HTTP["cases"]]
    assert len(set(names)) == len(names)
    for case in HTTP["cases"]:
        assert case["schema"] in SCHEMAS, case["name"]
        assert isinstance(case["use_key"], bool)
        assert isinstance(case["status"], int), case["name"]
        assert case["chunks"] and all(isinstance(c, str) for c in case["chunks"]), case["name"]
        if case["status"] >= 400:
            assert case["schema"] == "error" and "error" in case["body"], case["name"]
        # The expected fields are themselves valid where the schema names them.
        properties = protocol.schema(case["schema"]).get("properties", {})
        assert set(case["body"]) <= set(properties), case["name"]


@pytest.mark.parametrize("case", HTTP["cases"], ids=lambda case: case["name"])
def test_http_content_lengths_match_their_bodies(case: dict[str, Any]) -> None:
    """A vector's Content-Length is the body's length in bytes, unless the case is about it."""
    raw = protocol.expand_chunks(case["chunks"])
    head, separator, body = raw.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    ]
    if separator and lengths and case["status"] not in (400, 413):
        assert int(lengths[0]) == len(body)


def test_big_placeholders_expand_to_that_many_bytes() -> None:
    assert protocol.expand_chunks(["GET /{{BIG:3}} HTTP/1.1\r\n", "{{BIG:2}}é"]) == (
        b"GET /aaa HTTP/1.1\r\naa\xc3\xa9"
    )


@pytest.mark.parametrize(
    "case",
    [c for c in HTTP["cases"] if c["status"] in (414, 431)],
    ids=lambda case: case["name"],
)
def test_head_limits_refuse_what_the_vectors_refuse(case: dict[str, Any]) -> None:
    """The simulator's sans-I/O head check, fed the vector byte by byte, refuses in time."""
    raw = protocol.expand_chunks(case["chunks"])
    for end in range(1, len(raw) + 1):
        complete, refusal = check_head(raw[:end])
        if refusal is not None:
            assert refusal.status == case["status"]
            return
        assert not complete, "the head completed without a refusal"
    raise AssertionError("never refused")


@pytest.mark.parametrize(
    "case",
    [c for c in HTTP["cases"] if c["status"] not in (400, 414, 431)],
    ids=lambda case: case["name"],
)
def test_head_limits_let_every_other_vector_through(case: dict[str, Any]) -> None:
    assert check_head(protocol.expand_chunks(case["chunks"])) == (True, None)
