"""Fuzz the management API with schemathesis against a real ``serve --demo``.

Starts ``spacetime-panel serve --demo`` (the simulated Godot: game and
editor) on free ports in a temporary folder, waits until it is healthy, and
runs ``schemathesis run .../openapi.json --checks all`` with a fixed seed and
a bounded number of examples, in three passes:

1. every route but ``/start``, ``/stop`` and ``/restart``, while the game
   runs: no 5xx at all but ``/health``'s documented 503 (a 502 from
   ``/status`` or a scene route would mean the API lost a running game);
2. ``/start``, ``/stop`` and ``/restart`` with fewer examples (each stop
   waits for the processes to end);
3. on a second ``serve`` with a management key: the routes of pass 1 again,
   with the key; the document then declares the bearer scheme, and
   schemathesis also checks that each route refuses a request without the
   key or with a wrong one (``ignored_auth``).

Every pass also checks status codes, content types, headers and bodies
against the document (``--checks all``). The rate limit is raised for the
run (``SPACETIME__API__RATE_LIMIT_PER_MINUTE``). The exit code is non-zero
when schemathesis found a failure or ``serve`` did not start or stop
cleanly. Usage::

    .venv/bin/python tests/fuzz/api_fuzz.py [--max-examples 60] [--seed 20261202]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from spacetime_panel.service.panel_service import prepare_demo_project

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
HOOKS = HERE / "hooks.py"
PROCESS_CONTROL = ("/start", "/stop", "/restart")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nobody holds right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(folder: Path, port: int, key: str | None) -> subprocess.Popen[str]:
    """``serve --demo`` on free ports, its files under ``folder``, output to serve.log."""
    project = prepare_demo_project(folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    env["SPACETIME__API__RATE_LIMIT_PER_MINUTE"] = "100000"
    env["XDG_CONFIG_HOME"] = str(folder / "config")  # no user config file
    if key is not None:
        env["SPACETIME_PANEL_API_KEY"] = key
    command = [
        sys.executable, "-m", "spacetime_panel", "serve", "--demo",
        "--project-path", str(project),
        "--port", str(port),
        "--godot-port", str(free_port()),
        "--telemetry-port", str(free_port()),
        "--lsp-port", str(free_port()),
        "--dap-port", str(free_port()),
        "--discovery-port", str(free_port(socket.SOCK_DGRAM)),
        "--log-dir", str(folder / "logs"),
        "--state-dir", str(folder / "state"),
    ]  # fmt: skip
    log = (folder / "serve.log").open("w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def wait_healthy(process: subprocess.Popen[str], url: str, timeout: float) -> None:
    """Poll /health until overall_healthy; raise with the last answer when out of time."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}")
        try:
            answer = httpx.get(url + "/health", timeout=2)
            if answer.status_code == 200 and answer.json().get("overall_healthy"):
                return
            last = f"{answer.status_code} {answer.text[:500]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise RuntimeError(f"serve not healthy after {timeout:g} s: {last}")


def stop_serve(process: subprocess.Popen[str]) -> int:
    """SIGTERM (serve stops Godot first), then make sure no descendant is left."""
    descendants: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        descendants = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        code = -signal.SIGKILL
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()
    return code


def schemathesis(
    url: str, args: argparse.Namespace, folder: Path, *selection: str, examples: int
) -> int:
    """One schemathesis run over the operations chosen by ``selection``; its exit code.

    It runs in ``folder``, where it keeps its own cache (``.schemathesis``).
    """
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(CONFIG),
        "run", url + "/openapi.json",
        "--checks", "all",
        "--max-examples", str(examples),
        "--seed", str(args.seed),
        "--workers", "1",
        "--generation-database", "none",
        "--request-timeout", "30",
        *selection,
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    return subprocess.run(command, check=False, cwd=folder, env=env).returncode


def fuzz_panel(folder: Path, args: argparse.Namespace, key: str | None) -> list[int]:
    """Start a panel in `folder`, run the passes for it, stop it; the exit codes."""
    folder.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_serve(folder, port, key)
    codes: list[int] = []
    read = [f"--exclude-path={path}" for path in PROCESS_CONTROL]
    try:
        wait_healthy(process, url, timeout=60)
        if key is None:
            codes.append(schemathesis(url, args, folder, *read, examples=args.max_examples))
            control = [f"--include-path={path}" for path in PROCESS_CONTROL]
            codes.append(schemathesis(url, args, folder, *control, examples=args.control_examples))
        else:
            keyed = [*read, "--header", f"Authorization: Bearer {key}"]
            codes.append(schemathesis(url, args, folder, *keyed, examples=args.keyed_examples))
    except RuntimeError as exc:
        print(f"api_fuzz: {exc}", file=sys.stderr)
        codes.append(1)
    finally:
        stopped = stop_serve(process)
        log = (folder / "serve.log").read_text(errors="replace")
    if stopped != 0:
        codes.append(1)
        print(f"api_fuzz: serve exited with {stopped} on SIGTERM", file=sys.stderr)
    if any(codes):
        print(f"--- {folder.name}: serve.log (last 60 lines) ---", file=sys.stderr)
        print("\n".join(log.splitlines()[-60:]), file=sys.stderr)
    return codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=60, help="per operation (60)")
    parser.add_argument("--control-examples", type=int, default=10, help="for start/stop/restart")
    parser.add_argument("--keyed-examples", type=int, default=20, help="with a key (20)")
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spacetime-fuzz-") as tmp:
        codes = fuzz_panel(Path(tmp) / "open", args, key=None)
        codes += fuzz_panel(Path(tmp) / "keyed", args, key=secrets.token_urlsafe(24))
    verdict = "FAILED" if any(codes) else "passed"
    print(f"api_fuzz: {verdict} in {time.monotonic() - began:.0f} s (exit codes {codes})")
    return 1 if any(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
