"""`spacetime-panel status`: the six services checked once, as a port table.

The management API, the bridge HTTP API, telemetry, DAP, LSP and discovery,
against the configured host and ports: full handshakes where the peer takes
more than one client (LSP `initialize`, the bridge's `/status`, a WebSocket
upgrade), a passive look at the listening socket for DAP (Godot's and
debugpy's adapters serve one client, and a probe would use it up). Exit 0
when every expected service is up, else 1 (2 for a CA file that cannot be
used). The bridge key goes only where `key_policy` allows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from spacetime_panel.commands.addresses import (
    CA_HINT,
    EXIT_BAD_CA,
    add_tls_flags,
    http_client,
    take_address,
    untrusted,
)
from spacetime_panel.commands.common import (
    EXIT_USAGE,
    Subcommands,
    bridge_key,
    fail,
    settings_from,
    where_flags,
)
from spacetime_panel.config import ConfigError, Settings
from spacetime_panel.probes import ServiceMonitor, ServiceStatus
from spacetime_panel.probes.tls import TlsSetupError
from spacetime_panel.secrets import KeyringUnavailable

#: Beacons come once a second: wait a little longer than that for the first one.
BEACON_WAIT = 1.5


def add_parser(commands: Subcommands) -> None:
    status = commands.add_parser(
        "status",
        help="check the six services once and print the port table",
        description="Check the management API, the bridge HTTP API, telemetry, DAP, LSP and "
        "discovery against the configured host and ports (LSP with a real initialize, DAP by "
        "its listening socket only). Exit 0 when every expected service is up (the game's "
        "with the game, LSP/DAP with --editor or --demo), else 1.",
    )
    where_flags(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_tls_flags(status)
    status.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        take_address(args)
        settings = settings_from(args, launching=False)
    except (ConfigError, ValueError) as error:
        return fail(str(error), EXIT_USAGE)
    try:
        api_key = bridge_key()
    except KeyringUnavailable as error:
        return fail(f"cannot read the bridge key: {error}")
    return asyncio.run(
        run_status(
            settings,
            as_json=args.json,
            api_key=api_key,
            tls=args.tls,
            ca_file=args.ca_file,
        )
    )


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


async def run_status(
    settings: Settings,
    *,
    as_json: bool,
    api_key: str | None,
    tls: bool = False,
    ca_file: Path | None = None,
) -> int:
    """Check the six services once (full handshakes) and print the port table.

    The management API is asked over HTTPS with `tls`, a `ca_file` or a configured
    `api.tls_cert` (then trusted as the API's own certificate unless `ca_file` says
    otherwise).
    """
    try:
        api_client = http_client(ca_file) if ca_file is not None else None
    except TlsSetupError as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_BAD_CA
    async with httpx.AsyncClient(trust_env=False) as http:
        monitor = ServiceMonitor(settings, http, api_key=api_key, api_client=api_client)
        if tls or ca_file is not None:
            monitor.ports = replace(monitor.ports, api_tls=True)
        try:
            await monitor.listener.start()
            deadline = time.monotonic() + BEACON_WAIT
            while not monitor.listener.instances() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            statuses = await monitor.check_once(full=True)
        finally:
            await monitor.stop()
            if api_client is not None:
                await api_client.aclose()
    ok = monitor.all_expected_up()
    if ca_file is None and any(untrusted(s) for s in statuses):
        print(CA_HINT, file=sys.stderr)
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
