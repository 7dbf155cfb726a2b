"""MCP over streamable HTTP at `/mcp` on the management API, driven by the SDK's own client.

Each test runs a real `serve --demo` (free ports) and talks to its `/mcp` as an
agent that starts no process would: the SDK's streamable HTTP client, with or
without the key in its `Authorization` header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import psutil
import pytest
from mcp import MCPError
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextResourceContents

from spacetime_panel.api.audit import AUDIT_FILE, fingerprint
from tests.conftest import TIME_SCALE, wait_until
from tests.integration.conftest import Serve
from tests.mcp_tools import answer, call, error_text

CONTROL = "mcp-http-control-key-0123456789abcdef"
READ = "mcp-http-read-key-0123456789abcdefgh"
#: No OS keyring in the child: only the environment gives it keys.
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
KEYS = {**NO_KEYRING, "SPACETIME_PANEL_API_KEY": CONTROL, "SPACETIME_PANEL_READ_KEY": READ}
#: A client behind a proxy the panel trusts (the test itself, on loopback).
PROXIED = {"SPACETIME__API__TRUSTED_PROXIES": "127.0.0.1"}
AGENT = "203.0.113.7"


@asynccontextmanager
async def mcp_http(
    serve: Serve,
    key: str | None = None,
    statuses: list[int] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with `serve`'s /mcp, sending `key` as a bearer key (and
    `headers`); the HTTP status of every answer goes into `statuses`."""
    headers = {**(headers or {}), **({"Authorization": f"Bearer {key}"} if key else {})}
    timeout = httpx2.Timeout(30 * TIME_SCALE, read=120 * TIME_SCALE)
    seen = statuses if statuses is not None else []

    async def note(response: httpx2.Response) -> None:
        seen.append(response.status_code)

    hooks = {"response": [note]}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout, event_hooks=hooks) as http,
        streamable_http_client(f"{serve.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=90 * TIME_SCALE) as session,
    ):
        await session.initialize()
        yield session


def game_pid(serve: Serve) -> int:
    return int(serve.health()["programs"]["game"]["pid"])


async def test_tools_health_and_restart_over_http(serve: Serve) -> None:
    serve.start()
    serve.wait_healthy(30)
    async with mcp_http(serve) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"health", "programs", "restart", "load_scene", "logs"} <= set(listed)
        for tool in listed.values():
            assert tool.input_schema["type"] == "object", tool.name
            assert tool.output_schema is not None, tool.name
        program = listed["restart"].input_schema["properties"]["program"]
        assert program["enum"] == ["game", "editor", "all"]
        assert listed["load_scene"].input_schema["required"] == ["path"]

        health = await answer(session, "health")
        assert health["healthy"] is True and health["overall_healthy"] is True
        before = health["programs"]["game"]["pid"]
        assert before and psutil.pid_exists(before)

        await answer(session, "restart", program="game")
        waited = await answer(session, "wait_until_healthy", timeout=60 * TIME_SCALE)
        assert waited["healthy"] is True
        after = (await answer(session, "programs"))["programs"]["game"]["pid"]
        serve.godot_pids.add(after)
        assert after and after != before
        assert game_pid(serve) == after  # the API agrees

    # Nothing of MCP holds the panel up: it stops at once and cleanly.
    assert serve.stop_panel() == 0
    assert serve.process is not None and serve.process.stdout is not None
    output = serve.process.stdout.read()
    for trouble in ("Traceback", "Task was destroyed", "never awaited", " ERROR "):
        assert trouble not in output, output


async def test_refusals_are_tool_errors_and_the_endpoint_keeps_serving(serve: Serve) -> None:
    serve.start()
    async with mcp_http(serve) as session:
        traversal = error_text(await call(session, "load_scene", path="res://../x.tscn"))
        refused = serve.post("/scene/load", json={"path": "res://../x.tscn"})
        assert refused.status_code == 400
        assert refused.json()["message"] in traversal  # the API's own words
        assert (await answer(session, "health"))["programs"]["game"]

        unknown = error_text(await call(session, "restart", program="everything"))
        assert "program" in unknown
        assert "programs" in await answer(session, "programs")


