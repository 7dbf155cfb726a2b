"""How probe failures become port-table rows, and the row's JSON."""

from __future__ import annotations

import asyncio

import pytest

from spacetime_panel.probes.status import (
    BadAnswerError,
    PeerClosedError,
    ProbeTarget,
    ServiceState,
    is_local_host,
    status_for_error,
)

TARGET = ProbeTarget("lsp", "127.0.0.1", 6005)


@pytest.mark.parametrize(
    ("error", "accepted", "state", "detail"),
    [
        (ConnectionRefusedError(), False, ServiceState.DOWN, "connection refused"),
        (TimeoutError(), False, ServiceState.DOWN, "no answer to connect within 2 s"),
        (TimeoutError(), True, ServiceState.DEGRADED, "accepted but did not answer within 2 s"),
        (BadAnswerError("bad header: 'HTTP/1.1'"), True, ServiceState.DEGRADED, "bad header"),
        (PeerClosedError("closed the connection without answering"), True,
         ServiceState.DEGRADED, "closed the connection"),
        (ConnectionResetError(), True, ServiceState.DEGRADED, "closed the connection"),
        (asyncio.IncompleteReadError(b"", 4), True, ServiceState.DEGRADED, "closed"),
        (OSError(113, "No route to host"), False, ServiceState.DOWN, "No route to host"),
    ],
)  # fmt: skip
def test_failures_map_to_down_or_degraded(
    error: BaseException, accepted: bool, state: ServiceState, detail: str
) -> None:
    status = status_for_error(TARGET, error, accepted=accepted, timeout=2.0)
    assert status.state is state
    assert detail in status.detail
    assert (status.service, status.port, status.protocol) == ("lsp", 6005, "tcp")


def test_status_json_is_plain_and_complete() -> None:
    status = TARGET.status(ServiceState.UP, "ok", latency_ms=1.23456, server="pylsp 1.0")
    body = status.to_json()
    assert body["state"] == "up"
    assert body["latency_ms"] == 1.23
    assert body["server"] == "pylsp 1.0"
    assert set(body) == {
        "service", "host", "port", "protocol", "state", "latency_ms", "detail",
        "owner_pid", "owner_name", "checked_at", "server",
    }  # fmt: skip
    assert body["checked_at"] > 1_600_000_000  # wall clock, for the UI's "checked at"


def test_local_hosts() -> None:
    assert is_local_host("127.0.0.1")
    assert is_local_host("localhost")
    assert is_local_host("::1")
    assert not is_local_host("192.0.2.7")
    assert not is_local_host("example.org")
