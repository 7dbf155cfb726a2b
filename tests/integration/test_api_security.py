"""The management API's defences on real sockets: the panel's own service in the test's
loop (as the GUI runs it), on the simulated game where a game matters, and a few
`serve` children for what only the command line shows (exit codes, messages).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from spacetime_panel.api.audit import AUDIT_FILE, fingerprint
from spacetime_panel.api.security import ManagementKeys
from spacetime_panel.secrets.tokens import issue_token
from spacetime_panel.service.panel_service import PanelService
from tests.certificates import self_signed
from tests.conftest import TIME_SCALE
from tests.integration.conftest import Serve, panel_settings, wait_until

CONTROL = "control-key-for-tests-0123456789abcdefghijk"
READ = "read-key-for-tests-0123456789abcdefghijklmn"
EVIL = "https://evil.example"
FORM = "application/x-www-form-urlencoded"

StartPanel = Callable[..., Awaitable[PanelService]]


@pytest.fixture
async def start_panel(project: Path, tmp_path: Path) -> AsyncIterator[StartPanel]:
    """Start the panel's service in this loop; everything started is stopped afterwards."""
    started: list[PanelService] = []

    async def start(
        *, keys: ManagementKeys | None = None, game: bool = False, **api: Any
    ) -> PanelService:
        settings = panel_settings(project, tmp_path, game=game, **api)
        service = PanelService(settings, api_key=None, keys=keys or ManagementKeys())
        started.append(service)
        await service.start()
        return service

    yield start
    for service in started:
        await service.stop()


