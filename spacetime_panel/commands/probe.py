"""`spacetime-panel probe KIND`: one probe against any peer.

Real LSP and DAP handshakes, the bridge's HTTP `/status` (HTTPS with `--tls`
or an `https://` address), a WebSocket upgrade, or a TCP connect. Exit 0 when
the peer is up, else 1 (2 for usage or a CA file that cannot be used). The
bridge key goes only where `key_policy` allows: loopback, or a host in
`godot.bridge_key_hosts`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from spacetime_panel.commands.addresses import (
    CA_HINT,
    EXIT_BAD_CA,
    add_tls_flags,
    http_client,
    take_address,
    untrusted,
)
from spacetime_panel.commands.arguments import port, positive_seconds
from spacetime_panel.commands.common import (
    EXIT_ERROR,
    EXIT_USAGE,
    Subcommands,
    bridge_key,
    fail,
)
from spacetime_panel.config import ConfigError, load_settings
from spacetime_panel.probes import (
    ServiceState,
    ServiceStatus,
    probe_bridge_http,
    probe_dap,
    probe_lsp,
    probe_tcp,
    probe_websocket,
)
from spacetime_panel.probes.tls import TlsSetupError
from spacetime_panel.secrets import KeyringUnavailable

ProbeKind = Literal["lsp", "dap", "http", "ws", "tcp"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("lsp", "dap", "http", "ws", "tcp")

PROBE_TIMEOUT = 3.0
LSP_PROBE_TIMEOUT = 10.0


def default_probe_timeout(kind: str) -> float:
    """A Godot editor that has just opened can take seconds to answer its first LSP
    `initialize`: `probe lsp` waits longer than the other probes by default."""
    return LSP_PROBE_TIMEOUT if kind == "lsp" else PROBE_TIMEOUT


def add_parser(commands: Subcommands) -> None:
    probe = commands.add_parser(
        "probe",
        help="one probe against any peer (real LSP/DAP handshakes, HTTP, WebSocket, TCP)",
        description="Probe one service. Exit 0 when it is up.",
    )
    probe.add_argument("kind", choices=PROBE_KINDS, help="what to speak to the peer")
    probe.add_argument(
        "--host", default="127.0.0.1", help="address, or https://HOST:PORT for probe http"
    )
    probe.add_argument("--port", type=port, help="port (required unless --host has one)")
    probe.add_argument(
        "--timeout",
        type=positive_seconds,
        help=f"seconds (default {PROBE_TIMEOUT:g}; lsp {LSP_PROBE_TIMEOUT:g}: an editor that "
        "has just opened takes seconds to answer its first initialize)",
    )
    probe.add_argument("--json", action="store_true", help="print JSON")
    probe.add_argument(
        "--config",
        type=Path,
        help="config file (its godot.bridge_key_hosts may receive the bridge key)",
    )
    add_tls_flags(probe)
    probe.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """`spacetime-panel probe KIND --host H --port P [--tls] [--ca-file F]`."""
    try:
        take_address(args)
        key_hosts = load_settings(config_file=args.config).godot.bridge_key_hosts
    except (ConfigError, ValueError) as error:
        return fail(str(error), EXIT_USAGE)
    except FileNotFoundError as error:
        return fail(str(error), EXIT_ERROR)
    if args.port is None:
        return fail("probe needs --port (or a --host with a port)", EXIT_USAGE)
    if (args.tls or args.ca_file is not None) and args.kind != "http":
        return fail("--tls and --ca-file are for probe http", EXIT_USAGE)
    timeout = args.timeout if args.timeout is not None else default_probe_timeout(args.kind)
    try:
        api_key = bridge_key()
    except KeyringUnavailable as error:
        return fail(f"cannot read the bridge key: {error}")
    return asyncio.run(
        run_probe(
            args.kind,
            args.host,
            args.port,
            as_json=args.json,
            timeout=timeout,
            api_key=api_key,
            key_hosts=key_hosts,
            tls=args.tls,
            ca_file=args.ca_file,
        )
    )


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
            async with http_client(ca_file) as http:
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
    if ca_file is None and untrusted(status):
        print(CA_HINT, file=sys.stderr)
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        latency = "" if status.latency_ms is None else f" in {status.latency_ms:.1f} ms"
        server = f" [{status.server}]" if status.server else ""
        print(f"{kind} {host}:{port}: {status.state.value}{latency}{server}: {status.detail}")
    return 0 if status.state is ServiceState.UP else 1
