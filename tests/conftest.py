"""Shared fixtures: free ports, a time unit that slow machines can scale."""

from __future__ import annotations

import os
import socket

import pytest

# Multiply every wait in the tests by this on slow machines (SPACETIME_TEST_TIME_SCALE=3).
TIME_SCALE = float(os.environ.get("SPACETIME_TEST_TIME_SCALE", "1"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()
