"""Run a .pck in the Godot 4.6 web template under headless Chromium and collect its output.

One run: a temporary folder served on a free 127.0.0.1 port (the template files, the
pack and a small page), one Chromium with its own profile, the DevTools protocol over
`websockets` to read what the engine prints. The page hands each line to a DevTools
binding (`stbEmit`), so engine output is told apart from the browser's own console,
and in order: the exit code arrives after every line printed before `quit()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import websockets

from tests.godot_web.template import find_template, template_files

DEFAULT_TIMEOUT = 60.0
# After the engine's first error line, wait this long for it to quit before giving up:
# a script that fails to parse leaves its scene without a script, which never quits.
DEFAULT_ERROR_GRACE = 3.0
# How Godot starts an error report on its error stream (warnings say WARNING:).
ERROR_LINE = re.compile(r"^\s*(?:USER |SHADER |SCRIPT |USER SCRIPT )*ERROR:")
PACK_NAME = "game.pck"
BINDING = "stbEmit"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--remote-debugging-port=0",
)


class Stream(Enum):
    """Where a collected line came from."""

    OUT = "out"  # the engine's print()
    ERR = "err"  # the engine's printerr() and its error/warning reports
    BROWSER = "browser"  # the page: console messages and exceptions not from the engine


class HarnessError(RuntimeError):
    """The harness itself could not run the engine (no Chromium, page never started...)."""


@dataclass
class EngineRun:
    """What one run of the engine printed and how it ended.

    `exit_code` is None when the engine never reported an exit (a crash or the timeout);
    `crash` then says what the page saw.
    """

    exit_code: int | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    browser: list[str] = field(default_factory=list)
    # Every line in the order it arrived, with its stream.
    lines: list[tuple[Stream, str]] = field(default_factory=list)
    elapsed: float = 0.0
    timed_out: bool = False
    stopped_after_error: bool = False
    crash: str | None = None

    def transcript(self, *, omit: tuple[str, ...] = ()) -> str:
        """Every line, for an assertion message; lines starting with `omit` are counted only."""
        parts = [f"exit code: {self.exit_code}  elapsed: {self.elapsed:.2f} s"]
        if self.crash:
            parts.append(f"crash: {self.crash}")
        if self.timed_out:
            parts.append("timed out")
        if self.stopped_after_error:
            parts.append("stopped: no exit after an engine error")
        omitted = 0
        for stream, line in self.lines:
            if omit and line.startswith(omit):
                omitted += 1
            else:
                parts.append(f"{stream.value:>7}| {line}")
        if omitted:
            parts.append(f"({omitted} lines starting with {' or '.join(omit)} not shown)")
        return "\n".join(parts)


def find_chromium() -> str | None:
    """The Chromium executable: `$SPACETIME_CHROMIUM`, else the first known name on PATH."""
    configured = os.environ.get("SPACETIME_CHROMIUM")
    if configured:
        return configured if shutil.which(configured) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def page_html(args: Sequence[str]) -> str:
    """The page that starts the engine with `args` after `--` and reports through the binding.

    The canvas is 0x0 with resize policy 0: with `--headless` any canvas resize reaches the
    headless display server through the web one and crashes the engine.
    """
    engine_args = json.dumps(["--headless", "--", *args])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>godot-web harness</title>
<link rel="icon" href="data:,"></head>
<body style="margin:0">
<canvas id="canvas" width="0" height="0" style="width:0;height:0;display:block"></canvas>
<script src="index.js"></script>
<script>
const emit = (kind, text) => {{
  const message = JSON.stringify({{kind: kind, text: String(text)}});
  if (typeof window.{BINDING} === "function") {{ window.{BINDING}(message); }}
  else {{ console.log("{BINDING} " + message); }}
}};
const engine = new Engine({{
  executable: "index",
  mainPack: "{PACK_NAME}",
  canvasResizePolicy: 0,
  args: {engine_args},
  onPrint: (...parts) => emit("out", parts.join(" ")),
  onPrintError: (...parts) => emit("err", parts.join(" ")),
  onExit: (code) => emit("exit", code),
}});
engine.startGame().catch((error) => emit("crash", (error && error.stack) || error));
</script>
</body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".pck": "application/octet-stream",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve `folder` on a free 127.0.0.1 port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="godot-web-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def stage_site(folder: Path, template: Path, pack: bytes, args: Sequence[str]) -> None:
    """Fill `folder` with what the page loads: template files (linked), the pack, the page."""
    for source in template_files(template):
        target = folder / source.name
        try:
            target.symlink_to(source.resolve())
        except OSError:
            shutil.copyfile(source, target)
    (folder / PACK_NAME).write_bytes(pack)
    (folder / "index.html").write_text(page_html(args), encoding="utf-8")


class _Chromium:
    """One headless Chromium in its own process group, with a throwaway profile."""

    def __init__(self, executable: str, profile: Path, log: Path) -> None:
        self.profile = profile
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def devtools_port(self, deadline: float) -> int:
        """The DevTools port Chromium wrote to `DevToolsActivePort` in its profile."""
        marker = self.profile / "DevToolsActivePort"
        while True:
            if marker.is_file():
                # "PORT\n/devtools/browser/ID": complete only once the second line is there.
                lines = marker.read_text(encoding="utf-8").splitlines()
                if len(lines) >= 2 and lines[0].isdigit() and lines[1].startswith("/devtools/"):
                    return int(lines[0])
            if self.process.poll() is not None:
                raise HarnessError(f"chromium exited with {self.process.returncode} at start")
            if time.monotonic() > deadline:
                raise HarnessError("chromium did not open its DevTools port in time")
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Kill Chromium and every child in its process group, and reap it."""
        # The whole group even if Chromium itself has exited: its renderers may remain.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._log.close()


