"""The terminal commands that look without launching: `status` and `probe`.

Each returns an exit code: 0 when what was asked about is up, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Literal

import httpx

from spacetime_panel.config.settings import Settings
from spacetime_panel.probes import (
    ServiceMonitor,
    ServiceState,
    ServiceStatus,
    probe_bridge_http,
    probe_dap,
    probe_lsp,
    probe_tcp,
    probe_websocket,
)

ProbeKind = Literal["lsp", "dap", "http", "ws", "tcp"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("lsp", "dap", "http", "ws", "tcp")

#: Beacons come once a second: wait a little longer than that for the first one.
BEACON_WAIT = 1.5


def format_table(statuses: Sequence[ServiceStatus], expected: frozenset[str]) -> str:
    """The port table as aligned text: service, port, state, latency, owner, detail."""
    header = ("SERVICE", "PORT", "STATE", "LATENCY", "OWNER", "DETAIL")
    rows = [header]
    for status in statuses:
        latency = "" if status.latency_ms is None else f"{status.latency_ms:.1f} ms"
        owner = ""
        if status.owner_pid is not None:
            owner = f"{status.owner_name or '?'} ({status.owner_pid})"
        name = status.service if status.service in expected else f"{status.service} (optional)"
        port = f"{status.port}/{status.protocol}"
        state = status.state.value.upper()
        rows.append((name, port, state, latency, owner, status.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


async def run_status(settings: Settings, *, as_json: bool, api_key: str | None) -> int:
    """Check the six services once (full handshakes) and print the port table."""
    async with httpx.AsyncClient(trust_env=False) as http:
        monitor = ServiceMonitor(settings, http, api_key=api_key)
        try:
            await monitor.listener.start()
            deadline = time.monotonic() + BEACON_WAIT
            while not monitor.listener.instances() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            statuses = await monitor.check_once(full=True)
        finally:
            await monitor.stop()
    ok = monitor.all_expected_up()
    if as_json:
        print(
            json.dumps(
                {
                    "all_expected_up": ok,
                    "expected": sorted(monitor.expected),
                    "services": [s.to_json() for s in statuses],
                },
                indent=2,
            )
        )
    else:
        print(format_table(statuses, monitor.expected))
        print("all expected services are up" if ok else "some expected services are not up")
    return 0 if ok else 1


async def probe_once(
    kind: ProbeKind, host: str, port: int, *, timeout: float, api_key: str | None
) -> ServiceStatus:
    """One probe of one kind against any peer."""
    match kind:
        case "lsp":
            return await probe_lsp(host, port, timeout=timeout)
        case "dap":
            return await probe_dap(host, port, timeout=timeout)
        case "ws":
            return await probe_websocket(host, port, api_key=api_key, timeout=timeout)
        case "tcp":
            return await probe_tcp(host, port, timeout=timeout)
        case "http":
            async with httpx.AsyncClient(trust_env=False) as http:
                return await probe_bridge_http(http, host, port, api_key=api_key, timeout=timeout)


async def run_probe(
    kind: ProbeKind,
    host: str,
    port: int,
    *,
    as_json: bool,
    timeout: float,
    api_key: str | None,
) -> int:
    status = await probe_once(kind, host, port, timeout=timeout, api_key=api_key)
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        latency = "" if status.latency_ms is None else f" in {status.latency_ms:.1f} ms"
        server = f" [{status.server}]" if status.server else ""
        print(f"{kind} {host}:{port}: {status.state.value}{latency}{server}: {status.detail}")
    return 0 if status.state is ServiceState.UP else 1
