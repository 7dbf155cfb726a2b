"""LSP/DAP framing and sessions of the simulated editor, without sockets."""

from __future__ import annotations

import asyncio
import json

import pytest

from spacetime_panel.sim.editor import (
    DapSession,
    FramingError,
    LspSession,
    encode_message,
    read_message,
)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_encode_uses_exactly_one_header() -> None:
    frame = encode_message({"a": 1})
    header, body = frame.split(b"\r\n\r\n", 1)
    assert header == b"Content-Length: %d" % len(body)
    assert json.loads(body) == {"a": 1}


async def test_read_round_trips_and_ends_cleanly() -> None:
    reader = _reader(encode_message({"id": 1}) + encode_message({"id": 2}))
    assert await read_message(reader) == {"id": 1}
    assert await read_message(reader) == {"id": 2}
    assert await read_message(reader) is None


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Type: x\r\n\r\n",
        b"Content-Length: 5\r\nContent-Type: x\r\n\r\n{}",
        b"Content-Length: 10\r\n\r\n{}",
        b"Content-Length: 2\r\n\r\n[]",
        b"Content-Length: 3\r\n\r\n{x}",
        b"Content-",
    ],
)
async def test_bad_frames_are_refused(data: bytes) -> None:
    with pytest.raises(FramingError):
        await read_message(_reader(data))


def test_lsp_session() -> None:
    session = LspSession()
    (reply,) = session.handle({"jsonrpc": "2.0", "id": 1, "method": "initialize"})
    assert reply["result"]["serverInfo"]["version"].startswith("4.5")
    assert session.handle({"jsonrpc": "2.0", "method": "initialized"}) == []
    (error,) = session.handle({"jsonrpc": "2.0", "id": 2, "method": "textDocument/nope"})
    assert error["error"]["code"] == -32601
    assert session.handle({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})[0]["result"] is None
    assert not session.finished
    session.handle({"jsonrpc": "2.0", "method": "exit"})
    assert session.finished


def test_dap_session_sequence_numbers_increase() -> None:
    session = DapSession()
    response, event = session.handle({"seq": 1, "type": "request", "command": "initialize"})
    assert (response["command"], response["request_seq"], response["success"]) == (
        "initialize",
        1,
        True,
    )
    assert event == {"seq": response["seq"] + 1, "type": "event", "event": "initialized"}
    (unknown,) = session.handle({"seq": 2, "type": "request", "command": "stackTrace"})
    assert unknown["success"] is False
    (bye,) = session.handle({"seq": 3, "type": "request", "command": "disconnect"})
    assert bye["success"] and session.finished
    assert bye["seq"] > unknown["seq"] > event["seq"]
