"""The editor's language server (LSP) and debug adapter (DAP), just enough to answer.

Both frame JSON with exactly one header, ``Content-Length: N\\r\\n\\r\\n``, as
Godot does (its parser reads the number at a fixed offset). Anything else on
the wire closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from spacetime_panel.sim.settings import GODOT_VERSION

HEADER_PREFIX = b"Content-Length: "
MAX_BODY = 8 * 1024 * 1024
SERVER_VERSION = GODOT_VERSION.split(".stable")[0]

LSP_CAPABILITIES: dict[str, Any] = {
    "textDocumentSync": {"openClose": True, "change": 1, "save": {"includeText": False}},
    "completionProvider": {
        "resolveProvider": True,
        "triggerCharacters": [".", "$", "'", '"', "("],
    },
    "hoverProvider": True,
    "signatureHelpProvider": {"triggerCharacters": ["(", ","]},
    "definitionProvider": True,
    "declarationProvider": True,
    "referencesProvider": True,
    "documentSymbolProvider": True,
    "workspaceSymbolProvider": True,
    "documentLinkProvider": {"resolveProvider": False},
    "renameProvider": {"prepareProvider": True},
    "colorProvider": False,
    "foldingRangeProvider": False,
}

DAP_CAPABILITIES: dict[str, Any] = {
    "supportsConfigurationDoneRequest": True,
    "supportsEvaluateForHovers": True,
    "supportsSetVariable": True,
    "supportsTerminateRequest": True,
    "supportsRestartRequest": True,
    "supportTerminateDebuggee": True,
    "supportsConditionalBreakpoints": False,
    "supportsFunctionBreakpoints": False,
    "exceptionBreakpointFilters": [],
}


class FramingError(ValueError):
    """The peer did not send ``Content-Length: N\\r\\n\\r\\n`` + N bytes of a JSON object."""


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next framed JSON object, or None at a clean end of stream."""
    try:
        prefix = await reader.readexactly(len(HEADER_PREFIX))
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FramingError("truncated header") from None
        return None
    if prefix != HEADER_PREFIX:
        raise FramingError("expected a Content-Length header")
    try:
        rest = await reader.readuntil(b"\r\n\r\n")
        length_text = rest[:-4]
        if not length_text.isdigit():
            raise FramingError("bad Content-Length")
        length = int(length_text)
        if length > MAX_BODY:
            raise FramingError("message too large")
        body = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise FramingError("truncated message") from None
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FramingError("body is not JSON") from None
    if not isinstance(message, dict):
        raise FramingError("body is not a JSON object")
    return message


def encode_message(message: dict[str, Any]) -> bytes:
    """Frame one JSON object with the single Content-Length header."""
    body = json.dumps(message).encode("utf-8")
    return HEADER_PREFIX + str(len(body)).encode() + b"\r\n\r\n" + body


Replies = list[dict[str, Any]]


class LspSession:
    """One LSP client: answers initialize and shutdown; ``exit`` ends the session."""

    def __init__(self) -> None:
        self.finished = False

    def handle(self, message: dict[str, Any]) -> Replies:
        method = message.get("method")
        msg_id = message.get("id")
        if method == "exit":
            self.finished = True
            return []
        if msg_id is None:
            return []  # notifications (initialized, didOpen, ...) need no answer
        if method == "initialize":
            result: Any = {
                "capabilities": LSP_CAPABILITIES,
                "serverInfo": {"name": "Godot Language Server (sim)", "version": SERVER_VERSION},
            }
        elif method == "shutdown":
            result = None
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            return [{"jsonrpc": "2.0", "id": msg_id, "error": error}]
        return [{"jsonrpc": "2.0", "id": msg_id, "result": result}]


class DapSession:
    """One DAP client: answers initialize (then the ``initialized`` event) and disconnect."""

    def __init__(self) -> None:
        self.finished = False
        self._seq = 0

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _response(
        self, request: dict[str, Any], *, success: bool = True, body: Any = None, message: str = ""
    ) -> dict[str, Any]:
        response: dict[str, Any] = {
            "seq": self._next_seq(),
            "type": "response",
            "request_seq": request.get("seq", 0),
            "success": success,
            "command": request.get("command", ""),
        }
        if body is not None:
            response["body"] = body
        if message:
            response["message"] = message
        return response

    def handle(self, message: dict[str, Any]) -> Replies:
        if message.get("type") != "request":
            return []
        command = message.get("command")
        if command == "initialize":
            event = {"seq": 0, "type": "event", "event": "initialized"}
            replies = [self._response(message, body=DAP_CAPABILITIES), event]
            event["seq"] = self._next_seq()
            return replies
        if command == "disconnect":
            self.finished = True
            return [self._response(message)]
        if command in ("launch", "attach", "configurationDone", "setBreakpoints"):
            return [self._response(message)]
        if command == "threads":
            return [self._response(message, body={"threads": [{"id": 1, "name": "Main"}]})]
        return [self._response(message, success=False, message=f"unsupported: {command}")]


Session = LspSession | DapSession


async def serve_session(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    session: Session,
    log: Callable[[str], None] | None = None,
) -> None:
    """Read framed requests, write framed replies, until the session ends or the peer errs."""
    try:
        while not session.finished:
            try:
                message = await read_message(reader)
            except FramingError as exc:
                if log is not None:
                    log(f"closing connection: {exc}")
                return
            if message is None:
                return
            for reply in session.handle(message):
                writer.write(encode_message(reply))
            await writer.drain()
    except (ConnectionError, OSError):
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def start_editor_server(
    port: int, make_session: Callable[[], Session], log: Callable[[str], None] | None = None
) -> asyncio.Server:
    """Listen on 127.0.0.1:``port``; each connection gets its own session."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_session(reader, writer, make_session(), log)

    return await asyncio.start_server(on_connect, "127.0.0.1", port, limit=64 * 1024)


class EditorPortBusyError(OSError):
    """The LSP or DAP port is taken."""


async def start_editor_services(
    lsp_port: int, dap_port: int, log: Callable[[str], None] | None = None
) -> list[asyncio.Server]:
    """Start the LSP then the DAP server; raise EditorPortBusyError naming the busy one."""
    servers: list[asyncio.Server] = []
    for label, port, factory in (
        ("language server (LSP)", lsp_port, LspSession),
        ("debug adapter (DAP)", dap_port, DapSession),
    ):
        try:
            servers.append(await start_editor_server(port, factory, log))
        except OSError as exc:
            for server in servers:
                server.close()
            raise EditorPortBusyError(
                f"ERROR: Failed to start the {label} on 127.0.0.1:{port}: {exc.strerror or exc}"
            ) from None
    return servers
