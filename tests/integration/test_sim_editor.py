"""The simulated editor's LSP and DAP servers, spoken to over real TCP sockets."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TIME_SCALE, free_port, wait_until
from tests.integration.sim_process import (
    WAIT,
    SimProcess,
    run_sim_to_exit,
    running_sim,
)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _recv(sock: socket.socket) -> dict[str, Any]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(1)
        assert chunk, "connection closed before a header"
        buffer += chunk
    header = buffer[:-4].decode()
    assert header.startswith("Content-Length: ") and "\r\n" not in header  # exactly one header
    length = int(header.split(": ", 1)[1])
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, "connection closed mid-body"
        body += chunk
    return dict(json.loads(body))


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@dataclass
class Editor:
    sim: SimProcess
    lsp_port: int
    dap_port: int


@pytest.fixture
def editor(project: Path) -> Iterator[Editor]:
    lsp, dap = free_port(), free_port()
    args = ("--editor", "--lsp-port", str(lsp), "--dap-port", str(dap))
    with running_sim(project, *args) as sim:
        wait_until(lambda: "debug adapter on" in sim.stdout(), what="the editor to listen")
        yield Editor(sim, lsp, dap)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def test_lsp_initialize_shutdown_exit(editor: Editor) -> None:
    with _connect(editor.lsp_port) as sock:
        _send(sock, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
        reply = _recv(sock)
        assert reply["id"] == 1
        assert reply["result"]["serverInfo"]["name"] == "Godot Language Server (sim)"
        assert reply["result"]["capabilities"]["completionProvider"]
        _send(sock, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
        _send(sock, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        assert _recv(sock) == {"jsonrpc": "2.0", "id": 2, "result": None}
        _send(sock, {"jsonrpc": "2.0", "method": "exit"})
        assert _closed_by_peer(sock)


def test_dap_initialize_then_initialized_event_then_disconnect(editor: Editor) -> None:
    with _connect(editor.dap_port) as sock:
        _send(sock, {"seq": 1, "type": "request", "command": "initialize", "arguments": {}})
        response = _recv(sock)
        assert response["type"] == "response"
        assert response["request_seq"] == 1
        assert response["success"] is True
        assert response["command"] == "initialize"
        assert response["body"]["supportsConfigurationDoneRequest"] is True
        event = _recv(sock)
        assert event["type"] == "event"
        assert event["event"] == "initialized"
        assert event["seq"] > response["seq"]
        _send(sock, {"seq": 2, "type": "request", "command": "disconnect"})
        assert _recv(sock)["success"] is True
        assert _closed_by_peer(sock)


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\n\r\n", b"Content-Length: abc\r\n\r\n", b"Content-Length: 2\r\n\r\n[]"],
)
def test_garbage_closes_the_connection_but_not_the_server(editor: Editor, garbage: bytes) -> None:
    with _connect(editor.lsp_port) as sock:
        sock.sendall(garbage)
        assert _closed_by_peer(sock)
    with _connect(editor.lsp_port) as sock:
        _send(sock, {"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {}})
        assert _recv(sock)["id"] == 7


def test_editor_serves_no_bridge(editor: Editor) -> None:
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", editor.sim.http_port)) != 0


def test_editor_with_busy_lsp_port_exits_1(project: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = run_sim_to_exit(project, "-e", "--lsp-port", port, "--dap-port", str(free_port()))
    assert result.returncode == 1
    assert port in result.stderr
    assert "Traceback" not in result.stderr


def test_editor_sigterm_exits_0(editor: Editor) -> None:
    editor.sim.terminate()
    assert editor.sim.wait_exit() == 0


def test_editor_faults_have_their_own_variables(project: Path) -> None:
    env = {
        "SPACETIME_SIM_CRASH_AFTER": "0.1",  # the game's fault: the editor ignores it
        "SPACETIME_SIM_EDITOR_CRASH_AFTER": str(1.0 * TIME_SCALE),
        "SPACETIME_SIM_EDITOR_EXIT_CODE": "3",
    }
    lsp = free_port()
    args = ("-e", "--lsp-port", str(lsp), "--dap-port", str(free_port()))
    with running_sim(project, *args, env=env) as sim:
        wait_until(lambda: "debug adapter on" in sim.stdout(), what="the editor to listen")
        with _connect(lsp) as sock:
            _send(sock, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
            assert _recv(sock)["id"] == 1
        assert sim.wait_exit() == 3
