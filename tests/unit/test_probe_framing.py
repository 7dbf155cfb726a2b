"""Content-Length framing: what we send is what Godot parses; what we read is tolerant."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetime_panel.probes.framing import FrameParser, FramingError, encode_frame, parse_header


def frame(body: bytes, *headers: bytes) -> bytes:
    head = [b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def test_we_send_exactly_one_content_length_header() -> None:
    data = encode_frame({"id": 1, "method": "initialize"})
    head, _, body = data.partition(b"\r\n\r\n")
    # Godot reads the number at a fixed offset right after "Content-Length: ".
    assert head == b"Content-Length: " + str(len(body)).encode()
    assert json.loads(body) == {"id": 1, "method": "initialize"}


def test_a_single_header_frame_parses() -> None:
    assert FrameParser().feed(frame(b'{"id": 1}')) == [{"id": 1}]


def test_extra_headers_and_any_case_are_tolerated() -> None:
    body = b'{"result": {}}'
    data = b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8" % len(
        body
    )
    assert FrameParser().feed(data + b"\r\n\r\n" + body) == [{"result": {}}]
    assert FrameParser().feed(frame(body, b"Content-Type: x")) == [{"result": {}}]


def test_two_messages_in_one_read_and_one_message_in_pieces() -> None:
    parser = FrameParser()
    assert parser.feed(frame(b"{}") + frame(b'{"a": 2}')) == [{}, {"a": 2}]
    data = frame(b'{"b": 3}')
    assert parser.feed(data[:5]) == []
    assert parser.feed(data[5:20]) == []
    assert parser.pending > 0
    assert parser.feed(data[20:]) == [{"b": 3}]
    assert parser.pending == 0


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    messages = [{"id": i, "text": "é" * i} for i in range(4)]
    data = b"".join(encode_frame(m) for m in messages)
    parser, received, at = FrameParser(), [], 0
    for size in cuts:
        received += parser.feed(data[at : at + size])
        at += size
    received += parser.feed(data[at:])
    assert received == messages


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "bad header"),
        (b"HTTP/1.1 200 OK\r\nServer: x", "bad header"),
        (b"Content-Length: twelve\r\n\r\n{}", "bad header"),
        (b"Content-Type: json\r\n\r\n{}", "no Content-Length"),
        (b"Content-Length: 3\r\n\r\nabc", "not JSON"),
        (b"Content-Length: 2\r\n\r\n[]", "not a JSON object"),
        (b"Content-Length: 999999999\r\n\r\n", "too large"),
        (b"x" * 9000, "bad header"),
    ],
)
def test_garbage_is_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FramingError, match=reason):
        FrameParser().feed(data)


def test_header_parser_reads_the_length() -> None:
    assert parse_header(b"Content-Length: 42") == 42
    assert parse_header(b"Content-Type: a\r\nCONTENT-LENGTH:7") == 7
    with pytest.raises(FramingError):
        parse_header(b"Content-Length: -1")
