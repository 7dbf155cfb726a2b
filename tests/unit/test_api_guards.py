"""The management API's guards on a small app, through httpx's ASGI transport (no socket).

The routes stand in for the real ones (same methods and body shapes); what
each test checks is what a client or an attacker would see, and whether the
handler ran at all.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from spacetime_panel.api.audit import AuditLog, fingerprint
from spacetime_panel.api.security import (
    ManagementKeys,
    TrustedProxies,
    host_name,
    install_guards,
)
from spacetime_panel.api.server import serving_problem, tls_problem
from spacetime_panel.config.settings import ApiSettings
from spacetime_panel.secrets.tokens import issue_token

CONTROL = "control-key-0123456789abcdefghijklmnopqrstuvwxyz"
READ = "read-key-0123456789abcdefghijklmnopqrstuvwxyz"
JSON = {"content-type": "application/json"}


class Program(BaseModel):
    program: str = "all"


class Scene(BaseModel):
    path: str


def make_app(
    api: ApiSettings, keys: ManagementKeys, audit: AuditLog | None = None
) -> tuple[FastAPI, list[str]]:
    """An app with the real guards; `calls` lists the handlers that ran."""
    app = FastAPI()
    calls: list[str] = []

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/metrics")
    async def metrics() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/logs")
    async def logs() -> dict[str, list[str]]:
        calls.append("logs")
        return {"lines": []}

    @app.post("/stop")
    async def stop(request: Program | None = None) -> dict[str, str]:
        calls.append(f"stop {request.program if request else 'all'}")
        return {"stopped": request.program if request else "all"}

    @app.post("/scene/load", status_code=202)
    async def load(request: Scene) -> dict[str, str]:
        calls.append(f"load {request.path}")
        return {"path": request.path}

    install_guards(app, api, keys, audit=audit)
    return app, calls


def client(
    app: FastAPI, peer: str = "127.0.0.1", host: str = "127.0.0.1:8090"
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


@pytest.fixture
async def open_api() -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    app, calls = make_app(ApiSettings(rate_limit_per_minute=10_000), ManagementKeys())
    async with client(app) as http:
        yield http, calls


# Host: DNS rebinding -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8090", "192.168.1.5:8090", ""])
async def test_a_foreign_host_is_refused_on_a_loopback_bind(
    open_api: tuple[httpx.AsyncClient, list[str]], host: str
) -> None:
    http, calls = open_api
    response = await http.get("/logs", headers={"host": host})
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert "api.allowed_hosts" in response.json()["message"]
    assert calls == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8090", "localhost:8090", "LocalHost", "[::1]:8090", "[::1]"]
)
async def test_loopback_names_are_accepted(
    open_api: tuple[httpx.AsyncClient, list[str]], host: str
) -> None:
    http, _ = open_api
    assert (await http.get("/logs", headers={"host": host})).status_code == 200


async def test_allowed_hosts_widen_the_host_check() -> None:
    app, _ = make_app(ApiSettings(allowed_hosts=("panel.lan",)), ManagementKeys())
    async with client(app) as http:
        assert (await http.get("/logs", headers={"host": "Panel.LAN:8090"})).status_code == 200
        assert (await http.get("/logs", headers={"host": "other.lan"})).status_code == 403


async def test_the_host_check_is_off_on_a_non_loopback_bind() -> None:
    app, _ = make_app(ApiSettings(host="0.0.0.0"), ManagementKeys(control=CONTROL))
    async with client(app, host="192.168.1.5:8090") as http:
        auth = {"authorization": f"Bearer {CONTROL}"}
        assert (await http.get("/logs", headers=auth)).status_code == 200


# Cross-site POSTs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"program": "game"}', "text/plain"),
        (b"program=game", "application/x-www-form-urlencoded"),
        (b"", "text/plain;charset=UTF-8"),
        (b"", None),
        (b'{"program": "game"}', "multipart/form-data; boundary=x"),
    ],
)
async def test_a_post_that_is_not_json_is_refused_before_its_handler(
    open_api: tuple[httpx.AsyncClient, list[str]], content: bytes, content_type: str | None
) -> None:
    http, calls = open_api
    headers = {"origin": "https://evil.example"}
    if content_type is not None:
        headers["content-type"] = content_type
    response = await http.post("/stop", content=content, headers=headers)
    assert response.status_code == 415
    assert response.json()["error"] == "Unsupported Media Type"
    assert "application/json" in response.json()["message"]
    assert calls == []


async def test_json_posts_with_parameters_and_empty_bodies_are_accepted(
    open_api: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, calls = open_api
    utf8 = {"content-type": "Application/JSON; charset=utf-8"}
    assert (await http.post("/stop", json={"program": "game"})).status_code == 200
    assert (await http.post("/stop", headers=utf8)).status_code == 200
    assert calls == ["stop game", "stop all"]


async def test_a_json_post_from_a_foreign_origin_is_refused(
    open_api: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, calls = open_api
    foreign = await http.post("/stop", json={}, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert "api.allowed_origins" in foreign.json()["message"]
    own = await http.post("/stop", json={}, headers={"origin": "http://127.0.0.1:8090"})
    assert own.status_code == 200  # the API's own /docs page
    assert calls == ["stop all"]


async def test_cors_answers_only_allowed_origins() -> None:
    app, calls = make_app(
        ApiSettings(allowed_origins=("http://dashboard.local",)), ManagementKeys()
    )
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    async with client(app) as http:
        foreign = await http.options(
            "/stop", headers={"origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in foreign.headers
        allowed = await http.options(
            "/stop", headers={"origin": "http://dashboard.local", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "http://dashboard.local"
        posted = await http.post("/stop", json={}, headers={"origin": "http://dashboard.local"})
        assert posted.status_code == 200
    assert calls == ["stop all"]


async def test_without_allowed_origins_a_preflight_gets_no_allow_headers(
    open_api: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = open_api
    response = await http.options(
        "/stop",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert response.status_code != 200
    assert not [name for name in response.headers if name.startswith("access-control-")]


# Keys, scopes and tokens -------------------------------------------------------------


@pytest.fixture
async def keyed() -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    app, calls = make_app(
        ApiSettings(rate_limit_per_minute=10_000), ManagementKeys(control=CONTROL, read=READ)
    )
    async with client(app) as http:
        yield http, calls


def bearer(credential: str) -> dict[str, str]:
    return {"authorization": f"Bearer {credential}"}


async def test_health_and_metrics_need_no_key(keyed: tuple[httpx.AsyncClient, list[str]]) -> None:
    http, _ = keyed
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/metrics")).status_code == 200


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"authorization": CONTROL}])
async def test_no_key_or_a_wrong_one_is_401(
    keyed: tuple[httpx.AsyncClient, list[str]], headers: dict[str, str]
) -> None:
    http, calls = keyed
    for response in (
        await http.get("/logs", headers=headers),
        await http.post("/stop", json={}, headers=headers),
    ):
        assert response.status_code == 401
        assert response.json() == {
            "error": "Unauthorized",
            "message": "Invalid or missing API key",
        }
    assert calls == []


async def test_the_control_key_may_do_everything(
    keyed: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, calls = keyed
    assert (await http.get("/logs", headers=bearer(CONTROL))).status_code == 200
    assert (await http.post("/stop", json={}, headers=bearer(CONTROL))).status_code == 200
    assert calls == ["logs", "stop all"]


async def test_the_read_key_reads_but_never_acts(
    keyed: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, calls = keyed
    assert (await http.get("/logs", headers=bearer(READ))).status_code == 200
    refused = await http.post("/stop", json={}, headers=bearer(READ))
    assert refused.status_code == 403
    assert refused.json()["message"] == "read-only key: POST /stop needs the control key"
    assert calls == ["logs"]


async def test_tokens_grant_their_scope(keyed: tuple[httpx.AsyncClient, list[str]]) -> None:
    http, calls = keyed
    read = issue_token(CONTROL, "read", 60)
    control = issue_token(CONTROL, "control", 60)
    assert (await http.get("/logs", headers=bearer(read))).status_code == 200
    assert (await http.post("/stop", json={}, headers=bearer(read))).status_code == 403
    assert (await http.post("/stop", json={}, headers=bearer(control))).status_code == 200
    assert calls == ["logs", "stop all"]


async def test_an_expired_token_is_a_401_that_says_so(
    keyed: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, calls = keyed
    expired = issue_token(CONTROL, "control", 60, now=time.time() - 3600)
    response = await http.post("/stop", json={}, headers=bearer(expired))
    assert response.status_code == 401
    message = response.json()["message"]
    assert message.startswith("token expired at ") and "spacetime-panel keys token" in message
    assert expired not in message
    forged = issue_token("another-key-0123456789abcdefghijklmnop", "control", 60)
    response = await http.post("/stop", json={}, headers=bearer(forged))
    assert response.status_code == 401
    assert "signature" in response.json()["message"]
    assert calls == []


# Body size ---------------------------------------------------------------------------


async def test_a_declared_oversized_body_is_413_at_once() -> None:
    app, calls = make_app(ApiSettings(max_request_size_mb=0.001), ManagementKeys())
    async with client(app) as http:
        body = b'{"path": "' + b"x" * 2000 + b'"}'
        response = await http.post("/scene/load", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"] == "Payload Too Large"
    assert calls == []


async def test_a_chunked_oversized_body_is_413_before_its_handler() -> None:
    app, calls = make_app(ApiSettings(max_request_size_mb=0.001), ManagementKeys())
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"path": "'
        for _ in range(100):
            sent.append(1)
            yield b"x" * 100
        yield b'"}'

    async with client(app) as http:
        response = await http.post("/scene/load", content=chunks(), headers=JSON)
        assert response.status_code == 413
        assert response.json()["message"] == "request body over 1048 bytes"
        small = await http.post(
            "/scene/load", content=_once(b'{"path": "res://a.tscn"}'), headers=JSON
        )
        assert small.status_code == 202
    assert calls == ["load res://a.tscn"]
    assert len(sent) < 100, "the whole body was read before the refusal"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


# Rate limit and forwarded clients ----------------------------------------------------


async def test_guessing_keys_costs_rate_limit_budget() -> None:
    app, _ = make_app(ApiSettings(rate_limit_per_minute=3), ManagementKeys(control=CONTROL))
    async with client(app) as http:
        codes = [
            (await http.get("/logs", headers={"authorization": f"Bearer guess{i}"})).status_code
            for i in range(5)
        ]
    assert codes == [401, 401, 401, 429, 429]


async def test_varying_x_forwarded_for_does_not_escape_the_rate_limit() -> None:
    app, _ = make_app(ApiSettings(rate_limit_per_minute=3), ManagementKeys())
    async with client(app) as http:
        codes = [
            (await http.get("/logs", headers={"x-forwarded-for": f"10.0.0.{i}"})).status_code
            for i in range(5)
        ]
        limited = await http.get("/logs", headers={"x-forwarded-for": "10.9.9.9"})
        assert (await http.get("/health")).status_code == 200
    assert codes == [200, 200, 200, 429, 429]
    assert int(limited.headers["retry-after"]) >= 1
    assert "3 requests per minute" in limited.json()["message"]


async def test_a_trusted_proxy_gives_each_forwarded_client_its_own_budget() -> None:
    app, _ = make_app(
        ApiSettings(rate_limit_per_minute=2, trusted_proxies=("127.0.0.0/8",)), ManagementKeys()
    )

    async def codes(http: httpx.AsyncClient, forwarded: str) -> list[int]:
        headers = {"x-forwarded-for": forwarded}
        return [(await http.get("/logs", headers=headers)).status_code for _ in range(3)]

    async with client(app) as http:
        assert await codes(http, "203.0.113.7") == [200, 200, 429]
        assert await codes(http, "198.51.100.4") == [200, 200, 429]
        # A client cannot pick its own address: the proxy appends the real one last.
        assert await codes(http, "1.2.3.4, 198.51.100.4") == [429, 429, 429]
    # An untrusted peer's X-Forwarded-For is ignored: it is counted as itself.
    async with client(app, peer="192.0.2.50") as http:
        assert await codes(http, "203.0.113.99") == [200, 200, 429]
        assert await codes(http, "203.0.113.100") == [429, 429, 429]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.0.0.2"], "203.0.113.7"),
        ("127.0.0.1", ["6.6.6.6", "203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["10.0.0.3"], "127.0.0.1"),
        ("192.0.2.1", ["203.0.113.7"], "192.0.2.1"),
    ],
)
def test_the_forwarded_client_is_the_last_untrusted_hop(
    peer: str, forwarded: list[str], expected: str
) -> None:
    proxies = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"])
    scope: dict[str, Any] = {
        "client": (peer, 1),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }
    assert proxies.client(scope) == expected


# Audit -------------------------------------------------------------------------------


async def test_every_post_is_audited_once_without_the_key(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log", secrets=(CONTROL, READ))
    app, _ = make_app(
        ApiSettings(trusted_proxies=("127.0.0.1",)),
        ManagementKeys(control=CONTROL, read=READ),
        audit,
    )
    async with client(app) as http:
        await http.get("/logs", headers=bearer(CONTROL))
        await http.post("/stop", json={"program": "game"}, headers=bearer(CONTROL))
        await http.post(
            "/scene/load",
            json={"path": "res://a.tscn\nforged line"},
            headers={**bearer(READ), "x-forwarded-for": "203.0.113.7"},
        )
        await http.post("/stop", content=b"x", headers={"content-type": "text/plain"})
        await http.post("/stop", json={"program": CONTROL}, headers=bearer("wrong-key-123"))
    audit.close()
    lines = (tmp_path / "audit.log").read_text().splitlines()

    assert len(lines) == 4, lines
    stop, load, plain, wrong = lines
    assert stop.endswith(
        f"client=127.0.0.1 key={fingerprint(CONTROL)}(control) POST /stop "
        'asked=program="game" -> 200'
    )
    assert f"client=203.0.113.7 key={fingerprint(READ)}(read) POST /scene/load" in load
    assert load.endswith("-> 403")
    assert "key=no key POST /stop asked=- -> 401" in plain
    assert f"key={fingerprint('wrong-key-123')} POST /stop" in wrong and wrong.endswith("-> 401")
    text = "\n".join(lines)
    assert CONTROL not in text and READ not in text and "wrong-key-123" not in text
    assert lines[0][:4].isdigit() and "T" in lines[0].split()[0]


async def test_an_audited_body_field_is_escaped_and_cut(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    app, _ = make_app(ApiSettings(), ManagementKeys(), audit)
    async with client(app) as http:
        await http.post("/scene/load", json={"path": "res://" + "a" * 500 + "\nnext"})
    audit.close()
    lines = (tmp_path / "audit.log").read_text().splitlines()
    assert len(lines) == 1
    assert len(lines[0]) < 300 and "..." in lines[0]


# Serving checks ----------------------------------------------------------------------


def test_a_non_loopback_bind_without_a_key_is_refused() -> None:
    problem = serving_problem(ApiSettings(host="0.0.0.0"), ManagementKeys())
    assert problem is not None and "\n" not in problem
    assert "--host 0.0.0.0" in problem and "spacetime-panel keys generate panel" in problem
    assert serving_problem(ApiSettings(host="0.0.0.0"), ManagementKeys(control=CONTROL)) is None
    assert serving_problem(ApiSettings(host="127.0.0.1"), ManagementKeys()) is None
    assert serving_problem(ApiSettings(host="::1"), ManagementKeys()) is None
    assert serving_problem(ApiSettings(host="localhost"), ManagementKeys()) is None


def test_a_bad_trusted_proxy_is_a_one_line_problem() -> None:
    problem = serving_problem(ApiSettings(trusted_proxies=("not-an-ip",)), ManagementKeys())
    assert problem is not None and "api.trusted_proxies" in problem


def test_tls_problems_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    only_cert = tls_problem(ApiSettings(tls_cert=junk))
    assert only_cert is not None and "--tls-key" in only_cert
    unreadable = tls_problem(ApiSettings(tls_cert=missing, tls_key=junk))
    assert unreadable is not None and str(missing) in unreadable
    not_pem = tls_problem(ApiSettings(tls_cert=junk, tls_key=junk))
    assert not_pem is not None and "PEM" in not_pem
    assert tls_problem(ApiSettings()) is None


async def test_audit_lines_reach_the_panel_log_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audit = AuditLog(None, secrets=(CONTROL,))
    app, _ = make_app(ApiSettings(), ManagementKeys(control=CONTROL), audit)
    with caplog.at_level("INFO", logger="spacetime_panel.audit"):
        async with client(app) as http:
            await http.post("/stop", json={"program": "game"}, headers=bearer(CONTROL))
    lines = [r.getMessage() for r in caplog.records if r.name == "spacetime_panel.audit"]
    assert len(lines) == 1
    assert lines[0].endswith('asked=program="game" -> 200')
    assert CONTROL not in caplog.text


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("Example.COM:8090", "example.com"),
        ("[::1]:8090", "[::1]"),
        ("[FE80::1]", "[fe80::1]"),
        ("fe80::1", "[fe80::1]"),
        ("10.0.0.5", "10.0.0.5"),
    ],
)
def test_host_names_are_compared_without_port_or_case(value: str, name: str) -> None:
    assert host_name(value) == name


async def test_odd_headers_and_bodies_are_answered_not_crashed_on(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    app, calls = make_app(ApiSettings(), ManagementKeys(control=CONTROL), audit)
    auth = bearer(CONTROL)
    async with client(app) as http:
        odd_length = await http.post(
            "/stop",
            content=b"{}",
            headers=[
                (b"content-type", b"application/json"),
                (b"authorization", f"Bearer {CONTROL}".encode()),
                (b"content-length", b"\xb2"),
            ],
        )
        assert odd_length.status_code == 413
        deep = await http.post("/stop", content=b"[" * 3000, headers={**JSON, **auth})
        assert deep.status_code in (400, 422)
        token_like = await http.get("/logs", headers=bearer("eyJ.a.b"))
        assert token_like.status_code == 401
    audit.close()
    assert len((tmp_path / "audit.log").read_text().splitlines()) == 2
    assert calls == []


def test_keys_never_show_in_a_repr() -> None:
    keys = ManagementKeys(control=CONTROL, read=READ)
    assert CONTROL not in repr(keys) and READ not in repr(keys)


async def test_a_request_without_exactly_one_host_is_refused(
    open_api: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, calls = open_api
    twice = await http.get("/logs", headers=[(b"host", b"127.0.0.1"), (b"host", b"evil.example")])
    assert twice.status_code == 403
    assert twice.json()["message"] == "a request needs exactly one Host header"
    assert calls == []
