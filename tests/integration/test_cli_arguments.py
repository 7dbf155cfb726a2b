"""The terminal commands say what is wrong: a bad argument is one line naming it and exit 2;
a peer that cannot be reached is named by its cause (refused, timed out, not a WebSocket,
401). Every command runs as a child process, as a user would run it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from spacetime_panel.cli import main
from tests.conftest import TIME_SCALE, free_port
from tests.integration.conftest import PANEL, Serve, wait_until
from tests.qt_plugin import plugin_folder_needing

# (arguments, the argument the one line names, what it says of it)
BAD_ARGUMENTS: list[tuple[tuple[str, ...], str, str]] = [
    (("probe", "tcp", "--port", "99999"), "--port", "port must be 1-65535 (got 99999)"),
    (("probe", "tcp", "--port", "0"), "--port", "port must be 1-65535 (got 0)"),
    (("probe", "tcp", "--port", "80", "--timeout", "-1"), "--timeout", "must be a number"),
    (("probe", "lsp", "--port", "80", "--timeout", "0"), "--timeout", "must be a number"),
    (
        ("probe", "http", "--host", "https://127.0.0.1:99999"),
        "--host",
        "port must be 1-65535 (got 99999)",
    ),
    (("probe", "http", "--host", "http://127.0.0.1:x"), "--host", "ports are 1-65535"),
    (("telemetry", "--duration", "0"), "--duration", "must be a number of seconds above 0"),
    (("telemetry", "--duration", "-1"), "--duration", "must be a number of seconds above 0"),
    (("telemetry", "--duration", "soon"), "--duration", "must be a number"),
    (("telemetry", "--url", "notaurl"), "--url", "'notaurl' is not a ws:// or wss:// URL"),
    (("telemetry", "--url", "http://127.0.0.1:8081"), "--url", "'http://127.0.0.1:8081'"),
    (("telemetry", "--url", "ws://127.0.0.1:70000"), "--url", "'ws://127.0.0.1:70000' has"),
    (("telemetry", "--url", "wss://127.0.0.1:8081"), "--url", "wss:// is not supported"),
    (("telemetry", "--telemetry-port", "0"), "--telemetry-port", "port must be 1-65535"),
    (("telemetry", "--refresh-rate", "60"), "--refresh-rate", "invalid choice"),
    (("status", "--port", "65536"), "--port", "port must be 1-65535 (got 65536)"),
    (("status", "--godot-port", "http"), "--godot-port", "port must be 1-65535"),
    (("status", "--lsp-port", "1.5"), "--lsp-port", "port must be 1-65535"),
    (("status", "--discovery-port", "0"), "--discovery-port", "port must be 1-65535"),
    (("status", "--http-fallback-ports", "8083,99999"), "--http-fallback-ports", "port"),
    (("serve", "--dap-port", "123456"), "--dap-port", "port must be 1-65535"),
    (("serve", "--stop-timeout", "0"), "--stop-timeout", "must be a number"),
    (("serve", "--start-timeout", "-3"), "--start-timeout", "must be a number"),
    (("serve", "--check-interval", "inf"), "--check-interval", "must be a number"),
    (("serve", "--player-timeout", "nan"), "--player-timeout", "must be a number"),
    (("gui", "--http-fallback-ports", "a,b"), "--http-fallback-ports", "port"),
    (
        ("keys", "--keyring-timeout", "-1", "where"),
        "--keyring-timeout",
        "must be a number of seconds above 0",
    ),
    (("serve", "--scene-path", "res://../x.tscn"), "--scene-path", "must not contain '..'"),
    (("serve", "--scene-path", "vr_main.tscn"), "--scene-path", "must start with res://"),
]


def environment() -> dict[str, str]:
    """No SPACETIME_* of the caller's (a key, a port) reaches the command."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PANEL, *args],
        capture_output=True,
        text=True,
        timeout=60 * TIME_SCALE,
        env={**environment(), **(env or {})},
    )


