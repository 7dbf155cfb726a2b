"""The LSP and DAP probes against real servers nobody here wrote: python-lsp-server and
debugpy's debug adapter, started as child processes on free ports."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spacetime_panel.probes import ServiceState, probe_dap, probe_lsp
from spacetime_panel.probes.owner import port_owner
from tests.conftest import TIME_SCALE, free_port

WAIT = 30.0 * TIME_SCALE
TIMEOUT = 10.0 * TIME_SCALE


def start(tmp_path: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


async def listening(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait (without connecting: debugpy's adapter quits after its first client) until
    `process` listens on `port`."""
    async with asyncio.timeout(WAIT):
        while True:
            assert process.poll() is None, f"server exited with {process.returncode}"
            owner = await asyncio.to_thread(port_owner, port)
            if owner is not None and owner.pid == process.pid:
                return
            await asyncio.sleep(0.05)


@pytest.fixture
def pylsp(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start(tmp_path, "pylsp", "pylsp", "--tcp", "--host", "127.0.0.1", "--port", str(port))
    try:
        yield port, process
    finally:
        stop(process)


@pytest.fixture
def debugpy_adapter(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    args = ("debugpy.adapter", "--host", "127.0.0.1", "--port", str(port))
    process = start(tmp_path, "debugpy", *args)
    try:
        yield port, process
    finally:
        stop(process)


async def test_lsp_probe_succeeds_against_python_lsp_server(
    pylsp: tuple[int, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port, process = pylsp
    await listening(port, process)
    first = await probe_lsp("127.0.0.1", port, timeout=TIMEOUT, root=tmp_path)
    assert first.state is ServiceState.UP, first.detail
    assert first.server is not None and first.server.startswith("pylsp ")
    assert first.owner_pid == process.pid
    assert "capabilities" in first.detail
    # shutdown + exit left the server able to take the next client.
    second = await probe_lsp("127.0.0.1", port, timeout=TIMEOUT)
    assert second.state is ServiceState.UP, second.detail
    assert process.poll() is None


async def test_dap_probe_succeeds_against_debugpy_adapter(
    debugpy_adapter: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, process = debugpy_adapter
    await listening(port, process)
    status = await probe_dap("127.0.0.1", port, timeout=TIMEOUT)
    assert status.state is ServiceState.UP, status.detail
    assert status.owner_pid == process.pid
    assert status.latency_ms is not None
    assert status.server is None  # DAP has no serverInfo


async def test_lsp_probe_on_a_dap_server_is_not_up(
    debugpy_adapter: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, process = debugpy_adapter
    await listening(port, process)
    status = await probe_lsp("127.0.0.1", port, timeout=2.0 * TIME_SCALE)
    assert status.state is ServiceState.DEGRADED


async def test_probe_commands_against_the_real_servers(
    pylsp: tuple[int, subprocess.Popen[bytes]],
    debugpy_adapter: tuple[int, subprocess.Popen[bytes]],
) -> None:
    """The user's command, `spacetime-panel probe lsp|dap`, against both servers."""
    for kind, (port, process) in (("lsp", pylsp), ("dap", debugpy_adapter)):
        await listening(port, process)
        command = [sys.executable, "-m", "spacetime_panel", "probe", kind, "--port", str(port)]
        result = await asyncio.to_thread(
            subprocess.run, [*command, "--timeout", str(TIMEOUT)], capture_output=True, text=True
        )
        assert result.returncode == 0, (kind, result.stdout, result.stderr)
        assert f"{kind} 127.0.0.1:{port}: up" in result.stdout
        if kind == "lsp":
            assert "[pylsp " in result.stdout  # the server's own name, from serverInfo