def _page_websocket(port: int) -> str | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
        targets = json.load(answer)
    for target in targets:
        if target.get("type") == "page" and "webSocketDebuggerUrl" in target:
            return str(target["webSocketDebuggerUrl"])
    return None


class _DevTools:
    """A minimal DevTools protocol client on one page target."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self._connection = connection
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def pump(self) -> None:
        """Route answers to their callers and events to the queue until the socket closes."""
        try:
            async for raw in self._connection:
                message = json.loads(raw)
                waiter = self._waiting.pop(message.get("id", -1), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
                elif "method" in message:
                    self.events.put_nowait(message)
        finally:
            self.events.put_nowait({"method": "Harness.closed", "params": {}})

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = waiter
        await self._connection.send(
            json.dumps({"id": self._next_id, "method": method, "params": params})
        )
        answer = await asyncio.wait_for(waiter, timeout=15)
        if "error" in answer:
            raise HarnessError(f"DevTools {method} failed: {answer['error']}")
        return dict(answer.get("result", {}))


def _remote_text(value: dict[str, Any]) -> str:
    if "value" in value:
        return str(value["value"])
    return str(value.get("description", value.get("type", "")))


LineSink = Callable[[Stream, str], None]


async def _drive(
    devtools: _DevTools,
    url: str,
    result: EngineRun,
    *,
    deadline: float,
    error_grace: float | None,
    on_line: LineSink | None,
) -> None:
    def add(stream: Stream, text: str) -> None:
        for line in text.splitlines() or [""]:
            {Stream.OUT: result.stdout, Stream.ERR: result.stderr, Stream.BROWSER: result.browser}[
                stream
            ].append(line)
            result.lines.append((stream, line))
            if on_line is not None:
                on_line(stream, line)

    await devtools.call("Runtime.enable")
    await devtools.call("Log.enable")
    await devtools.call("Page.enable")
    await devtools.call("Runtime.addBinding", name=BINDING)
    await devtools.call("Page.navigate", url=url)
    error_deadline: float | None = None
    while True:
        if (
            error_deadline is None
            and error_grace is not None
            and any(ERROR_LINE.match(line) for line in result.stderr)
        ):
            error_deadline = time.monotonic() + error_grace
        stop_at = deadline if error_deadline is None else min(deadline, error_deadline)
        remaining = stop_at - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            event = await asyncio.wait_for(devtools.events.get(), timeout=remaining)
        except TimeoutError:
            if stop_at == deadline:
                result.timed_out = True
            else:
                result.stopped_after_error = True
            return
        method = event.get("method")
        params = event.get("params", {})
        if method == "Runtime.bindingCalled" and params.get("name") == BINDING:
            message = json.loads(params.get("payload", "{}"))
            kind, text = message.get("kind"), str(message.get("text", ""))
            if kind == "out":
                add(Stream.OUT, text)
            elif kind == "err":
                add(Stream.ERR, text)
            elif kind == "exit":
                try:
                    result.exit_code = int(text)
                except ValueError:
                    result.crash = f"exit with a code that is not a number: {text!r}"
                return
            elif kind == "crash":
                result.crash = text.splitlines()[0] if text else "startGame failed"
                add(Stream.BROWSER, f"startGame failed: {text}")
                return
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_text(arg) for arg in params.get("args", []))
            add(Stream.BROWSER, f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = _remote_text(details.get("exception", {})) or details.get("text", "")
            add(Stream.BROWSER, f"exception: {text}")
            # An uncaught exception in the page is the engine dying (a wasm trap, an abort).
            result.crash = text.splitlines()[0] if text else "uncaught exception"
            return
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            add(Stream.BROWSER, f"log.{entry.get('level')}: {entry.get('text')}")
        elif method == "Harness.closed":
            result.crash = "the DevTools connection closed"
            return


async def run_pack_async(
    pack: bytes,
    *,
    args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    error_grace: float | None = DEFAULT_ERROR_GRACE,
    template: Path | None = None,
    on_line: LineSink | None = None,
) -> EngineRun:
    """Run `pack` in the web engine with `args` (after `--`); returns what it printed.

    Waits until the engine quits, the page crashes, `timeout` seconds pass, or
    `error_grace` seconds after the engine's first error line (None: no such limit).
    Chromium and the temporary folders are gone when this returns.
    """
    chromium_path = find_chromium()
    if chromium_path is None:
        raise HarnessError("chromium is not installed: apt-get install chromium")
    template = template or find_template()
    started = time.monotonic()
    deadline = started + timeout
    result = EngineRun()
    with tempfile.TemporaryDirectory(prefix="godot-web-") as temp:
        site = Path(temp) / "site"
        profile = Path(temp) / "profile"
        site.mkdir()
        profile.mkdir()
        stage_site(site, template, pack, args)
        with serve_folder(site) as base_url:
            chromium = _Chromium(chromium_path, profile, Path(temp) / "chromium.log")
            try:
                port = await chromium.devtools_port(deadline)
                page_url = await _wait_for_page(port, deadline)
                async with websockets.connect(page_url, max_size=None) as connection:
                    devtools = _DevTools(connection)
                    pump = asyncio.create_task(devtools.pump())
                    try:
                        await _drive(
                            devtools,
                            base_url + "index.html",
                            result,
                            deadline=deadline,
                            error_grace=error_grace,
                            on_line=on_line,
                        )
                    finally:
                        pump.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await pump
            except HarnessError as error:
                log = (Path(temp) / "chromium.log").read_text(errors="replace")[-2000:]
                raise HarnessError(f"{error}\nchromium said:\n{log}") from error
            finally:
                chromium.stop()
    result.elapsed = time.monotonic() - started
    return result


async def _wait_for_page(port: int, deadline: float) -> str:
    while True:
        try:
            found = await asyncio.to_thread(_page_websocket, port)
        except OSError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise HarnessError("chromium opened no page target in time")
        await asyncio.sleep(0.05)


def run_pack(
    pack: bytes,
    *,
    args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    error_grace: float | None = DEFAULT_ERROR_GRACE,
    template: Path | None = None,
    on_line: LineSink | None = None,
) -> EngineRun:
    """`run_pack_async` for callers without an event loop (the CLI, synchronous tests)."""
    return asyncio.run(
        run_pack_async(
            pack,
            args=args,
            timeout=timeout,
            error_grace=error_grace,
            template=template,
            on_line=on_line,
        )
    )
