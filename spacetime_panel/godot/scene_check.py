"""Loading every scene of a project in the running game, one by one, and judging each.

`spacetime-panel check-scenes` asks the running panel (`serve` or the desktop
panel) to load each scene through its management API (`POST /scene/load`: the
panel knows the game's bridge port and key, and answers a refusal with one
line), and listens to the game's telemetry WebSocket meanwhile. A scene passes
when its `scene_loaded` arrives within the timeout and no `error` event came
between the request and a short settle after the load (errors of `_ready()`
arrive then). It fails when the panel refuses the request, the bridge reports
the load failed (its `Scene res://...: ...` error, after Godot's own), the
telemetry connection closes during the load (the game died), the timeout
passes, or any error came. A game that is not up yet (the panel answers 409,
or 502 "not reachable") is asked again until the scene's timeout: CI starts
check-scenes as soon as serve answers, before Godot is up.

`write_junit` writes the results as JUnit XML (testsuites/testsuite/testcase/
failure, the error lines in system-out), which CI systems show per scene.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from spacetime_panel.godot.key_policy import bearer_header, host_of
from spacetime_panel.godot.scenes import list_scenes
from spacetime_panel.telemetry import TelemetryClient
from spacetime_panel.telemetry.codec import ErrorEvent, SceneLoaded, TelemetryEvent
from spacetime_panel.telemetry.stats import ConnectionState

#: Scenes not checked unless asked for: an addon's scenes are editor tools, not the game's.
DEFAULT_EXCLUDES = ("res://addons/*",)
#: Seconds to keep listening for errors after a scene is in (its `_ready()` runs then).
DEFAULT_SETTLE = 0.5
#: How often a line says a scene is still loading.
PROGRESS_EVERY = 5.0
#: Seconds between asks while the game is not up, and between looks at the connection.
RETRY_EVERY = 0.5
#: The source of the bridge's own error when a scene load fails (protocol/README.md).
BRIDGE_SOURCE = "spacetime_bridge"


class PanelUnreachable(RuntimeError):
    """The management API did not answer (or refused the key); the message says what to do."""


class TelemetryUnreachable(RuntimeError):
    """The game's telemetry never connected; the message names the last error."""


@dataclass(frozen=True, slots=True)
class SceneResult:
    """One scene's verdict; `errors` are the game's error lines during its load."""

    path: str
    passed: bool
    seconds: float
    reason: str = ""
    errors: tuple[str, ...] = ()


def find_scenes(
    project: Path,
    *,
    patterns: Sequence[str] = (),
    excludes: Sequence[str] = DEFAULT_EXCLUDES,
) -> list[str]:
    """The project's scenes as `res://` paths, sorted.

    Folders starting with a dot (`.godot/`) and folders holding a `.gdignore`
    (which Godot does not import) are skipped. `patterns` (res:// paths or
    globs, `res://` optional) keep only the scenes they match; `excludes`
    drop the ones they match.
    """
    ignored = [
        "res://" + marker.parent.relative_to(project).as_posix() + "/"
        for marker in project.rglob(".gdignore")
    ]
    scenes = [
        scene
        for scene in list_scenes(project)
        if not any(scene.startswith(folder) for folder in ignored)
        and not any(fnmatch.fnmatchcase(scene, _res(pattern)) for pattern in excludes)
    ]
    if patterns:
        scenes = [s for s in scenes if any(fnmatch.fnmatchcase(s, _res(p)) for p in patterns)]
    return scenes


def _res(pattern: str) -> str:
    return pattern if pattern.startswith("res://") else "res://" + pattern.removeprefix("./")


@dataclass
class _Listener:
    """The telemetry events a check looks at, in arrival order."""

    events: list[TelemetryEvent] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: TelemetryEvent) -> None:
        if isinstance(event, (SceneLoaded, ErrorEvent)):
            self.events.append(event)
            self.arrived.set()