async def healthy_game(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    body: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal body
        body = (await http.get(url + "/health")).json()
        return bool(body["overall_healthy"] and body["player"]["spawned"])

    deadline = time.monotonic() + 20 * TIME_SCALE
    while not await check():
        assert time.monotonic() < deadline, f"the game never became healthy: {body}"
        await asyncio.sleep(0.05)
    return body


# Cross-site requests and DNS rebinding -----------------------------------------------


async def test_cross_site_posts_and_foreign_hosts_change_nothing(
    start_panel: StartPanel, tmp_path: Path
) -> None:
    panel = await start_panel(game=True)
    async with httpx.AsyncClient(base_url=panel.url, timeout=30) as http:
        before = await healthy_game(http, panel.url)
        pid = before["godot_process"]["pid"]

        attempts = [
            ("/stop", b"", "text/plain"),
            ("/stop", b'{"program": "game"}', "text/plain"),
            ("/stop", b"program=game", FORM),
            ("/restart", b"", "text/plain;charset=UTF-8"),
            ("/restart", b"program=all", FORM),
            ("/scene/load", b'{"path": "res://scenes/test_room.tscn"}', "text/plain"),
            ("/scene/load", b"path=res://scenes/test_room.tscn", FORM),
        ]  # fmt: skip
        for path, body, content_type in attempts:
            response = await http.post(
                path, content=body, headers={"content-type": content_type, "origin": EVIL}
            )
            assert response.status_code == 415, (path, content_type, response.text)
            assert "application/json" in response.json()["message"]
        # The same with a rebinding name in Host: refused before anything else.
        for path in ("/stop", "/health"):
            rebound = await http.request(
                "POST" if path == "/stop" else "GET",
                path,
                headers={"host": "evil.example:8090", "origin": EVIL, "content-type": "text/plain"},
            )
            assert rebound.status_code == 403
            assert "api.allowed_hosts" in rebound.json()["message"]

        after = (await http.get("/health")).json()
        assert after["godot_process"]["pid"] == pid
        assert after["programs"]["game"]["state"] == "RUNNING"
        assert after["scene"]["name"] == "vr_main"
        assert after["overall_healthy"] is True

    audit = (tmp_path / "logs" / AUDIT_FILE).read_text().splitlines()
    assert sum(line.endswith("-> 415") for line in audit) == len(attempts)
    assert sum(line.endswith("-> 403") for line in audit) == 1


async def test_allowed_hosts_widen_the_host_check(start_panel: StartPanel) -> None:
    panel = await start_panel(allowed_hosts=("panel.example",))
    async with httpx.AsyncClient(base_url=panel.url) as http:
        assert (await http.get("/health", headers={"host": "panel.example"})).status_code == 200
        assert (await http.get("/health", headers={"host": "other.example"})).status_code == 403
        assert (await http.get("/health", headers={"host": "localhost"})).status_code == 200


# Keys on every protected route -------------------------------------------------------

#: The body each mutating route gets in the key test (in this order: the game ends started).
POST_BODIES: dict[str, dict[str, str]] = {
    "/scene/reload": {},
    "/scene/load": {"path": "res://scenes/test_room.tscn"},
    "/restart": {"program": "game"},
    "/stop": {"program": "game"},
    "/start": {"program": "game"},
}


async def test_every_protected_route_needs_the_key_and_the_read_key_only_reads(
    start_panel: StartPanel, tmp_path: Path
) -> None:
    panel = await start_panel(game=True, keys=ManagementKeys(control=CONTROL, read=READ))
    control = {"authorization": f"Bearer {CONTROL}"}
    read = {"authorization": f"Bearer {READ}"}
    async with httpx.AsyncClient(base_url=panel.url, timeout=60) as http:
        await healthy_game(http, panel.url)
        document = (await http.get("/openapi.json", headers=read)).json()
        routes = {
            (method.upper(), path)
            for path, operations in document["paths"].items()
            for method in operations
        } | {("GET", "/openapi.json"), ("GET", "/docs")}
        gets = sorted(path for method, path in routes if method == "GET")
        posts = [path for path in POST_BODIES if ("POST", path) in routes]
        assert {path for method, path in routes if method == "POST"} == set(POST_BODIES)
        assert {"/logs", "/status", "/services", "/telemetry/summary"} <= set(gets)

        async def call(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
            if method == "GET":
                params = {"lines": "5"} if path == "/logs" else None
                return await http.get(path, headers=headers, params=params)
            return await http.post(path, json=POST_BODIES[path], headers=headers)

        for method, path in sorted(routes):
            open_path = path in ("/health", "/metrics")
            for wrong in ({}, {"authorization": "Bearer not-the-key"}):
                response = await call(method, path, wrong)
                if open_path:
                    assert response.status_code in (200, 503), (path, response.status_code)
                else:
                    assert response.status_code == 401, (method, path, response.text)
                    assert response.json()["error"] == "Unauthorized"
        for path in gets:
            for key in (read, control):
                response = await call("GET", path, key)
                assert 200 <= response.status_code < 300, (path, response.text)
        for path in posts:
            refused = await call("POST", path, read)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["message"].startswith("read-only key: POST")
        for path in posts:
            response = await call("POST", path, control)
            assert 200 <= response.status_code < 300, (path, response.text)

        # Signed tokens: read and control scopes, and an expired one.
        read_token = {"authorization": f"Bearer {issue_token(CONTROL, 'read', 60)}"}
        control_token = {"authorization": f"Bearer {issue_token(CONTROL, 'control', 60)}"}
        expired = issue_token(CONTROL, "control", 60, now=time.time() - 600)
        assert (await http.get("/logs", headers=read_token)).status_code == 200
        assert (await call("POST", "/scene/reload", read_token)).status_code == 403
        await healthy_game(http, panel.url)
        assert (await call("POST", "/scene/reload", control_token)).status_code == 202
        late = await call("POST", "/stop", {"authorization": f"Bearer {expired}"})
        assert late.status_code == 401
        assert late.json()["message"].startswith("token expired at ")

    audit = (tmp_path / "logs" / AUDIT_FILE).read_text()
    for path in posts:
        assert f"POST {path} " in audit
    assert CONTROL not in audit and READ not in audit and expired not in audit
    panel_log = tmp_path / "logs" / "spacetime-panel.log"
    if panel_log.exists():
        assert CONTROL not in panel_log.read_text()


# Rate limit and forwarded clients over a real socket ----------------------------------


async def test_rate_limit_holds_whatever_x_forwarded_for_says(start_panel: StartPanel) -> None:
    panel = await start_panel(rate_limit_per_minute=3)
    async with httpx.AsyncClient(base_url=panel.url) as http:
        codes = []
        for index in range(5):
            response = await http.get("/logs", headers={"x-forwarded-for": f"10.1.2.{index}"})
            codes.append(response.status_code)
        assert codes == [200, 200, 200, 429, 429]
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"] == "Too Many Requests"


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_budget(
    start_panel: StartPanel,
) -> None:
    panel = await start_panel(rate_limit_per_minute=2, trusted_proxies=("127.0.0.1",))
    async with httpx.AsyncClient(base_url=panel.url) as http:
        for client in ("203.0.113.7", "198.51.100.4"):
            headers = {"x-forwarded-for": client}
            codes = [(await http.get("/logs", headers=headers)).status_code for _ in range(3)]
            assert codes == [200, 200, 429], client


# Body size over a real socket --------------------------------------------------------


async def test_declared_and_chunked_oversized_bodies_are_413(start_panel: StartPanel) -> None:
    panel = await start_panel(max_request_size_mb=0.01)  # 10 KiB
    chunks_sent = 0

    async def chunked() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield b'{"path": "res://'
        for _ in range(64):
            chunks_sent += 1
            yield b"a" * 1024
        yield b'.tscn"}'

    async with httpx.AsyncClient(base_url=panel.url, timeout=30) as http:
        declared = await http.post(
            "/scene/load", content=b"{" + b" " * 20_000 + b"}",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert declared.status_code == 413
        streamed = await http.post(
            "/scene/load", content=chunked(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.request.headers["transfer-encoding"] == "chunked"
        assert streamed.status_code == 413
        assert streamed.json() == {
            "error": "Payload Too Large",
            "message": "request body over 10485 bytes",
        }
        # The connection is still good for the next request.
        assert (await http.get("/health")).status_code == 200


# Slow and idle clients ---------------------------------------------------------------


async def test_idle_and_half_sent_connections_do_not_pin_the_server(
    start_panel: StartPanel,
) -> None:
    panel = await start_panel(request_timeout=2.0)
    host, port = "127.0.0.1", int(panel.url.rsplit(":", 1)[1])
    idle = [await asyncio.open_connection(host, port) for _ in range(200)]
    half = [await asyncio.open_connection(host, port) for _ in range(50)]
    for index, (_, writer) in enumerate(half):
        head = "POST /stop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        writer.write((head + "Content-Length: 100\r\n\r\n{" if index % 2 else head).encode())
        await writer.drain()
    try:
        async with httpx.AsyncClient(base_url=panel.url) as http:
            started = time.perf_counter()
            response = await http.get("/health")
            latency = time.perf_counter() - started
            print(f"/health with 200 idle and 50 half-sent connections: {latency * 1000:.1f} ms")
            assert response.status_code == 200
            assert latency < 1.0 * TIME_SCALE

        # The server lets go of them after api.request_timeout.
        async with asyncio.timeout(10 * TIME_SCALE):
            ends = await asyncio.gather(*(reader.read(1024) for reader, _ in half + idle[:20]))
        assert all(end == b"" for end in ends)
    finally:
        for _, writer in idle + half:
            writer.close()


# HTTPS -------------------------------------------------------------------------------


async def test_https_with_a_self_signed_certificate(
    start_panel: StartPanel, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    panel = await start_panel(tls_cert=cert, tls_key=key)
    assert panel.url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(verify=trusting) as https:
        response = await https.get(panel.url + "/health")
        assert response.status_code == 200
        assert response.json()["server"] == "healthy"
    plain = panel.url.replace("https://", "http://")
    async with httpx.AsyncClient() as http:
        try:
            answer = await http.get(plain + "/health", timeout=5)
        except httpx.TransportError:
            pass  # the TLS server drops a plain request: nothing answered
        else:
            assert answer.status_code != 200
    async with httpx.AsyncClient() as untrusting:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.get(panel.url + "/health")


# The command line --------------------------------------------------------------------


def test_a_network_bind_without_a_key_refuses_to_start(serve: Serve) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    result = subprocess.run(
        serve.args("--host", "0.0.0.0"), capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "spacetime-panel: --host 0.0.0.0 exposes the management API to the network; set a "
        "management key first: spacetime-panel keys generate panel (or SPACETIME_PANEL_API_KEY)"
    )
    assert not (serve.tmp / "state").exists() or not any((serve.tmp / "state").iterdir())


def test_a_network_bind_with_a_key_serves_and_guards(serve: Serve) -> None:
    serve.start("--host", "0.0.0.0", "--no-game", env={"SPACETIME_PANEL_API_KEY": CONTROL})
    # Only ever talked to over loopback; the Host check is off on a network bind.
    assert serve.get("/health").status_code == 200
    assert serve.get("/health", headers={"host": "panel.lan:8090"}).status_code == 200
    assert serve.get("/logs").status_code == 401
    key = {"authorization": f"Bearer {CONTROL}"}
    logs = serve.get("/logs", headers=key)
    assert logs.status_code == 200
    # A WebSocket upgrade is a plain request here, guarded like any other.
    upgrade = {"connection": "Upgrade", "upgrade": "websocket", "sec-websocket-version": "13"}
    assert serve.get("/logs", headers=upgrade).status_code == 401

    # Mutating calls are audited, to audit.log and the panel log; the key is in neither.
    assert serve.post("/start", json={"program": "all"}, headers=key).status_code == 202
    assert (
        serve.post("/stop", json={}, headers={"authorization": "Bearer wrong"}).status_code == 401
    )

    def both_audited() -> tuple[list[str], str] | None:
        lines = (serve.tmp / "logs" / AUDIT_FILE).read_text().splitlines()
        log = (serve.tmp / "logs" / "spacetime-panel.log").read_text()
        return (
            (lines, log) if len(lines) >= 2 and log.count("spacetime_panel.audit: ") >= 2 else None
        )

    audit, panel_log = wait_until(both_audited, 10, "both calls in audit.log and the panel log")
    assert [line.rsplit(" asked=", 1)[0].split(" ", 2)[2] for line in audit] == [
        f"key={fingerprint(CONTROL)}(control) POST /start",
        f"key={fingerprint('wrong')} POST /stop",
    ]
    assert all(line.split()[1] == "client=127.0.0.1" for line in audit)
    assert panel_log.count("spacetime_panel.audit: ") == 2
    for text in (panel_log, "\n".join(audit), serve.get("/logs", headers=key).text):
        assert CONTROL not in text


@pytest.mark.parametrize("problem", ["missing", "mismatched", "only-cert"])
def test_a_bad_tls_pair_is_a_one_line_error(serve: Serve, tmp_path: Path, problem: str) -> None:
    cert, key = self_signed(tmp_path, "one")
    _, other_key = self_signed(tmp_path, "two")
    flags = {
        "missing": ["--tls-cert", str(tmp_path / "nowhere.crt"), "--tls-key", str(key)],
        "mismatched": ["--tls-cert", str(cert), "--tls-key", str(other_key)],
        "only-cert": ["--tls-cert", str(cert)],
    }[problem]
    result = subprocess.run(serve.args(*flags), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in result.stderr
    expected = {
        "missing": "cannot read the TLS certificate",
        "mismatched": "does not belong to the certificate",
        "only-cert": "--tls-cert and --tls-key go together",
    }[problem]
    assert expected in message


def test_serve_over_https(serve: Serve, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    serve.process = subprocess.Popen(
        serve.args("--no-game", "--tls-cert", str(cert), "--tls-key", str(key)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    trusting = ssl.create_default_context(cafile=str(cert))

    def answers() -> httpx.Response | None:
        assert serve.process is not None and serve.process.poll() is None
        try:
            return httpx.get(f"https://127.0.0.1:{serve.port}/health", verify=trusting, timeout=2)
        except httpx.TransportError:
            return None

    assert wait_until(answers, 20, "the API over HTTPS").status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{serve.port}/health", timeout=5)
