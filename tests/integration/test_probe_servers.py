"""Each probe against servers written here on 127.0.0.1: well-behaved, silent, garbage,
and a closed port. A probe must answer within its timeout and never raise."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from spacetime_panel.probes import (
    ServiceState,
    ServiceStatus,
    probe_bridge_http,
    probe_dap,
    probe_lsp,
    probe_management_api,
    probe_tcp,
    probe_websocket,
)
from tests.conftest import TIME_SCALE, free_port

TIMEOUT = 0.5 * TIME_SCALE
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Seen:
    """What a test server received, for asserting on the probe's manners."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    headers: list[bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


async def read_frame(reader: asyncio.StreamReader, seen: Seen) -> dict[str, Any] | None:
    """A deliberately independent Content-Length reader (not the code under test)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    seen.headers.append(head)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    message: dict[str, Any] = json.loads(await reader.readexactly(length))
    seen.messages.append(message)
    return message


def chatty_frame(message: dict[str, Any]) -> bytes:
    """Framed the way VS Code-style servers do it: with a Content-Type header too."""
    body = json.dumps(message).encode()
    head = b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8"
    return head % len(body) + b"\r\n\r\n" + body


def lsp_handler(seen: Seen) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (message := await read_frame(reader, seen)) is not None:
            if message.get("method") == "initialize":
                # Chatter first: a notification and a request of the server's own.
                log = {"type": 3, "message": "starting"}
                writer.write(chatty_frame({"jsonrpc": "2.0", "method": "window/logMessage",
                                           "params": log}))  # fmt: skip
                writer.write(chatty_frame({"jsonrpc": "2.0", "id": 1, "method":
                                           "client/registerCapability", "params": {}}))  # fmt: skip
                result = {"capabilities": {"hoverProvider": True},
                          "serverInfo": {"name": "test-lsp", "version": "9.9"}}  # fmt: skip
                writer.write(chatty_frame({"jsonrpc": "2.0", "id": message["id"],
                                           "result": result}))  # fmt: skip
            elif message.get("method") == "shutdown":
                writer.write(chatty_frame({"jsonrpc": "2.0", "id": message["id"], "result": None}))
            elif message.get("method") == "exit":
                break
        writer.close()
        seen.closed.set()

    return handle


def dap_handler(seen: Seen) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (message := await read_frame(reader, seen)) is not None:
            if message.get("command") == "initialize":
                output = {"category": "console", "output": "hi\n"}
                writer.write(chatty_frame({"seq": 1, "type": "event", "event": "output",
                                           "body": output}))  # fmt: skip
                writer.write(chatty_frame({"seq": 2, "type": "response", "request_seq":
                                           message["seq"], "command": "initialize",
                                           "success": True, "body": {"a": 1}}))  # fmt: skip
                writer.write(chatty_frame({"seq": 3, "type": "event", "event": "initialized"}))
        writer.close()
        seen.closed.set()

    return handle


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # holds the connection open, says nothing, until the client leaves
    writer.close()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\nbanana\r\n\r\nnot what you wanted\r\n")
    await writer.drain()
    await reader.read()
    writer.close()


def http_handler(seen: Seen, status: int = 200, body: bytes | None = None) -> Handler:
    payload = body if body is not None else json.dumps({
        "overall_ready": True,
        "bridge": {"version": "1.2.0", "godot_version": "4.5.1.stable", "pid": 4321},
    }).encode()  # fmt: skip

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.headers.append(await reader.readuntil(b"\r\n\r\n"))
        head = b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        writer.write(head % (status, len(payload)) + b"Connection: close\r\n\r\n" + payload)
        await writer.drain()
        writer.close()

    return handle


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


Probe = Callable[[int], Awaitable[ServiceStatus]]


def probes(client: httpx.AsyncClient) -> dict[str, Probe]:
    host = "127.0.0.1"
    return {
        "lsp": lambda port: probe_lsp(host, port, timeout=TIMEOUT),
        "dap": lambda port: probe_dap(host, port, timeout=TIMEOUT),
        "http": lambda port: probe_bridge_http(client, host, port, timeout=TIMEOUT),
        "ws": lambda port: probe_websocket(host, port, timeout=TIMEOUT),
    }


async def test_lsp_handshake_is_polite_and_reports_the_server() -> None:
    seen = Seen()
    async with tcp_server(lsp_handler(seen)) as port:
        status = await probe_lsp("127.0.0.1", port, timeout=TIMEOUT * 4)
        async with asyncio.timeout(5 * TIME_SCALE):
            await seen.closed.wait()
    assert status.state is ServiceState.UP, status.detail
    assert status.server == "test-lsp 9.9"
    assert status.owner_pid == os.getpid()
    assert status.latency_ms is not None and status.latency_ms > 0
    assert [m.get("method") for m in seen.messages] == ["initialize", "shutdown", "exit"]
    # Exactly one header, as Godot's fixed-offset parser needs.
    assert all(h.count(b"\r\n") == 2 and h.startswith(b"Content-Length: ") for h in seen.headers)


async def test_dap_handshake_skips_events_and_ends_without_disconnect() -> None:
    seen = Seen()
    async with tcp_server(dap_handler(seen)) as port:
        status = await probe_dap("127.0.0.1", port, timeout=TIMEOUT * 4)
        async with asyncio.timeout(5 * TIME_SCALE):
            await seen.closed.wait()
    assert status.state is ServiceState.UP, status.detail
    assert status.owner_pid == os.getpid()
    initialize = seen.messages[0]
    assert initialize["command"] == "initialize"
    assert initialize["arguments"]["adapterID"] == "spacetime-panel"
    assert initialize["arguments"]["linesStartAt1"] is True
    # Godot stops the running game on `disconnect` from an unattached client.
    assert [m["command"] for m in seen.messages] == ["initialize"]
    assert all(h.count(b"\r\n") == 2 for h in seen.headers)


async def test_bridge_http_reports_versions_and_sends_the_key() -> None:
    seen = Seen()
    async with httpx.AsyncClient(trust_env=False) as client, tcp_server(http_handler(seen)) as port:
        status = await probe_bridge_http(client, "127.0.0.1", port, api_key="s3cret")
    assert status.state is ServiceState.UP, status.detail
    assert status.server == "bridge 1.2.0, Godot 4.5.1.stable"
    assert "pid 4321" in status.detail
    assert status.owner_pid == os.getpid()
    assert b"GET /status " in seen.headers[0]
    assert b"authorization: Bearer s3cret" in seen.headers[0].lower().replace(b"bearer", b"Bearer")


@pytest.mark.parametrize(
    ("code", "body", "detail"),
    [
        (401, b'{"error": "Unauthorized"}', "API key refused"),
        (200, b"<html>hello</html>", "not JSON"),
        (500, b"{}", "HTTP 500"),
    ],
)
async def test_bridge_http_answers_that_are_not_a_status_are_degraded(
    client: httpx.AsyncClient, code: int, body: bytes, detail: str
) -> None:
    async with tcp_server(http_handler(Seen(), code, body)) as port:
        status = await probe_bridge_http(client, "127.0.0.1", port, timeout=TIMEOUT)
    assert status.state is ServiceState.DEGRADED
    assert detail in status.detail


async def test_management_api_any_http_answer_is_up(client: httpx.AsyncClient) -> None:
    async with tcp_server(http_handler(Seen(), 503, b'{"server": "spacetime-panel"}')) as port:
        status = await probe_management_api(client, "127.0.0.1", port, timeout=TIMEOUT)
    assert status.state is ServiceState.UP
    assert status.detail == "GET /health answered HTTP 503"
    assert status.server == "spacetime-panel"


async def test_websocket_hello_is_up_and_garbage_first_frame_is_degraded() -> None:
    async def hello(ws: ServerConnection) -> None:
        data = {"protocol": "spacetime-bridge/1", "godot_version": "4.5.1", "pid": 99,
                "rate_hz": 90}  # fmt: skip
        await ws.send(json.dumps({"event": "hello", "timestamp": 1.0, "data": data}))
        await ws.wait_closed()

    async def nonsense(ws: ServerConnection) -> None:
        await ws.send("this is not json")
        await ws.wait_closed()

    async def wrong_event(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"event": "fps", "data": {}}))
        await ws.wait_closed()

    results = {}
    for name, handler in (("hello", hello), ("nonsense", nonsense), ("fps", wrong_event)):
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            results[name] = await probe_websocket("127.0.0.1", port, timeout=TIMEOUT * 4)
    assert results["hello"].state is ServiceState.UP, results["hello"].detail
    assert results["hello"].server == "spacetime-bridge/1, Godot 4.5.1"
    assert results["hello"].detail == "hello from pid 99 at 90 Hz"
    assert results["hello"].owner_pid == os.getpid()
    assert results["nonsense"].state is ServiceState.DEGRADED
    assert results["nonsense"].detail == "first frame is not JSON"
    assert results["fps"].state is ServiceState.DEGRADED
    assert "not a hello" in results["fps"].detail


@pytest.mark.parametrize("kind", ["lsp", "dap", "http", "ws"])
async def test_silent_server_is_degraded_within_the_timeout(
    client: httpx.AsyncClient, kind: str
) -> None:
    async with tcp_server(silent) as port:
        started = time.monotonic()
        status = await probes(client)[kind](port)
        took = time.monotonic() - started
    assert status.state is ServiceState.DEGRADED
    assert status.detail == f"accepted but did not answer within {TIMEOUT:g} s"
    assert status.owner_pid == os.getpid()
    assert took < TIMEOUT + 1.5 * TIME_SCALE


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("lsp", "bad header"), ("dap", "bad header"), ("http", "not HTTP"), ("ws", "not a WebSocket")],
)
async def test_garbage_is_degraded_with_the_reason(
    client: httpx.AsyncClient, kind: str, reason: str
) -> None:
    async with tcp_server(garbage) as port:
        status = await probes(client)[kind](port)
    assert status.state is ServiceState.DEGRADED
    assert reason in status.detail
    assert status.owner_pid == os.getpid()


@pytest.mark.parametrize("kind", ["lsp", "dap", "http", "ws", "tcp"])
async def test_closed_port_is_down(client: httpx.AsyncClient, kind: str) -> None:
    port = free_port()
    check = probes(client).get(kind) or (lambda p: probe_tcp("127.0.0.1", p, timeout=TIMEOUT))
    status = await check(port)
    assert status.state is ServiceState.DOWN
    assert status.detail == "connection refused"
    assert status.owner_pid is None


async def test_tcp_probe_connects_and_names_the_owner() -> None:
    async with tcp_server(silent) as port:
        status = await probe_tcp("127.0.0.1", port, timeout=TIMEOUT)
    assert status.state is ServiceState.UP
    assert status.owner_pid == os.getpid()
    assert status.latency_ms is not None
