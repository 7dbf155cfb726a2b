"""The MCP server: the management API's calls as tools and resources for AI agents.

`build_mcp_server(panel)` makes an `MCPServer` (the `mcp` SDK's, 2.x) whose tools
call a panel's management API through a `PanelClient`:

* `panel` is a `PanelClient`: every call goes through that one client (stdio:
  `spacetime-panel mcp` builds one for `--url` and the key it found). The server
  never closes it.
* `panel` is a factory `(headers) -> PanelClient`: it is called once per tool
  call or resource read with the MCP request's HTTP headers (`Context.headers`:
  a case-insensitive mapping, `None` when the transport has none, as on stdio,
  and for resource reads, which the SDK gives no request context), and the
  client it returns is closed after that call. This is for streamable HTTP
  served by the management API itself: the factory builds a client over
  `httpx.ASGITransport(app)` that forwards the caller's own `Authorization`
  (`PanelClient(..., authorization=headers.get("authorization"))`), so the
  API's own guards decide what the caller may do.

Whatever the API refuses (`{"error", "message"}`) is a tool error carrying the
API's message; a panel that does not answer is a tool error that says how to
start one. Neither is ever a traceback. `recordings` is the folder
`record_telemetry` writes its CSV files into.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from spacetime_panel import __version__
from spacetime_panel.agents.panel_client import PanelClient, PanelError, PanelUnreachable

#: Builds a client for one call from the MCP request's HTTP headers (None without any).
PanelFactory: TypeAlias = Callable[[Mapping[str, str] | None], PanelClient]

Program = Literal["game", "editor", "all"]
ProgramArgument = Annotated[
    Program, Field(description="which program: the game, the editor, or all (both)")
]

#: Bounds of the tools' numbers.
MAX_LOG_LINES = 2000
#: How far back a filtered `logs` call looks for its matches.
LOG_SEARCH_WINDOW = 20_000
MAX_PATTERN_LENGTH = 500
MAX_RECORD_SECONDS = 600.0
MAX_WAIT_SECONDS = 600.0
#: Seconds between two /health polls of `wait_until_healthy`.
POLL_INTERVAL = 0.5
#: Lines in the `spacetime://logs` resource.
RESOURCE_LOG_LINES = 200

#: What `errors_only` keeps: stderr, and lines that say ERROR, FATAL, an exception
#: or a traceback (Godot's `ERROR:`/`SCRIPT ERROR:`, the supervisor's FATAL).
ERROR_LINE = re.compile(r"\b(error|fatal|exception|traceback)\b", re.IGNORECASE)

INSTRUCTIONS = (
    "SpaceTime Panel supervises a Godot 4.5 VR game (and its editor): it restarts the "
    "game when it crashes, stops it for good (FATAL, with a reason) after repeated "
    "crashes, and knows whether it is healthy. Use `health` first; `wait_until_healthy` "
    "after a start, restart or scene load; `logs` with errors_only to see what went "
    "wrong; `telemetry_summary` for frame times."
)


def default_recordings() -> Path:
    """Where `record_telemetry` writes when nobody says: a folder in the temp dir."""
    return Path(tempfile.gettempdir()) / "spacetime-panel-recordings"


def build_mcp_server(
    panel: PanelClient | PanelFactory, *, recordings: Path | None = None
) -> MCPServer:
    """The MCP server over `panel` (a client, or a per-call factory: see the module doc)."""
    folder = recordings or default_recordings()
    server = MCPServer(
        name="spacetime-panel",
        title="SpaceTime Panel",
        version=__version__,
        instructions=INSTRUCTIONS,
    )

    @asynccontextmanager
    async def client_for(ctx: Context | None) -> AsyncIterator[PanelClient]:
        """The client for one call; API refusals and silence become ToolErrors."""
        try:
            if isinstance(panel, PanelClient):
                yield panel
                return
            client = panel(_headers(ctx))
            try:
                yield client
            finally:
                await client.aclose()
        except PanelError as error:
            raise ToolError(str(error)) from None

    @server.tool()
    async def health(ctx: Context) -> dict[str, Any]:
        """The panel's health: healthy or not, why not (blocking_issues), each program's
        state and pid, the game's scene and player, and the services."""
        async with client_for(ctx) as client:
            healthy, document = await client.health()
        return {"healthy": healthy, **document}

    @server.tool()
    async def services(ctx: Context) -> dict[str, Any]:
        """The port table: the management API, the game's bridge HTTP API, telemetry,
        DAP, LSP and discovery, each up or down with its latency and owner, and the games
        discovered on the network."""
        async with client_for(ctx) as client:
            return await client.services()

    @server.tool()
    async def programs(ctx: Context) -> dict[str, Any]:
        """Each supervised program (game, editor): its state (running, stopped, FATAL...),
        pid, restarts and last failure."""
        async with client_for(ctx) as client:
            return {"programs": await client.programs()}

    @server.tool()
    async def start(ctx: Context, program: ProgramArgument = "all") -> dict[str, Any]:
        """Launch the game, the editor or both (clears a FATAL state). Returns at once:
        follow with wait_until_healthy."""
        async with client_for(ctx) as client:
            return await client.start(program)

    @server.tool()
    async def stop(ctx: Context, program: ProgramArgument = "all") -> dict[str, Any]:
        """Stop the game, the editor or both, with every process they started; returns
        when they are stopped."""
        async with client_for(ctx) as client:
            return await client.stop(program)

    @server.tool()
    async def restart(ctx: Context, program: ProgramArgument = "all") -> dict[str, Any]:
        """Stop, then launch again (the game gets a new pid). Follow with
        wait_until_healthy."""
        async with client_for(ctx) as client:
            return await client.restart(program)

    @server.tool()
    async def scenes(ctx: Context) -> dict[str, Any]:
        """The project's scenes (res:// paths) and the one the game has loaded."""
        async with client_for(ctx) as client:
            return await client.scenes()

    @server.tool()
    async def load_scene(
        ctx: Context,
        path: Annotated[
            str, Field(description="a res:// scene path, e.g. res://scenes/test_room.tscn")
        ],
    ) -> dict[str, Any]:
        """Load a scene in the running game. Returns once the game accepted it: follow
        with wait_until_healthy to see it loaded."""
        async with client_for(ctx) as client:
            return await client.load_scene(path)

    @server.tool()
    async def reload_scene(ctx: Context) -> dict[str, Any]:
        """Reload the game's current scene."""
        async with client_for(ctx) as client:
            return await client.reload_scene()

    @server.tool()
    async def logs(
        ctx: Context,
        lines: Annotated[
            int, Field(ge=1, le=MAX_LOG_LINES, description="how many lines, the last ones")
        ] = 100,
        pattern: Annotated[
            str | None,
            Field(
                max_length=MAX_PATTERN_LENGTH,
                description="keep only lines this regular expression (Python) finds",
            ),
        ] = None,
        errors_only: Annotated[
            bool, Field(description="keep only stderr and lines that say error or fatal")
        ] = False,
    ) -> dict[str, Any]:
        """The last lines of Godot's output (game and editor) and the supervisor's events,
        optionally filtered by a regular expression and to errors only."""
        matcher = _compiled(pattern)
        filtered = matcher is not None or errors_only
        async with client_for(ctx) as client:
            found = await client.logs(LOG_SEARCH_WINDOW if filtered else lines)
        kept = [
            line
            for line in found
            if (matcher is None or matcher.search(str(line.get("text", ""))))
            and (not errors_only or _is_error(line))
        ]
        return {"lines": kept[-lines:], "matched": len(kept), "searched": len(found)}

    @server.tool()
    async def telemetry_summary(ctx: Context) -> dict[str, Any]:
        """The game's rolling telemetry: FPS now/avg/min, frame time p50/p95/p99 against
        the headset's budget, dropped frames."""
        async with client_for(ctx) as client:
            return await client.telemetry_summary()

    @server.tool()
    async def record_telemetry(
        ctx: Context,
        seconds: Annotated[
            float, Field(gt=0, le=MAX_RECORD_SECONDS, description="how long to record")
        ] = 10.0,
    ) -> dict[str, Any]:
        """Record the game's telemetry (frame times, tracking) for some seconds into a
        CSV file; returns the file's path, its rows and the summary of those seconds."""
        async with client_for(ctx) as client:
            table = await client.services()
        url = _telemetry_url(table)
        return await _record(ctx, url, seconds, folder)

    @server.tool()
    async def wait_until_healthy(
        ctx: Context,
        timeout: Annotated[
            float, Field(gt=0, le=MAX_WAIT_SECONDS, description="seconds to wait at most")
        ] = 60.0,
    ) -> dict[str, Any]:
        """Wait until the panel reports healthy (the game running, its scene loaded, the
        player spawned); a tool error with the blocking issues when the timeout passes."""
        started = time.monotonic()
        deadline = started + timeout
        last_problem = "not asked yet"
        async with client_for(ctx) as client:
            while True:
                try:
                    healthy, document = await client.health()
                except PanelUnreachable as error:
                    healthy, document, last_problem = False, {}, str(error)
                else:
                    if healthy:
                        waited = round(time.monotonic() - started, 3)
                        return {"healthy": True, "waited_s": waited, **document}
                    issues = document.get("blocking_issues") or ["not healthy"]
                    last_problem = "; ".join(str(issue) for issue in issues)
                now = time.monotonic()
                if now >= deadline:
                    raise ToolError(f"not healthy after {timeout:g} s: {last_problem}")
                await _progress(ctx, now - started, timeout, last_problem)
                await asyncio.sleep(min(POLL_INTERVAL, deadline - now))

    @server.resource(
        "spacetime://health",
        name="health",
        description="The panel's health document (as the health tool returns it)",
        mime_type="application/json",
    )
    async def health_resource() -> str:
        try:
            async with client_for(None) as client:
                healthy, document = await client.health()
        except ToolError as error:
            raise ResourceError(str(error)) from None
        return json.dumps({"healthy": healthy, **document}, indent=2)

    @server.resource(
        "spacetime://logs",
        name="logs",
        description=f"The last {RESOURCE_LOG_LINES} lines of Godot's output and the "
        "supervisor's events, one a line: time, program, stream, text",
        mime_type="text/plain",
    )
    async def logs_resource() -> str:
        try:
            async with client_for(None) as client:
                found = await client.logs(RESOURCE_LOG_LINES)
        except ToolError as error:
            raise ResourceError(str(error)) from None
        return "\n".join(_log_text(line) for line in found)

    return server


