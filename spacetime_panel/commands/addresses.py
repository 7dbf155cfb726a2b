"""Addresses and HTTPS for the commands that look without launching (`status`, `probe`).

Both speak HTTPS to a server started with `serve --tls-cert/--tls-key`:
`--tls` (or an `https://` address), verified against `--ca-file` or the
system's CAs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx

from spacetime_panel.probes import ServiceStatus
from spacetime_panel.probes.tls import tls_context

#: The exit code for a CA file that cannot be used.
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


def http_client(ca_file: Path | None) -> httpx.AsyncClient:
    """A client that verifies against `ca_file`, or the system's CAs (TlsSetupError)."""
    verify = tls_context(ca_file) if ca_file is not None else True
    return httpx.AsyncClient(trust_env=False, verify=verify)


def untrusted(status: ServiceStatus) -> bool:
    """Whether a probe failed on an untrusted certificate (then the CA hint is printed)."""
    return status.detail.startswith("certificate verify failed")
