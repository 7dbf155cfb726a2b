"""The management API's listening socket."""

from __future__ import annotations

import socket

from spacetime_panel.api.server import bind_socket


def test_the_socket_says_tcp_so_asyncio_turns_nagle_off() -> None:
    # asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; with
    # protocol 0 each keep-alive request after the first waited ~40 ms (api_load bench).
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