class SceneChecker:
    """Loads scenes through the management API at `api_url` and watches `telemetry_url`."""

    def __init__(
        self,
        api_url: str,
        telemetry_url: str,
        *,
        api_key: str | None = None,  # the management API's control key
        timeout: float = 60.0,
        settle: float = DEFAULT_SETTLE,
        progress: Callable[[str], None] = lambda line: None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.settle = settle
        self._progress = progress
        # The management key goes to the panel the user named (--host), loopback or not.
        host = host_of(self.api_url)
        headers = bearer_header(host, api_key, (host,))
        self._http = http or httpx.AsyncClient(headers=headers, timeout=30.0)
        self._listener = _Listener()
        self._lost = False  # the telemetry connection closed during the current load
        self._telemetry = TelemetryClient(
            telemetry_url, on_event=self._listener, reconnect_max=1.0, batch_interval=0.05
        )

    async def __aenter__(self) -> SceneChecker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._telemetry.stop()
        await self._http.aclose()

    async def current_scene(self) -> str | None:
        """The scene the game has now (from /health), or None; PanelUnreachable if no panel."""
        body = (await self._get("/health")).json()
        scene = body.get("scene") if isinstance(body, dict) else None
        path = scene.get("path") if isinstance(scene, dict) and scene.get("loaded") else None
        return path if isinstance(path, str) else None

    async def connect(self, timeout: float) -> None:
        """Connect to the game's telemetry; TelemetryUnreachable after `timeout` seconds."""
        self._telemetry.start()
        deadline = time.monotonic() + timeout
        while self._telemetry.state is not ConnectionState.CONNECTED:
            if time.monotonic() >= deadline:
                problem = self._telemetry.last_error or "no answer"
                raise TelemetryUnreachable(
                    f"no telemetry from {self._telemetry.url} within {timeout:g} s ({problem}); "
                    "is the game running under the panel?"
                )
            await asyncio.sleep(0.05)

    async def check(self, scene: str) -> SceneResult:
        """Load `scene` and judge it (see the module)."""
        started = time.monotonic()
        if self._telemetry.state is not ConnectionState.CONNECTED:
            try:
                await self.connect(self.timeout)
            except TelemetryUnreachable as error:
                return SceneResult(scene, False, time.monotonic() - started, str(error))
        listener = self._listener
        listener.events.clear()
        response = await self._request_load(scene, started + self.timeout)
        if response.status_code in (401, 403):
            raise PanelUnreachable(
                f"the panel at {self.api_url} refused the key: {_message(response)}; "
                "set SPACETIME_PANEL_API_KEY to its control key"
            )
        if response.status_code != 202:
            reason = f"the panel refused the load: {_message(response)}"
            return SceneResult(scene, False, time.monotonic() - started, reason)
        self._lost = False
        loaded_at = await self._wait_for_load(scene, started)
        elapsed = time.monotonic() - started
        if loaded_at is not None:
            await asyncio.sleep(self.settle)
        errors = tuple(_line(e) for e in listener.events if isinstance(e, ErrorEvent))
        if loaded_at is None:
            failed = [e for e in listener.events if _is_load_failure(e, scene)]
            if failed or errors:
                first = _first_engine_error(listener.events) or errors[0]
                return SceneResult(scene, False, elapsed, first, errors)
            if self._lost:
                reason = "the game's telemetry closed during the load (did the game crash?)"
                return SceneResult(scene, False, elapsed, reason, errors)
            reason = f"no scene_loaded within {self.timeout:g} s"
            return SceneResult(scene, False, elapsed, reason, errors)
        if errors:
            return SceneResult(scene, False, loaded_at - started, errors[0], errors)
        return SceneResult(scene, True, loaded_at - started)

    async def _request_load(self, scene: str, deadline: float) -> httpx.Response:
        """POST /scene/load, asked again while the game is not up yet (starting, restarting):
        409 (not running) or 502 "Godot API not reachable", until `deadline`."""
        while True:
            response = await self._post("/scene/load", {"path": scene})
            not_up = response.status_code == 409 or (
                response.status_code == 502 and "not reachable" in _message(response)
            )
            if not not_up or time.monotonic() + RETRY_EVERY >= deadline:
                return response
            await asyncio.sleep(RETRY_EVERY)

    async def load(self, scene: str) -> None:
        """Ask for `scene` without waiting (to put back the scene from before)."""
        await self._post("/scene/load", {"path": scene})

    async def _wait_for_load(self, scene: str, started: float) -> float | None:
        """The time `scene`'s scene_loaded came, or None on its failure or the timeout."""
        listener = self._listener
        deadline = started + self.timeout
        next_progress = started + PROGRESS_EVERY
        seen = 0
        while True:
            for event in listener.events[seen:]:
                if isinstance(event, SceneLoaded) and event.path == scene:
                    return time.monotonic()
                if _is_load_failure(event, scene):
                    return None
            seen = len(listener.events)
            if self._telemetry.state is not ConnectionState.CONNECTED:
                self._lost = True
                return None
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_progress:
                self._progress(f"  still loading {scene} ({now - started:.0f} s)")
                next_progress += PROGRESS_EVERY
            listener.arrived.clear()
            wait = min(deadline, next_progress, now + RETRY_EVERY) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(listener.arrived.wait(), timeout=wait)

    async def _get(self, path: str) -> httpx.Response:
        try:
            return await self._http.get(self.api_url + path)
        except httpx.TransportError as error:
            raise PanelUnreachable(self._unreachable(error)) from None

    async def _post(self, path: str, body: dict[str, str]) -> httpx.Response:
        try:
            return await self._http.post(self.api_url + path, json=body)
        except httpx.TransportError as error:
            raise PanelUnreachable(self._unreachable(error)) from None

    def _unreachable(self, error: Exception) -> str:
        why = str(error) or type(error).__name__
        return (
            f"no panel answers at {self.api_url} ({why}); start one first, e.g. "
            "`spacetime-panel serve --project-path . &` (add --xvfb without a display)"
        )


def _is_load_failure(event: TelemetryEvent, scene: str) -> bool:
    """The bridge's own error for a failed load of `scene` (after Godot's errors)."""
    return (
        isinstance(event, ErrorEvent)
        and event.source == BRIDGE_SOURCE
        and event.message.startswith(f"Scene {scene}:")
    )


def _first_engine_error(events: Sequence[TelemetryEvent]) -> str | None:
    """The first error Godot logged (the cause), not the bridge's summary of it."""
    for event in events:
        if isinstance(event, ErrorEvent) and event.source != BRIDGE_SOURCE:
            return event.message
    return None


def _line(event: ErrorEvent) -> str:
    return f"{event.message} ({event.source})" if event.source else event.message


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    message = body.get("message") if isinstance(body, dict) else None
    text = message if isinstance(message, str) else str(body)
    return f"{text} (HTTP {response.status_code})"


def write_junit(
    results: Sequence[SceneResult],
    target: Path,
    *,
    suite: str = "scenes",
    started: datetime | None = None,
) -> None:
    """The results as JUnit XML: one testsuite, a testcase per scene (OSError if unwritable)."""
    failures = sum(not result.passed for result in results)
    total = sum(result.seconds for result in results)
    root = ET.Element(
        "testsuites",
        name="spacetime-panel check-scenes",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{total:.3f}",
    )
    testsuite = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{total:.3f}",
        timestamp=(started or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname(),
    )
    for result in results:
        case = ET.SubElement(
            testsuite,
            "testcase",
            name=result.path,
            classname=suite,
            time=f"{result.seconds:.3f}",
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.reason, type="SceneLoadFailed")
            failure.text = "\n".join(result.errors) or result.reason
        if result.errors:
            ET.SubElement(case, "system-out").text = "\n".join(result.errors)
    ET.indent(root)
    tree = ET.ElementTree(root)
    with target.open("wb") as file:
        tree.write(file, encoding="utf-8", xml_declaration=True)
