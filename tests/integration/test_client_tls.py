"""`status`, `probe http` and the panel's own API row speak HTTPS (issue 9, item 4, client side).

A small HTTPS server on 127.0.0.1 with a self-signed certificate made in the
test stands in for `serve --tls-cert/--tls-key` (and a bridge behind TLS):
trusted through `--ca-file` it is up; without it the row says "certificate
verify failed".
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from spacetime_panel.commands.probe import probe_once
from spacetime_panel.config.settings import Settings
from spacetime_panel.probes import MANAGEMENT_API, ServiceMonitor, ServiceState
from tests.certificates import self_signed
from tests.conftest import TIME_SCALE, free_port
from tests.integration.conftest import PANEL

TIMEOUT = 5.0 * TIME_SCALE


class Answers(BaseHTTPRequestHandler):
    """`/status` as a bridge answers it, `/health` as the management API does."""

    def do_GET(self) -> None:
        if self.path == "/status":
            body: dict[str, Any] = {
                "bridge": {"pid": 4242, "version": "1.0", "godot_version": "4.5"},
                "overall_ready": True,
            }
        elif self.path == "/health":
            body = {"server": "spacetime-panel (tls test)", "overall_healthy": True}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class TlsServer(ThreadingHTTPServer):
    """HTTPS, the handshake in each request's own thread (a failed one ends only that)."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), Answers)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust us, or speaks plain HTTP
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


@dataclass
class Https:
    port: int
    cert: Path
    other_cert: Path


@contextlib.contextmanager
def serving_https(folder: Path, name: str, **names: Any) -> Iterator[Https]:
    """An HTTPS server on 127.0.0.1 with a fresh self-signed certificate (and another one
    it does not use, for a client that trusts the wrong certificate)."""
    cert, _ = self_signed(folder, name, **names)
    other, _ = self_signed(folder, f"{name}-other")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, folder / f"{name}.key")
    server = TlsServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Https(server.server_address[1], cert, other)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def https(tmp_path: Path) -> Iterator[Https]:
    with serving_https(tmp_path, "server") as server:
        yield server


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PANEL, *args], capture_output=True, text=True, timeout=60 * TIME_SCALE)


async def test_probe_http_is_up_over_https_with_the_ca_file(https: Https) -> None:
    status = await probe_once(
        "http", "127.0.0.1", https.port, timeout=TIMEOUT, api_key=None, tls=True,
        ca_file=https.cert,
    )  # fmt: skip
    assert status.state is ServiceState.UP, status.detail
    assert status.server == "bridge 1.0, Godot 4.5"


async def test_probe_http_without_the_ca_says_certificate_verify_failed(https: Https) -> None:
    untrusted = await probe_once(
        "http", "127.0.0.1", https.port, timeout=TIMEOUT, api_key=None, tls=True
    )
    assert untrusted.state is ServiceState.DEGRADED
    assert untrusted.detail.startswith("certificate verify failed"), untrusted.detail
    wrong_ca = await probe_once(
        "http", "127.0.0.1", https.port, timeout=TIMEOUT, api_key=None, ca_file=https.other_cert
    )
    assert wrong_ca.detail.startswith("certificate verify failed"), wrong_ca.detail


async def test_plain_http_to_the_https_port_is_not_up(https: Https) -> None:
    plain = await probe_once("http", "127.0.0.1", https.port, timeout=TIMEOUT, api_key=None)
    assert plain.state is not ServiceState.UP, plain.detail


async def test_https_to_a_plain_http_port_says_the_tls_handshake_failed(
    unused_port: int,
) -> None:
    with socket.create_server(("127.0.0.1", unused_port)) as plain:

        def answer_like_http() -> None:
            connection, _ = plain.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_like_http, daemon=True)
        thread.start()
        status = await probe_once(
            "http", "127.0.0.1", unused_port, timeout=TIMEOUT, api_key=None, tls=True
        )
        thread.join(TIMEOUT)
    assert status.state is ServiceState.DEGRADED
    assert status.detail.startswith("TLS handshake failed"), status.detail


