"""A simulated Godot as a real child process, for the simulator's integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TIME_SCALE, free_port, wait_until

WAIT = 15.0 * TIME_SCALE


class SimProcess:
    """One ``python -m spacetime_panel.sim.main`` child in its own process group."""

    def __init__(
        self,
        project: Path,
        *args: str,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        stdout: Any = None,
    ) -> None:
        self.http_port = free_port()
        self.telemetry_port = free_port()
        self.project = project
        self.env = {
            **os.environ,
            "SPACETIME_HTTP_PORT": str(self.http_port),
            "SPACETIME_TELEMETRY_PORT": str(self.telemetry_port),
            "SPACETIME_DISCOVERY_PORT": "0",
            "SPACETIME_LSP_PORT": str(free_port()),
            "SPACETIME_DAP_PORT": str(free_port()),
            "SPACETIME_SIM_LOAD_DELAY": "0.1",
            "SPACETIME_SIM_SPAWN_DELAY": "0.05",
            **(env or {}),
        }
        self.http_port = int(self.env["SPACETIME_HTTP_PORT"])
        self.telemetry_port = int(self.env["SPACETIME_TELEMETRY_PORT"])
        log_dir = log_dir or project.parent
        self.stdout_path = log_dir / "sim.stdout"
        self.stderr_path = log_dir / "sim.stderr"
        self._stdout_file = None if stdout is not None else self.stdout_path.open("wb")
        self._stderr_file = self.stderr_path.open("wb")
        cmd = [sys.executable, "-m", "spacetime_panel.sim.main", "--path", str(project), *args]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else self._stdout_file,
            stderr=self._stderr_file,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url(path), timeout=5.0, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url(path), timeout=5.0, **kwargs)

    def wait_ready(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Wait until ``GET /status`` answers 200; return its JSON."""

        def answered() -> dict[str, Any] | None:
            assert self.proc.poll() is None, f"sim exited early:\n{self.stderr()}"
            try:
                response = httpx.get(self.url("/status"), headers=headers, timeout=1.0)
            except httpx.HTTPError:
                return None
            data: dict[str, Any] = response.json()
            return data if response.status_code == 200 else None

        return wait_until(answered, what="the bridge to answer /status")

    def wait_exit(self, timeout: float = WAIT) -> int:
        return self.proc.wait(timeout=timeout)

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)

    def kill_all(self) -> None:
        """SIGKILL the whole process group (sim and any grandchild)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for handle in (self._stdout_file, self._stderr_file):
            if handle is not None:
                handle.close()


@contextlib.contextmanager
def running_sim(project: Path, *args: str, **kwargs: Any) -> Iterator[SimProcess]:
    """Start a sim and always kill its process group afterwards."""
    sim = SimProcess(project, *args, **kwargs)
    try:
        yield sim
    finally:
        sim.kill_all()


def run_sim_to_exit(
    project: Path | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the sim to completion (for command-line errors); never hangs the suite."""
    cmd = [sys.executable, "-m", "spacetime_panel.sim.main", *args]
    if project is not None:
        cmd[3:3] = ["--path", str(project)]
    return subprocess.run(
        cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=WAIT
    )
