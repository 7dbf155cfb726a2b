"""Discovery against the simulated game: beacons, the port file, the /status scan."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from spacetime_panel.probes import (
    DiscoveryListener,
    ListenerState,
    ServiceState,
    rank_instances,
    read_port_file,
    scan_ports,
)
from tests.conftest import TIME_SCALE, free_port
from tests.integration.sim_process import SimProcess, running_sim

WAIT = 15.0 * TIME_SCALE


@pytest.fixture
def discovery_port() -> int:
    return free_port(socket.SOCK_DGRAM)


@pytest.fixture
def game(project: Path, discovery_port: int) -> Iterator[SimProcess]:
    env = {"SPACETIME_DISCOVERY_PORT": str(discovery_port)}
    with running_sim(project, env=env) as sim:
        sim.wait_ready()
        yield sim


async def heard_from(listener: DiscoveryListener, pid: int) -> None:
    async with asyncio.timeout(WAIT):
        while not any(i.pid == pid for i in listener.instances()):
            await asyncio.sleep(0.05)


async def test_two_listeners_on_one_port_both_hear_the_game(
    game: SimProcess, discovery_port: int, project: Path
) -> None:
    async with (
        DiscoveryListener(discovery_port) as first,
        DiscoveryListener(discovery_port) as second,
    ):
        assert first.state is second.state is ListenerState.LISTENING
        await heard_from(first, game.pid)
        await heard_from(second, game.pid)
        for listener in (first, second):
            (instance,) = listener.instances()
            assert (instance.http_port, instance.telemetry_port) == (
                game.http_port,
                game.telemetry_port,
            )
            assert instance.project == str(project)
            assert instance.godot_version is not None and "4.5" in instance.godot_version
            row = listener.status()
            assert row.state is ServiceState.UP
            assert row.protocol == "udp"
            assert f"from pid {game.pid} (project {project})" in row.detail
            assert row.owner_pid == game.pid
        assert first.counts.malformed == first.counts.foreign == 0


async def test_garbage_on_the_port_is_counted_not_fatal(discovery_port: int) -> None:
    async with DiscoveryListener(discovery_port, "127.0.0.1") as listener:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"\x00garbage", ("127.0.0.1", discovery_port))
            sender.sendto(b'{"service": "someone-else"}', ("127.0.0.1", discovery_port))
            beacon = b'{"service": "spacetime-bridge", "pid": 42, "http_port": 8080}'
            sender.sendto(beacon, ("127.0.0.1", discovery_port))
        async with asyncio.timeout(WAIT):
            while listener.counts.beacons < 1:
                await asyncio.sleep(0.02)
        assert (listener.counts.malformed, listener.counts.foreign) == (1, 1)
        (instance,) = listener.instances()
        assert (instance.pid, instance.host, instance.telemetry_port) == (42, "127.0.0.1", None)
        assert listener.status().state is ServiceState.UP


async def test_a_port_we_cannot_bind_is_degraded_with_the_reason() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))  # no SO_REUSEADDR: nobody may share it
        port = holder.getsockname()[1]
        listener = DiscoveryListener(port, "127.0.0.1")
        assert await listener.start() is False
        row = listener.status()
    assert row.state is ServiceState.DEGRADED
    assert f"cannot listen on udp 127.0.0.1:{port}" in row.detail


async def test_port_file_scan_and_ranking_agree_on_the_game(
    game: SimProcess, discovery_port: int, project: Path
) -> None:
    from_file = read_port_file(project)
    assert from_file is not None
    assert (from_file.pid, from_file.http_port, from_file.source) == (
        game.pid,
        game.http_port,
        "port_file",
    )
    async with httpx.AsyncClient(trust_env=False) as client:
        scanned = await scan_ports(
            client, "127.0.0.1", [free_port(), game.http_port, free_port()], timeout=WAIT / 3
        )
    assert [(i.pid, i.http_port, i.source) for i in scanned] == [(game.pid, game.http_port, "scan")]
    assert scanned[0].telemetry_port == game.telemetry_port
    async with DiscoveryListener(discovery_port) as listener:
        await heard_from(listener, game.pid)
        sightings = [*listener.instances(), from_file, *scanned]
    ranked = rank_instances(sightings, own_pid=None)
    assert [(i.pid, i.source) for i in ranked] == [(game.pid, "beacon")]
    # Another game seen more recently still ranks after the one we supervise.
    stranger = replace(ranked[0], pid=ranked[0].pid + 100_000, seen_at=ranked[0].seen_at + 1)
    assert [i.pid for i in rank_instances([stranger, *ranked], own_pid=game.pid)] == [
        game.pid,
        stranger.pid,
    ]

    game.terminate()
    assert game.wait_exit() == 0
    assert read_port_file(project) is None  # the bridge removes its file on exit
