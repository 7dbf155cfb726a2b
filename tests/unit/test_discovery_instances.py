"""Beacons, the port file, ranking, and the discovery row, without sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spacetime_panel.probes.discovery import DiscoveryListener, ListenerState
from spacetime_panel.probes.instances import (
    ForeignDatagramError,
    GameInstance,
    MalformedBeaconError,
    parse_beacon,
    rank_instances,
    read_port_file,
)
from spacetime_panel.probes.status import ServiceState


def beacon(**changes: Any) -> dict[str, Any]:
    data = {
        "service": "spacetime-bridge",
        "protocol": "spacetime-bridge/1",
        "pid": 1234,
        "project": "/home/dev/spacetime",
        "host": "127.0.0.1",
        "http_port": 8080,
        "telemetry_port": 8081,
        "godot_version": "4.5.1.stable",
    }
    data.update(changes)
    return data


def encode(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_a_good_beacon_becomes_an_instance() -> None:
    instance = parse_beacon(encode(beacon()), sender="127.0.0.1", seen_at=10.0)
    assert instance.pid == 1234
    assert (instance.host, instance.http_port, instance.telemetry_port) == ("127.0.0.1", 8080, 8081)
    assert instance.project == "/home/dev/spacetime"
    assert instance.godot_version == "4.5.1.stable"
    assert instance.source == "beacon"
    assert instance.age(12.5) == 2.5
    assert instance.to_json(12.5)["age_s"] == 2.5


def test_a_wildcard_host_is_replaced_by_the_sender() -> None:
    instance = parse_beacon(encode(beacon(host="0.0.0.0")), sender="192.0.2.9", seen_at=0)
    assert instance.host == "192.0.2.9"


@pytest.mark.parametrize(
    "datagram",
    [
        b"\xff\xfe not json",
        b"[1, 2]",
        encode(beacon(pid="1234")),
        encode(beacon(pid=True)),
        encode(beacon(pid=-1)),
        encode(beacon(http_port=70000)),
        encode(beacon(http_port=None)),
        encode(beacon(telemetry_port="8081")),
        encode(beacon(host=5)),
    ],
)
def test_malformed_beacons_are_rejected(datagram: bytes) -> None:
    with pytest.raises(MalformedBeaconError):
        parse_beacon(datagram, sender="127.0.0.1", seen_at=0)


def test_other_services_on_the_port_are_foreign() -> None:
    with pytest.raises(ForeignDatagramError):
        parse_beacon(encode({"service": "mdns-thing", "pid": 1}), sender="127.0.0.1", seen_at=0)
    with pytest.raises(ForeignDatagramError):
        parse_beacon(encode({"hello": "world"}), sender="127.0.0.1", seen_at=0)


def game(pid: int, seen_at: float, host: str = "127.0.0.1", **changes: Any) -> GameInstance:
    fields: dict[str, Any] = {
        "pid": pid, "host": host, "http_port": 8080, "telemetry_port": 8081,
        "project": None, "godot_version": None, "source": "beacon", "seen_at": seen_at,
    }  # fmt: skip
    fields.update(changes)
    return GameInstance(**fields)


def test_ranking_puts_our_game_first_then_the_newest() -> None:
    ours, newer, older = game(10, 1.0), game(20, 5.0), game(30, 3.0)
    assert [i.pid for i in rank_instances([older, ours, newer], own_pid=10)] == [10, 20, 30]
    assert [i.pid for i in rank_instances([older, ours, newer], own_pid=None)] == [20, 30, 10]


def test_ranking_keeps_one_entry_per_game_with_the_freshest_sighting() -> None:
    from_file = game(10, 1.0, source="port_file", project="/p", godot_version="4.5")
    from_scan = game(10, 4.0, source="scan", telemetry_port=None)
    other_host = game(10, 2.0, host="192.0.2.5")
    ranked = rank_instances([from_file, from_scan, other_host], own_pid=None)
    assert len(ranked) == 2
    merged = ranked[0]
    assert (merged.source, merged.seen_at) == ("scan", 4.0)
    # What the scan did not know comes from the older sighting.
    assert (merged.telemetry_port, merged.project, merged.godot_version) == (8081, "/p", "4.5")


def test_port_file_is_read_and_bad_files_give_none(tmp_path: Path) -> None:
    assert read_port_file(tmp_path) is None  # no .godot at all
    path = tmp_path / ".godot" / "spacetime_bridge.json"
    path.parent.mkdir()
    path.write_text(json.dumps(beacon(pid=77)))
    instance = read_port_file(tmp_path, now=3.0)
    assert instance is not None
    assert (instance.pid, instance.source, instance.seen_at) == (77, "port_file", 3.0)
    for bad in ('{"pid": 77, "http_po', "[]", json.dumps(beacon(http_port="x")),
                json.dumps(beacon(service="other"))):  # fmt: skip
        path.write_text(bad)
        assert read_port_file(tmp_path) is None
    path.unlink()
    path.mkdir()  # a directory where the file should be
    assert read_port_file(tmp_path) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_listener_counts_beacons_malformed_and_foreign_separately() -> None:
    listener = DiscoveryListener(port=0, clock=Clock())
    assert listener.receive(encode(beacon()), "127.0.0.1") is not None
    assert listener.receive(b"garbage", "127.0.0.1") is None
    assert listener.receive(encode(beacon(pid="x")), "127.0.0.1") is None
    assert listener.receive(encode({"service": "other"}), "127.0.0.1") is None
    assert listener.receive(b"x" * 70_000, "127.0.0.1") is None
    counts = listener.counts
    assert (counts.beacons, counts.malformed, counts.foreign) == (1, 3, 1)


def test_instances_go_stale_and_the_row_says_so() -> None:
    clock = Clock()
    listener = DiscoveryListener(port=8087, clock=clock, stale_after=5.0)
    listener.state = ListenerState.LISTENING  # as after start(), without a socket
    assert listener.status().state is ServiceState.UNKNOWN
    assert listener.status().detail == "no beacon yet"
    for _ in range(7):  # a beacon every 0.5 s, each in two copies (unicast, broadcast)
        listener.receive(encode(beacon(project="X")), "127.0.0.1")
        listener.receive(encode(beacon(project="X")), "127.0.0.1")
        clock.now += 0.5
    clock.now -= 0.1
    row = listener.status()
    assert row.state is ServiceState.UP
    assert (row.protocol, row.port, row.owner_pid) == ("udp", 8087, 1234)
    assert row.detail.startswith("2.0 beacons/s from pid 1234 (project X), last 0.4 s ago")
    assert [i.pid for i in listener.instances()] == [1234]
    clock.now += 6.0
    assert listener.instances() == []
    row = listener.status()
    assert row.state is ServiceState.DOWN
    assert "no beacon for 6.4 s" in row.detail


def test_a_listener_that_could_not_bind_is_degraded() -> None:
    listener = DiscoveryListener(port=8087)
    listener.state = ListenerState.FAILED
    listener.bind_error = "cannot listen on udp 0.0.0.0:8087: Permission denied"
    row = listener.status()
    assert row.state is ServiceState.DEGRADED
    assert "Permission denied" in row.detail