async def test_the_keys_decide_over_http_as_they_do_for_the_api(serve: Serve) -> None:
    serve.start(env={**KEYS, **PROXIED})
    serve.wait_healthy(30)
    pid = game_pid(serve)

    # Without the key, /mcp is the API's own 401, before any MCP is spoken.
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    refused = serve.post("/mcp", json=message, headers={"accept": "application/json"})
    assert refused.status_code == 401
    assert refused.json() == serve.get("/services").json()  # the same refusal as any route
    assert refused.headers["www-authenticate"] == "Bearer"
    for wrong in (None, "not-the-key-but-long-enough-0123456789"):
        statuses: list[int] = []
        with pytest.raises(ExceptionGroup) as failed:
            async with mcp_http(serve, wrong, statuses):
                pass
        assert failed.group_contains(MCPError, match="error response", depth=None)
        assert statuses == [401]  # the initialize, refused

    # The read-only key reads; what it may not do is the API's 403, as a tool error.
    async with mcp_http(serve, READ) as session:
        assert (await answer(session, "health"))["programs"]["game"]["pid"] == pid
        assert (await answer(session, "services"))["services"]
        # A resource read (no tool context in the SDK) goes as the same caller.
        logs = (await session.read_resource("spacetime://logs")).contents[0]
        assert isinstance(logs, TextResourceContents)
        assert "scene loaded: res://vr_main.tscn" in logs.text
        text = error_text(await call(session, "restart", program="game"))
        assert "403" in text
        assert "read-only key: POST /restart needs the control key" in text
    assert game_pid(serve) == pid

    # The control key does everything, and the restart is audited as the API call it
    # made, for the client the /mcp request came from (here, one a trusted proxy forwarded).
    async with mcp_http(serve, CONTROL, headers={"X-Forwarded-For": AGENT}) as session:
        await answer(session, "restart", program="game")
        assert (await answer(session, "wait_until_healthy", timeout=60 * TIME_SCALE))["healthy"]
    assert game_pid(serve) != pid

    def audit_lines() -> list[str]:
        lines = (serve.tmp / "logs" / AUDIT_FILE).read_text().splitlines()
        done = any(" POST /restart " in line and "-> 202" in line for line in lines)
        return lines if done else []

    audit = wait_until(audit_lines, 10 * TIME_SCALE, "the restart's audit line")
    restarts = [line for line in audit if " POST /restart " in line]
    assert len(restarts) == 2, restarts  # the read key's refusal, the control key's restart
    assert f"key={fingerprint(READ)}(read) POST /restart" in restarts[0]
    assert restarts[0].endswith("-> 403")
    assert f"key={fingerprint(CONTROL)}(control) POST /restart" in restarts[1]
    assert restarts[1].endswith("-> 202")
    assert [line.split()[1] for line in restarts] == ["client=127.0.0.1", f"client={AGENT}"]
    for line in audit:
        assert CONTROL not in line and READ not in line
    # The MCP envelope is audited only when refused (its calls are audited themselves).
    envelopes = [line for line in audit if " POST /mcp " in line]
    assert envelopes and all(line.endswith("-> 401") for line in envelopes), envelopes


async def test_foreign_hosts_are_refused_and_mcp_is_not_in_the_api_document(
    serve: Serve,
) -> None:
    serve.start("--no-game")
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"accept": "application/json, text/event-stream"}
    foreign = serve.post("/mcp", json=message, headers={**accept, "host": "evil.example"})
    assert foreign.status_code == 403
    assert foreign.json()["message"].startswith("Host 'evil.example' is not a loopback name")
    # A browser page's POST is refused too; MCP's own check is off (one door).
    page = serve.post("/mcp", json=message, headers={**accept, "origin": "http://evil.example"})
    assert page.status_code == 403
    assert "may not post here" in page.json()["message"]
    form = serve.post("/mcp", content=b"{}", headers={**accept, "content-type": "text/plain"})
    assert form.status_code == 415

    paths = serve.get("/openapi.json").json()["paths"]
    assert "/mcp" not in paths and "/health" in paths
