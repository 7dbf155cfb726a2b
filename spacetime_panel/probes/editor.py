"""Handshake probes for the Godot editor's language server (LSP) and debug adapter (DAP).

Each opens a real client session, so a caller should do them rarely (the monitor's
`handshake_interval`) and use the passive check in between.

DAP caveat, from Godot's `debug_adapter_parser.cpp`: `disconnect` from a client
that did not attach calls `stop_playing()`, which would stop a game started with
the editor's Play button. So the DAP probe ends its session by closing the
connection, which Godot handles as a plain client disconnect. Its `initialize`
also clears the editor's breakpoints unless the editor setting
`network/debug_adapter/sync_breakpoints` is on; that is why the monitor does not
handshake with the DAP periodically unless asked to.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spacetime_panel import __version__
from spacetime_panel.probes.framing import FramedStream
from spacetime_panel.probes.status import (
    DAP,
    LSP,
    Answer,
    BadAnswerError,
    ProbeTarget,
    ServiceStatus,
)
from spacetime_panel.probes.tcp import run_conversation

CLIENT_NAME = "spacetime-panel"
# A server may chat before it answers (logMessage, progress, registerCapability);
# past this many messages it is not going to answer our request.
MAX_SKIPPED = 200


class LspHandshake:
    """`initialize` -> result.capabilities; then `shutdown` (brief wait) and `exit`."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._stream: FramedStream | None = None

    async def hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Answer:
        self._stream = stream = FramedStream(reader, writer)
        root_uri = self._root.resolve().as_uri() if self._root is not None else None
        await stream.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": os.getpid(),
                    "clientInfo": {"name": CLIENT_NAME, "version": __version__},
                    "rootUri": root_uri,
                    "capabilities": {},
                },
            }
        )
        reply = await _reply_to(stream, lambda m: m.get("id") == 1 and "method" not in m)
        answered_at = time.perf_counter()
        if "error" in reply:
            raise BadAnswerError(f"initialize refused: {_error_text(reply['error'])}")
        result = reply.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("capabilities"), dict):
            raise BadAnswerError("initialize answer has no capabilities")
        server = _server_info(result.get("serverInfo"))
        count = len(result["capabilities"])
        return Answer(f"initialize answered ({count} capabilities)", answered_at, server)

    async def goodbye(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = self._stream
        if stream is None:
            return
        await stream.send({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None})
        try:
            await _reply_to(stream, lambda m: m.get("id") == 2 and "method" not in m)
        finally:
            # `exit` even if shutdown was not answered in time: the server may free the session.
            await stream.send({"jsonrpc": "2.0", "method": "exit", "params": None})


class DapHandshake:
    """`initialize` -> a successful response; the session ends by closing (see module doc)."""

    async def hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Answer:
        stream = FramedStream(reader, writer)
        await stream.send(
            {
                "seq": 1,
                "type": "request",
                "command": "initialize",
                "arguments": {
                    "adapterID": CLIENT_NAME,
                    "clientID": CLIENT_NAME,
                    "clientName": CLIENT_NAME,
                    "linesStartAt1": True,
                    "columnsStartAt1": True,
                    "pathFormat": "path",
                },
            }
        )
        reply = await _reply_to(
            stream, lambda m: m.get("type") == "response" and m.get("request_seq") == 1
        )
        answered_at = time.perf_counter()
        if reply.get("success") is not True:
            raise BadAnswerError(f"initialize refused: {reply.get('message') or 'no reason'}")
        body = reply.get("body")
        count = len(body) if isinstance(body, dict) else 0
        return Answer(f"initialize answered ({count} capabilities)", answered_at)

    async def goodbye(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return None


async def probe_lsp(
    host: str,
    port: int,
    *,
    timeout: float = 3.0,
    root: Path | None = None,
    owner: bool = True,
    service: str = LSP,
) -> ServiceStatus:
    """A full LSP handshake; UP with the server's name/version when it gives `serverInfo`.

    `root` is the project directory to announce (Godot warns the client when it
    differs from the open project; None announces no workspace).
    """
    target = ProbeTarget(service, host, port)
    return await run_conversation(target, LspHandshake(root), timeout=timeout, owner=owner)


async def probe_dap(
    host: str, port: int, *, timeout: float = 3.0, owner: bool = True, service: str = DAP
) -> ServiceStatus:
    """A DAP `initialize`; UP when the adapter answers it with success."""
    target = ProbeTarget(service, host, port)
    return await run_conversation(target, DapHandshake(), timeout=timeout, owner=owner)


async def _reply_to(
    stream: FramedStream, matches: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first message `matches` accepts; notifications, events and server requests
    that arrive first are skipped."""
    for _ in range(MAX_SKIPPED):
        message = await stream.receive()
        if matches(message):
            return message
    raise BadAnswerError(f"sent {MAX_SKIPPED} messages but no answer to our request")


def _server_info(info: Any) -> str | None:
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        return None
    version = info.get("version")
    return f"{info['name']} {version}" if isinstance(version, str) and version else info["name"]


def _error_text(error: Any) -> str:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return str(error)[:120]