#: The issue's cases and one per command, run as a user would (a Python start-up each).
AS_CHILDREN = [
    ("probe", "tcp", "--port", "99999"),
    ("probe", "tcp", "--port", "80", "--timeout", "-1"),
    ("telemetry", "--duration", "0"),
    ("telemetry", "--duration", "-1"),
    ("telemetry", "--url", "notaurl"),
    ("status", "--http-fallback-ports", "8083,99999"),
    ("serve", "--stop-timeout", "0"),
    ("gui", "--http-fallback-ports", "a,b"),
]


@pytest.fixture(scope="module")
def children() -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    """The AS_CHILDREN commands, run side by side."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(AS_CHILDREN, pool.map(lambda args: run(*args), AS_CHILDREN), strict=True))


def in_process(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`main(args)`'s exit code, stdout and stderr (argparse exits by SystemExit)."""
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "flag", "says"),
    BAD_ARGUMENTS,
    ids=[" ".join(args) for args, _, _ in BAD_ARGUMENTS],
)
def test_a_bad_argument_is_one_line_that_names_it_and_exit_2(
    children: dict[tuple[str, ...], subprocess.CompletedProcess[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    flag: str,
    says: str,
) -> None:
    if args in children:
        result = children[args]
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        for name in [k for k in os.environ if k.startswith("SPACETIME_")]:
            monkeypatch.delenv(name)
        code, out, err = in_process(args, capsys)
    assert code == 2, (out, err)
    assert out == ""
    assert err.count("\n") == 1, err
    assert f"argument {flag}" in err and says in err, err
    assert err.startswith("spacetime-panel")
    assert "Traceback" not in err


def test_every_child_case_is_a_bad_argument_case() -> None:
    assert set(AS_CHILDREN) <= {args for args, _, _ in BAD_ARGUMENTS}


# --- peers that cannot be reached -----------------------------------------------------


class Answer(BaseHTTPRequestHandler):
    """An HTTP/1.1 server that answers every request with the server's `status`."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"error": "Unauthorized", "message": "Invalid or missing API key"})
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_peers() -> Iterator[dict[int, int]]:
    """Ports of plain HTTP servers that answer 404 and 401 (no WebSocket anywhere)."""
    servers = {}
    for status in (404, 401):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        server.status = status  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[status] = server
    try:
        yield {status: server.server_address[1] for status, server in servers.items()}
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def telemetry(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("telemetry", "--url", url, "--duration", "1", *extra)


def test_telemetry_names_a_refused_connection(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    result = telemetry(url)
    assert result.returncode == 1
    assert "disconnected (connection refused" in result.stdout.splitlines()[0]
    assert "last error: -" not in result.stdout.splitlines()[0]
    assert result.stderr == (
        f"spacetime-panel: no telemetry from {url}: "
        "connection refused: nothing listens there (is the game running?)\n"
    )


def test_telemetry_names_a_peer_that_never_answers(silent_port: int) -> None:
    result = telemetry(f"ws://127.0.0.1:{silent_port}")
    assert result.returncode == 1
    assert "timed out: no WebSocket handshake in time" in result.stderr
    assert result.stderr.count("\n") == 1


def test_telemetry_names_a_server_that_is_not_a_websocket(http_peers: dict[int, int]) -> None:
    result = telemetry(f"ws://127.0.0.1:{http_peers[404]}", "--json")
    assert result.returncode == 1
    problem = "not a WebSocket: the server answered HTTP 404"
    assert problem in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["connection_error"] == problem


def test_telemetry_names_a_401(http_peers: dict[int, int]) -> None:
    result = telemetry(f"ws://127.0.0.1:{http_peers[401]}")
    assert result.returncode == 1
    assert "refused with HTTP 401 Unauthorized" in result.stderr


def test_status_names_each_cause(http_peers: dict[int, int], silent_port: int) -> None:
    result = run(
        "status",
        "--json",
        "--port", str(silent_port),
        "--godot-port", str(http_peers[401]),
        "--telemetry-port", str(http_peers[404]),
        "--lsp-port", str(free_port()),
        "--dap-port", str(free_port()),
        "--discovery-port", str(free_port(socket.SOCK_DGRAM)),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    details = {s["service"]: s["detail"] for s in json.loads(result.stdout)["services"]}
    assert details["management_api"].startswith("accepted but did not answer within")
    assert "API key refused" in details["bridge_http"]  # the bridge's 401
    assert "not a WebSocket server" in details["telemetry"]
    assert "HTTP 404" in details["telemetry"]
    assert details["lsp"] == details["dap"] == "nobody listening"


def test_probe_names_the_cause(http_peers: dict[int, int]) -> None:
    refused = run("probe", "tcp", "--port", str(free_port()))
    assert refused.returncode == 1
    assert refused.stdout.strip().endswith("down: connection refused")
    unauthorized = run("probe", "ws", "--port", str(http_peers[401]), "--timeout", "2")
    assert unauthorized.returncode == 1
    assert "HTTP 401" in unauthorized.stdout


# --- every port the panel hands to Godot is a flag ---------------------------------


def test_the_bridge_takes_a_fallback_port_given_by_flag(serve: Serve) -> None:
    fallback = free_port()
    with socket.socket() as busy:  # the bridge's own port is taken: it must fall back
        busy.bind(("127.0.0.1", serve.godot_port))
        busy.listen(1)
        serve.start("--http-fallback-ports", f"{fallback}")
        wait_until(lambda: serve.game()["state"] == "RUNNING", 20, "the game to run")
        status = httpx.get(f"http://127.0.0.1:{fallback}/status", timeout=5).json()
    assert status["bridge"]["http_port"] == fallback


def test_without_a_display_the_panel_says_how_to_run_headless_with_the_same_flags(
    tmp_path: Path,
) -> None:
    port = free_port()
    no_display = {
        k: v
        for k, v in environment().items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    done = subprocess.run(
        [*PANEL, "--demo", "--port", str(port), "--log-dir", str(tmp_path / "logs dir")],
        capture_output=True,
        text=True,
        timeout=60 * TIME_SCALE,
        env=no_display,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "no display to open the panel on (DISPLAY is not set)" in done.stderr
    expected = f"spacetime-panel serve --demo --port {port} --log-dir '{tmp_path / 'logs dir'}'"
    assert done.stderr.rstrip().endswith(f"run it headless with: {expected}"), done.stderr


@pytest.mark.parametrize(
    ("variable", "says"),
    [
        ("SPACETIME_API_KEY_FILE", "cannot read the bridge key"),
        ("SPACETIME_PANEL_API_KEY_FILE", "cannot read the management API key"),
    ],
)
def test_serve_stops_on_a_secret_file_it_cannot_read(
    tmp_path: Path, variable: str, says: str
) -> None:
    missing = tmp_path / "no such secret"
    done = run(
        "serve", "--demo", "--port", str(free_port()), "--log-dir", str(tmp_path),
        env={variable: str(missing)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"spacetime-panel: {says}: {variable}={missing}: cannot read it" in done.stderr
    assert not (tmp_path / "game.log").exists()  # nothing was launched


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd and xcb are Linux's")
def test_a_missing_qt_library_is_named_before_qt_aborts(tmp_path: Path) -> None:
    platforms = plugin_folder_needing("libspacetime-gui-test.so.1", tmp_path)
    port = free_port()
    env = {
        **environment(),
        "DISPLAY": ":99",
        "QT_QPA_PLATFORM": "xcb",
        "QT_QPA_PLATFORM_PLUGIN_PATH": str(platforms),
    }
    done = subprocess.run(
        [*PANEL, "--demo", "--port", str(port), "--log-dir", str(tmp_path / "logs")],
        capture_output=True,
        text=True,
        timeout=60 * TIME_SCALE,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr  # one line, not Qt's abort
    assert done.stderr.startswith("spacetime-panel: the desktop panel cannot start: ")
    assert "libspacetime-gui-test.so.1" in done.stderr
    fix = done.stderr.split("; fix: ", 1)[1]  # what the machine lacks besides, apt installs
    assert "apt-file search libspacetime-gui-test.so.1" in fix
    assert done.stderr.rstrip().endswith(
        f"or run it headless with: spacetime-panel serve --demo --port {port} "
        f"--log-dir {tmp_path / 'logs'}"
    )