def _headers(ctx: Context | None) -> Mapping[str, str] | None:
    if ctx is None:
        return None
    try:
        return ctx.headers
    except ValueError:  # outside a request
        return None


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None or pattern == "":
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ToolError(f"pattern is not a valid regular expression: {error}") from None


def _is_error(line: Mapping[str, Any]) -> bool:
    return line.get("stream") == "stderr" or bool(ERROR_LINE.search(str(line.get("text", ""))))


def _log_text(line: Mapping[str, Any]) -> str:
    stamp = line.get("timestamp")
    when = (
        datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")
        if isinstance(stamp, int | float)
        else "?"
    )
    return f"{when} {line.get('program', '?')} {line.get('stream', '?')} {line.get('text', '')}"


def _telemetry_url(table: Mapping[str, Any]) -> str:
    """The game's telemetry WebSocket, from the port table of /services."""
    from spacetime_panel.probes.status import TELEMETRY

    for service in table.get("services") or []:
        if isinstance(service, dict) and service.get("service") == TELEMETRY:
            host, port = service.get("host") or "127.0.0.1", service.get("port")
            if isinstance(port, int):
                return f"ws://{_url_host(str(host))}:{port}"
    raise ToolError("the panel's port table has no telemetry service (no game, or telemetry off)")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def _record(ctx: Context, url: str, seconds: float, folder: Path) -> dict[str, Any]:
    """Record telemetry from `url` for `seconds` into a new CSV in `folder`."""
    from spacetime_panel.telemetry import CsvRecorder, RecordingError, TelemetryClient

    try:
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    except OSError as error:
        raise ToolError(f"cannot create the recordings folder {folder}: {error}") from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"telemetry-{stamp}.csv"
    recorder = CsvRecorder()
    try:
        recorder.start(path)
    except RecordingError as error:
        raise ToolError(str(error)) from None
    client = TelemetryClient(url, recorder=recorder, open_timeout=max(0.2, min(5.0, seconds / 2)))
    started = time.monotonic()
    client.start()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            await _progress(ctx, elapsed, seconds, f"recording telemetry from {url}")
            await asyncio.sleep(min(1.0, seconds - elapsed))
    finally:
        await client.stop()
        recorder.stop()
    summary = client.summary().to_json()
    if recorder.rows == 0:
        problem = " ".join((client.last_error or "no samples came").split())[:300]
        raise ToolError(f"no telemetry from {url} in {seconds:g} s ({problem}); CSV left at {path}")
    return {
        "csv": str(path),
        "folder": str(folder),
        "rows": recorder.rows,
        "seconds": seconds,
        "url": url,
        "summary": summary,
    }


async def _progress(ctx: Context, done: float, total: float, message: str) -> None:
    """A progress notification when the client asked for them (a progress token)."""
    try:
        await ctx.report_progress(min(done, total), total, message)
    except ValueError:  # no request (called outside one)
        return
