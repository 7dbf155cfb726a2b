"""`spacetime-panel mcp` over stdio, driven by the MCP SDK's own client.

Each test starts the command as an MCP client would (a child process speaking
MCP on its stdin/stdout) against a real `serve --demo` with free ports, or with
`--standalone` on its own supervisor.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import psutil
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, TextResourceContents

from tests.certificates import self_signed
from tests.conftest import TIME_SCALE, eventually, free_port
from tests.integration.conftest import PANEL, Serve
from tests.mcp_tools import answer, call, error_text

KEY = "mcp-test-control-key-0123456789abcdef"
#: No OS keyring in the child: only the environment can give it a key.
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
TOOLS = {
    "health",
    "services",
    "programs",
    "start",
    "stop",
    "restart",
    "scenes",
    "load_scene",
    "reload_scene",
    "logs",
    "telemetry_summary",
    "record_telemetry",
    "wait_until_healthy",
}


@asynccontextmanager
async def mcp_session(
    *args: str, env: dict[str, str] | None = None, errlog: Path | None = None
) -> AsyncIterator[ClientSession]:
    """`spacetime-panel mcp ARGS` as an MCP client starts it, initialized."""
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "spacetime_panel", "mcp", *args],
        env={**NO_KEYRING, "PYTHONPATH": os.getcwd(), **(env or {})},
    )
    log = errlog.open("w") if errlog is not None else sys.stderr
    try:
        async with (
            stdio_client(parameters, errlog=log) as (read, write),
            ClientSession(read, write, read_timeout_seconds=90 * TIME_SCALE) as session,
        ):
            await session.initialize()
            yield session
    finally:
        if errlog is not None:
            log.close()


async def until(
    session: ClientSession, condition: Callable[[], Awaitable[bool]], what: str
) -> None:
    """Ask `condition` every 50 ms until it holds (30 s, scaled)."""
    try:
        async with asyncio.timeout(30 * TIME_SCALE):
            while not await condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def against(serve: Serve) -> list[str]:
    return ["--url", serve.url]


async def test_tools_are_listed_with_their_input_schemas(serve: Serve) -> None:
    serve.start()
    async with mcp_session(*against(serve)) as session:
        listed = (await session.list_tools()).tools
    by_name = {tool.name: tool for tool in listed}
    assert set(by_name) == TOOLS
    for tool in listed:
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.description, tool.name
        assert tool.output_schema is not None, f"{tool.name} has no structured result"
    program = by_name["restart"].input_schema["properties"]["program"]
    assert program["enum"] == ["game", "editor", "all"]
    assert program["default"] == "all"
    assert by_name["load_scene"].input_schema["required"] == ["path"]
    lines = by_name["logs"].input_schema["properties"]["lines"]
    assert (lines["minimum"], lines["maximum"]) == (1, 2000)
    assert "ctx" not in json.dumps(by_name["health"].input_schema)


async def test_health_restart_and_scenes(serve: Serve) -> None:
    serve.start()
    serve.wait_healthy(30)
    async with mcp_session(*against(serve)) as session:
        health = await answer(session, "health")
        assert health["healthy"] is True
        assert health["overall_healthy"] is True
        before = health["programs"]["game"]["pid"]
        assert before and psutil.pid_exists(before)
        serve.godot_pids.add(before)

        restarted = await answer(session, "restart", program="game")
        assert "game" in restarted["programs"]
        waited = await answer(session, "wait_until_healthy", timeout=60 * TIME_SCALE)
        assert waited["healthy"] is True
        after = (await answer(session, "programs"))["programs"]["game"]["pid"]
        serve.godot_pids.add(after)
        assert after and after != before
        assert serve.game()["pid"] == after  # the API agrees

        scenes = await answer(session, "scenes")
        assert "res://scenes/test_room.tscn" in scenes["scenes"]
        assert scenes["loaded"] == "res://vr_main.tscn"
        loading = await answer(session, "load_scene", path="res://scenes/test_room.tscn")
        assert loading["state"] == "loading"

        await until(
            session, lambda: _loaded(session, "res://scenes/test_room.tscn"), "the scene to load"
        )


async def _loaded(session: ClientSession, path: str) -> bool:
    return bool((await answer(session, "scenes"))["loaded"] == path)


async def test_refusals_are_tool_errors_and_the_server_keeps_serving(serve: Serve) -> None:
    serve.start()
    async with mcp_session(*against(serve)) as session:
        traversal = error_text(await call(session, "load_scene", path="res://../x.tscn"))
        refused = serve.post("/scene/load", json={"path": "res://../x.tscn"})
        assert refused.status_code == 400
        assert refused.json()["message"] in traversal  # the API's own message
        assert (await answer(session, "health"))["programs"]["game"]

        unknown = error_text(await call(session, "restart", program="everything"))
        assert "program" in unknown and "'game', 'editor' or 'all'" in unknown
        assert "programs" in await answer(session, "programs")

        bad_regex = error_text(await call(session, "logs", pattern="(unclosed"))
        assert "not a valid regular expression" in bad_regex
        too_many = error_text(await call(session, "logs", lines=1_000_000))
        assert "lines" in too_many
        assert "lines" in await answer(session, "logs", lines=5)


async def test_a_program_this_panel_does_not_run_is_the_apis_refusal(
    gameless_serve: Serve,
) -> None:
    async with mcp_session(*against(gameless_serve)) as session:
        text = error_text(await call(session, "start", program="game"))
        assert "game is not enabled in this panel's settings" in text
        assert "400" in text
        assert (await answer(session, "services"))["services"]


async def test_logs_filters_by_pattern_and_errors(serve: Serve) -> None:
    broken = serve.project / "scenes" / "broken.tscn"
    broken.write_text(
        "[gd_scene load_steps=2 format=3]\n\n"
        '[ext_resource type="Script" path="res://missing_script.gd" id="1"]\n\n'
        '[node name="Broken" type="Node3D"]\n',
        encoding="utf-8",
    )
    serve.start()
    serve.wait_healthy(30)
    async with mcp_session(*against(serve)) as session:
        everything = (await answer(session, "logs", lines=2000))["lines"]
        assert any("scene loaded" in line["text"] for line in everything)
        matched = (await answer(session, "logs", pattern=r"scene loaded: res://\S+"))["lines"]
        assert matched and all("scene loaded" in line["text"] for line in matched)
        assert len(matched) < len(everything)
        assert len((await answer(session, "logs", lines=2))["lines"]) == 2

        await answer(session, "load_scene", path="res://scenes/broken.tscn")

        async def reported() -> bool:
            found = (await answer(session, "logs", errors_only=True))["lines"]
            return any("missing_script.gd" in line["text"] for line in found)

        await until(session, reported, "the broken scene's errors in the log")
        errors = (await answer(session, "logs", errors_only=True, lines=2000))["lines"]
        said = re.compile(r"\b(error|fatal|exception|traceback)\b", re.IGNORECASE)
        odd = [
            line for line in errors if line["stream"] != "stderr" and not said.search(line["text"])
        ]
        assert not odd, odd
        assert any(line["stream"] == "stderr" for line in errors)
        assert not any("scene loaded: res://vr_main.tscn" in line["text"] for line in errors)
        both = await answer(session, "logs", errors_only=True, pattern="missing_script")
        assert both["lines"] and all("missing_script" in line["text"] for line in both["lines"])


async def test_resources_show_health_and_logs(serve: Serve) -> None:
    serve.start()
    serve.wait_healthy(30)
    async with mcp_session(*against(serve)) as session:
        uris = {str(resource.uri) for resource in (await session.list_resources()).resources}
        assert {"spacetime://health", "spacetime://logs"} <= uris
        health = (await session.read_resource("spacetime://health")).contents[0]
        assert isinstance(health, TextResourceContents)
        assert health.mime_type == "application/json"
        assert json.loads(health.text)["overall_healthy"] is True
        logs = (await session.read_resource("spacetime://logs")).contents[0]
        assert isinstance(logs, TextResourceContents)
        assert "scene loaded: res://vr_main.tscn" in logs.text


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


async def test_record_telemetry_writes_a_csv(serve: Serve, tmp_path: Path) -> None:
    serve.start()
    serve.wait_healthy(30)
    folder = tmp_path / "recordings"
    async with mcp_session(*against(serve), "--recordings", str(folder)) as session:
        recorded = await answer(session, "record_telemetry", seconds=2)
        summary = await answer(session, "telemetry_summary")
        too_long = error_text(await call(session, "record_telemetry", seconds=100_000))
    path = Path(recorded["csv"])
    assert path.parent == folder and recorded["folder"] == str(folder)
    assert recorded["url"] == f"ws://127.0.0.1:{serve.telemetry_port}"
    rows = csv_rows(path)
    assert len(rows) - 1 == recorded["rows"] > 0
    assert recorded["summary"]["fps_now"] is not None
    assert "fps_now" in summary
    assert "seconds" in too_long


async def test_with_a_management_key(serve: Serve) -> None:
    serve.start(env={"SPACETIME_PANEL_API_KEY": KEY})
    async with mcp_session(*against(serve), env={"SPACETIME_PANEL_API_KEY": KEY}) as session:
        assert (await answer(session, "services"))["services"]
        assert (await answer(session, "health"))["programs"]
    async with mcp_session(*against(serve)) as session:
        text = error_text(await call(session, "services"))
        assert "401" in text
        assert serve.get("/services").json()["message"] in text  # the API's own words
    wrong = {"SPACETIME_PANEL_API_KEY": "not-the-key-but-long-enough-0123456789"}
    async with mcp_session(*against(serve), env=wrong) as session:
        assert "401" in error_text(await call(session, "stop", program="game"))
    assert serve.game()["state"] != "STOPPED"  # the refused stop did nothing


async def test_no_panel_is_a_tool_error_that_says_how_to_start_one(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with mcp_session("--url", url) as session:
        for tool in ("health", "services", "restart"):
            text = error_text(await call(session, tool))
            assert f"no panel answers at {url}" in text
            assert "spacetime-panel serve --demo" in text
            assert "mcp --standalone" in text
        reports: list[tuple[float, float | None, str | None]] = []

        async def noted(progress: float, total: float | None, message: str | None) -> None:
            reports.append((progress, total, message))

        result = await session.call_tool(
            "wait_until_healthy", {"timeout": 1}, progress_callback=noted
        )
        assert isinstance(result, CallToolResult)
        waited = error_text(result)
        assert reports and reports[0][1] == 1  # reported against the timeout
        assert "no panel answers" in str(reports[0][2])
        assert "not healthy after 1 s" in waited and "no panel answers" in waited
        with pytest.raises(Exception, match="no panel answers"):
            await session.read_resource("spacetime://health")


async def test_standalone_brings_up_the_demo_and_leaves_no_godot(tmp_path: Path) -> None:
    api_port = free_port()
    where = standalone_ports(api_port)
    godot: set[int] = set()
    errlog = tmp_path / "mcp.err"
    environment = {"SPACETIME__API__RATE_LIMIT_PER_MINUTE": "100000", "HOME": str(tmp_path)}
    try:
        async with mcp_session(
            "--standalone",
            "--demo",
            *where,
            "--log-dir", str(tmp_path / "logs"),
            "--state-dir", str(tmp_path / "state"),
            env=environment,
            errlog=errlog,
        ) as session:  # fmt: skip
            waited = await answer(session, "wait_until_healthy", timeout=60 * TIME_SCALE)
            assert waited["healthy"] is True
            programs = (await answer(session, "programs"))["programs"]
            godot = {p["pid"] for p in programs.values() if p["pid"]}
            assert len(godot) == 2  # the game and the editor
            services = await answer(session, "services")
            api = next(s for s in services["services"] if s["port"] == api_port)
            assert api["state"] == "up"
        await eventually(
            lambda: not any(psutil.pid_exists(pid) for pid in godot),
            30,
            "Godot to be stopped after the client closed",
        )
        assert "management API on http://127.0.0.1:" in errlog.read_text()
    finally:
        for pid in godot:
            with suppress(psutil.Error):
                psutil.Process(pid).kill()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--standalone", "--url", "http://127.0.0.1:9"],
            "--url is for a panel already running; --standalone runs its own",
        ),
        (["--url", "ftp://x"], "argument --url: ftp://x: only http:// and https://"),
        (["--url", "127.0.0.1:80"], "argument --url: 127.0.0.1:80: say http:// or https://"),
        (
            ["--url", "https://127.0.0.1:9", "--ca-file", "/nonexistent/ca.pem"],
            "cannot use /nonexistent/ca.pem as a CA file",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(arguments: list[str], message: str) -> None:
    done = subprocess.run(
        [*PANEL, "mcp", *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **NO_KEYRING},
    )
    assert done.returncode == 2
    assert done.stdout == ""  # stdout is the MCP channel
    assert done.stderr.startswith(f"spacetime-panel: {message}")
    assert done.stderr.count("\n") == 1


async def test_https_standalone_and_a_client_with_the_ca_file(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    where = standalone_ports(port)
    environment = {"SPACETIME__API__RATE_LIMIT_PER_MINUTE": "100000", "HOME": str(tmp_path)}
    godot: set[int] = set()
    try:
        async with mcp_session(
            "--standalone", "--demo", "--no-game", *where,
            "--tls-cert", str(cert), "--tls-key", str(key),
            "--log-dir", str(tmp_path / "logs"),
            "--state-dir", str(tmp_path / "state"),
            env=environment,
        ) as standalone:  # fmt: skip
            programs = (await answer(standalone, "programs"))["programs"]
            godot = {p["pid"] for p in programs.values() if p["pid"]}
            url = f"https://127.0.0.1:{port}"
            async with mcp_session("--url", url, "--ca-file", str(cert)) as client:
                assert (await answer(client, "scenes"))["scenes"]
            async with mcp_session("--url", url) as untrusting:
                text = error_text(await call(untrusting, "scenes"))
                assert "certificate verify failed" in text
    finally:
        for pid in godot:
            with suppress(psutil.Error):
                psutil.Process(pid).kill()


def standalone_ports(api_port: int) -> list[str]:
    """The port flags for a standalone panel: the API on `api_port`, the rest free."""
    flags = ["--godot-port", "--telemetry-port", "--lsp-port", "--dap-port", "--discovery-port"]
    return ["--port", str(api_port), *(part for flag in flags for part in (flag, str(free_port())))]
