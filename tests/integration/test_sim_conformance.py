"""The simulator against the protocol contract (spacetime_panel/protocol), over real sockets.

Every ``http.json`` case is written to a real simulated bridge chunk by chunk
and its answer read until the bridge closes; every telemetry frame, the
beacon and the port file it sends are validated against the schemas.

Each case runs on a bridge where no scene is loaded: the cases that change
that (a 202) get a bridge of their own, the others share one per key setting.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from spacetime_panel import protocol
from spacetime_panel.godot.commands import demo_project
from tests.conftest import wait_until
from tests.integration.sim_process import WAIT, SimProcess, running_sim

HTTP = protocol.vectors("http")
CASES: list[dict[str, Any]] = HTTP["cases"]
KEY: str = HTTP["api_key"]


def _changes_state(case: dict[str, Any]) -> bool:
    """A 202 load or reload leaves a scene loaded: the case needs a bridge of its own."""
    return 200 <= case["status"] < 300 and case["schema"] == "scene_request"


def _project_without_scene(target: Path) -> Path:
    """A copy of the demo project with no main scene, so the bridge starts with none loaded."""
    shutil.copytree(demo_project(), target, ignore=shutil.ignore_patterns(".godot"))
    config = target / "project.godot"
    text = config.read_text()
    assert 'run/main_scene="res://vr_main.tscn"\n' in text
    config.write_text(text.replace('run/main_scene="res://vr_main.tscn"\n', ""))
    for scene in HTTP["scenes"]:
        assert (target / scene.removeprefix("res://")).is_file(), scene
    return target


def _start(project: Path, use_key: bool, log_dir: Path) -> SimProcess:
    env = {"SPACETIME_API_KEY": KEY} if use_key else {}
    log_dir.mkdir(parents=True, exist_ok=True)
    sim = SimProcess(project, "--headless", env=env, log_dir=log_dir)
    sim.wait_ready(headers={"Authorization": f"Bearer {KEY}"} if use_key else None)
    return sim


@pytest.fixture(scope="module")
def shared_bridges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, SimProcess]]:
    """One bridge with the vector key and one without, for every case that changes nothing."""
    bridges: dict[bool, SimProcess] = {}
    try:
        for use_key in (True, False):
            root = tmp_path_factory.mktemp(f"shared-key-{use_key}")
            project = _project_without_scene(root / "project")
            bridges[use_key] = _start(project, use_key, root)
        yield bridges
    finally:
        for sim in bridges.values():
            sim.kill_all()


def exchange(port: int, chunks: list[str]) -> bytes:
    """Send each chunk as its own write, then read the answer until the bridge closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for chunk in chunks:
            try:
                sock.sendall(protocol.expand_chunk(chunk))
            except (BrokenPipeError, ConnectionResetError):
                break  # answered already; the answer is still to be read
        answer = bytearray()
        while part := sock.recv(65536):
            answer += part
        return bytes(answer)


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lower-case names) and JSON body of one HTTP/1.1 answer."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    assert separator, f"no complete HTTP head in {answer[:200]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        assert len(body) == int(headers["content-length"]), "body length != Content-Length"
    return int(status), headers, json.loads(body)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_http_case(case: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if _changes_state(case):
        project = _project_without_scene(tmp_path / "project")
        sim = _start(project, case["use_key"], tmp_path)
        try:
            answer = exchange(sim.http_port, case["chunks"])
        finally:
            sim.kill_all()
    else:
        sim = request.getfixturevalue("shared_bridges")[case["use_key"]]
        answer = exchange(sim.http_port, case["chunks"])

    status, headers, body = parse_answer(answer)
    assert status == case["status"], body
    assert headers.get("content-type", "").split(";")[0] == "application/json"
    assert headers.get("connection", "").lower() == "close"
    assert protocol.validate(case["schema"], body) == []
    assert {key: body.get(key) for key in case["body"]} == case["body"]


def test_the_simulators_limits_are_the_contracts() -> None:
    from spacetime_panel.sim.http_guard import LIMITS

    assert {
        "request_line": LIMITS.request_line,
        "headers": LIMITS.headers,
        "header_count": LIMITS.header_count,
        "body": LIMITS.body,
    } == HTTP["limits"]


def test_telemetry_frames_beacon_and_port_file_match_their_schemas(tmp_path: Path) -> None:
    project = _project_without_scene(tmp_path / "project")
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(WAIT)
    env = {"SPACETIME_DISCOVERY_PORT": str(listener.getsockname()[1])}
    try:
        with running_sim(project, "--headless", env=env) as sim:
            sim.wait_ready()
            beacon = json.loads(listener.recv(65536))
            assert protocol.validate("beacon", beacon) == []
            assert beacon["pid"] == sim.pid

            port_file = project / ".godot" / "spacetime_bridge.json"
            written = wait_until(lambda: port_file.is_file() and port_file.read_text())
            assert protocol.validate("port_file", json.loads(written)) == []

            frames = _collect_frames(sim)
            assert frames[0]["event"] == "hello"
            for frame in frames:
                assert protocol.validate("telemetry_frame", frame) == [], frame
    finally:
        listener.close()


def _collect_frames(sim: SimProcess) -> list[dict[str, Any]]:
    """Every frame from connecting until each event kind the simulator sends has come."""
    wanted = {"hello", "fps", "vr_tracking", "scene_loaded", "player_spawned", "log"}
    frames: list[dict[str, Any]] = []
    with connect(f"ws://127.0.0.1:{sim.telemetry_port}", open_timeout=WAIT, max_queue=None) as ws:
        frames.append(json.loads(ws.recv(timeout=WAIT)))
        answer = httpx.post(sim.url("/scene/load"), json={"path": HTTP["scenes"][1]}, timeout=WAIT)
        assert answer.status_code == 202, answer.text
        deadline = time.monotonic() + WAIT
        while wanted - {frame["event"] for frame in frames}:
            left = deadline - time.monotonic()
            assert left > 0, f"no {wanted - {f['event'] for f in frames}} frames within {WAIT} s"
            frames.append(json.loads(ws.recv(timeout=left)))
    return frames