def test_probe_http_command_trusts_the_ca_file_given(https: Https) -> None:
    address = f"https://127.0.0.1:{https.port}"
    trusted = run_cli("probe", "http", "--host", address, "--ca-file", str(https.cert), "--json")
    assert trusted.returncode == 0, (trusted.stdout, trusted.stderr)
    assert json.loads(trusted.stdout)["state"] == "up"

    flagged = run_cli(
        "probe", "http", "--port", str(https.port), "--tls", "--ca-file", str(https.cert)
    )
    assert flagged.returncode == 0, (flagged.stdout, flagged.stderr)

    untrusted = run_cli("probe", "http", "--host", address, "--json")
    assert untrusted.returncode == 1
    assert "certificate verify failed" in json.loads(untrusted.stdout)["detail"]
    assert "--ca-file" in untrusted.stderr


def test_probe_command_refuses_a_ca_file_it_cannot_read(tmp_path: Path, https: Https) -> None:
    missing = run_cli(
        "probe", "http", "--port", str(https.port), "--ca-file", str(tmp_path / "none.pem")
    )
    assert missing.returncode == 2
    assert "cannot use" in missing.stderr and "Traceback" not in missing.stderr
    not_for_lsp = run_cli("probe", "lsp", "--port", str(https.port), "--tls")
    assert not_for_lsp.returncode == 2 and "probe http" in not_for_lsp.stderr


def test_status_command_asks_the_management_api_over_https(https: Https) -> None:
    where = ["--no-game", "--discovery-port", str(free_port(socket.SOCK_DGRAM)), "--json"]
    trusted = run_cli(
        "status", "--port", str(https.port), "--tls", "--ca-file", str(https.cert), *where
    )
    assert trusted.returncode == 0, (trusted.stdout, trusted.stderr)
    rows = {row["service"]: row for row in json.loads(trusted.stdout)["services"]}
    assert rows[MANAGEMENT_API]["state"] == "up"
    assert rows[MANAGEMENT_API]["server"] == "spacetime-panel (tls test)"

    untrusted = run_cli("status", "--host", f"https://127.0.0.1:{https.port}", *where)
    assert untrusted.returncode == 1
    rows = {row["service"]: row for row in json.loads(untrusted.stdout)["services"]}
    assert rows[MANAGEMENT_API]["state"] == "degraded"
    assert rows[MANAGEMENT_API]["detail"].startswith("certificate verify failed")
    assert "--ca-file" in untrusted.stderr


async def test_the_panel_checks_its_own_api_over_https_trusting_its_own_certificate(
    tmp_path: Path,
) -> None:
    """With `api.tls_cert` set, the port table's first row asks over HTTPS and trusts
    exactly that certificate, even when its names do not include 127.0.0.1."""
    with serving_https(tmp_path, "named", dns="panel.example", ip=False) as https:
        await check_own_api(https, tmp_path)


async def check_own_api(https: Https, tmp_path: Path) -> None:
    def api_row(cert: Path) -> Any:
        settings = Settings.model_validate(
            {
                "api": {"port": https.port, "tls_cert": cert, "tls_key": cert},
                "godot": {"launch_game": False},
                "ports": {"discovery": free_port(socket.SOCK_DGRAM)},
            }
        )

        async def check() -> Any:
            async with httpx.AsyncClient(trust_env=False) as http:
                monitor = ServiceMonitor(settings, http, timeout=TIMEOUT)
                try:
                    statuses = await monitor.check_once(full=False)
                finally:
                    await monitor.stop()
            return next(s for s in statuses if s.service == MANAGEMENT_API)

        return check()

    own = await api_row(https.cert)
    assert own.state is ServiceState.UP, own.detail
    assert own.server == "spacetime-panel (tls test)"
    foreign = await api_row(https.other_cert)
    assert foreign.state is ServiceState.DEGRADED
    assert foreign.detail.startswith("certificate verify failed"), foreign.detail
    missing = await api_row(tmp_path / "gone.pem")
    assert missing.state is ServiceState.DEGRADED and "cannot use" in missing.detail
