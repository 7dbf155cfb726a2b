"""The terminal commands that look without launching: `status` and `probe`.

Each returns an exit code: 0 when what was asked about is up, 1 otherwise
(2 for a CA file that cannot be used).

Both speak HTTPS to a server started with `serve --tls-cert/--tls-key`:
`--tls` (or an `https://` address), verified against `--ca-file` or the
system's CAs. The bridge key goes only where `key_policy` allows: loopback,
or a host in `godot.bridge_key_hosts`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
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
from spacetime_panel.probes.tls import TlsSetupError, tls_context

ProbeKind = Literal["lsp", "dap", "http", "ws", "tcp"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("lsp", "dap", "http", "ws", "tcp")

#: Beacons come once a second: wait a little longer than that for the first one.
BEACON_WAIT = 1.5
EXIT_BAD_CA = 2

CA_HINT = (
    "spacetime-panel: the server's certificate is not trusted here; "
    "pass the certificate (or its CA) with --ca-file FILE"
)


def split_address(text: str) -> tuple[str, int | None, bool | None]:
    """`https://HOST:PORT`, `http://HOST` or a bare HOST: (host, port or None, TLS or None).

    Raises ValueError for another scheme or a URL without a host.
    """
    if "://" not in text:
        return text, None, None
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise ValueError(f"{text}: not an address ({error}); ports are 1-65535") from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"{text}: only http:// and https:// addresses are understood")
    if not url.host:
        raise ValueError(f"{text}: no host in the address")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ValueError(f"{text}: port must be 1-65535 (got {url.port})")
    return url.host, url.port, url.scheme == "https"


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    """`--tls` and `--ca-file`, for `status` (the management API) and `probe http`."""
    tls = parser.add_argument_group("HTTPS (serve --tls-cert/--tls-key)")
    tls.add_argument(
        "--tls",
        action="store_true",
        help="speak HTTPS (also implied by an https:// --host or by --ca-file)",
    )
    tls.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="verify the server's certificate against this PEM file (default: the system's CAs)",
    )


def take_address(args: argparse.Namespace) -> None:
    """Split an `https://HOST:PORT` --host into --host, --port (unless given) and --tls.

    Raises ValueError with a one-line reason for an address that is not http(s).
    """
    if not getattr(args, "host", None):
        return
    try:
        host, port, tls = split_address(args.host)
    except ValueError as error:
        raise ValueError(f"argument --host: {error}") from None
    args.host = host
    if port is not None and getattr(args, "port", None) is None:
        args.port = port
    if tls:
        args.tls = True
    elif tls is False and args.ca_file is not None:
        raise ValueError("--ca-file is for HTTPS, and the address says http://")


def _http_client(ca_file: Path | None) -> httpx.AsyncClient:
    """A client that verifies against `ca_file`, or the system's CAs (TlsSetupError)."""
    verify = tls_context(ca_file) if ca_file is not None else True
    return httpx.AsyncClient(trust_env=False, verify=verify)


def _untrusted(status: ServiceStatus) -> bool:
    return status.detail.startswith("certificate verify failed")


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
        api_client = _http_client(ca_file) if ca_file is not None else None
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
    if ca_file is None and any(_untrusted(s) for s in statuses):
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


async def probe_once(
    kind: ProbeKind,
    host: str,
    port: int,
    *,
    timeout: float,
    api_key: str | None,
    key_hosts: Collection[str] = (),
    tls: bool = False,
    ca_file: Path | None = None,
) -> ServiceStatus:
    """One probe of one kind against any peer (`tls`/`ca_file`: HTTPS, for `http` only).

    Raises TlsSetupError for a CA file that cannot be used.
    """
    match kind:
        case "lsp":
            return await probe_lsp(host, port, timeout=timeout)
        case "dap":
            return await probe_dap(host, port, timeout=timeout)
        case "ws":
            return await probe_websocket(
                host, port, api_key=api_key, key_hosts=key_hosts, timeout=timeout
            )
        case "tcp":
            return await probe_tcp(host, port, timeout=timeout)
        case "http":
            scheme: Literal["http", "https"] = "https" if tls or ca_file else "http"
            async with _http_client(ca_file) as http:
                return await probe_bridge_http(
                    http,
                    host,
                    port,
                    api_key=api_key,
                    key_hosts=key_hosts,
                    timeout=timeout,
                    scheme=scheme,
                )


async def run_probe(
    kind: ProbeKind,
    host: str,
    port: int,
    *,
    as_json: bool,
    timeout: float,
    api_key: str | None,
    key_hosts: Collection[str] = (),
    tls: bool = False,
    ca_file: Path | None = None,
) -> int:
    try:
        status = await probe_once(
            kind,
            host,
            port,
            timeout=timeout,
            api_key=api_key,
            key_hosts=key_hosts,
            tls=tls,
            ca_file=ca_file,
        )
    except TlsSetupError as error:
        print(f"spacetime-panel: {error}", file=sys.stderr)
        return EXIT_BAD_CA
    if ca_file is None and _untrusted(status):
        print(CA_HINT, file=sys.stderr)
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        latency = "" if status.latency_ms is None else f" in {status.latency_ms:.1f} ms"
        server = f" [{status.server}]" if status.server else ""
        print(f"{kind} {host}:{port}: {status.state.value}{latency}{server}: {status.detail}")
    return 0 if status.state is ServiceState.UP else 1
