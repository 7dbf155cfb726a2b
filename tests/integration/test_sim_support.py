"""Helpers for the simulator's integration tests (a real child process, real sockets).

Kept in a ``test_sim_*`` module so the other sim test modules can share it; the
few tests here cover the command line itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import spacetime_panel
from tests.conftest import TIME_SCALE, free_port

T = TypeVar("T")

DEMO_PROJECT = Path(spacetime_panel.__file__).parent / "demo_project"
WAIT = 15.0 * TIME_SCALE


def wait_until(
    condition: Callable[[], T | None], timeout: float = WAIT, what: str = "condition"
) -> T:
    """Poll ``condition`` every 50 ms until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(0.05)


def copy_demo_project(dest: Path) -> Path:
    """A private copy of the shipped demo project (the sim writes .godot/ into it)."""
    project = dest / "project"
    shutil.copytree(DEMO_PROJECT, project, ignore=shutil.ignore_patterns(".godot"))
    return project


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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_demo_project(tmp_path)


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


def test_version_prints_a_godot_like_version() -> None:
    result = run_sim_to_exit(None, "--version")
    assert result.returncode == 0
    assert result.stdout.strip().startswith("4.5")
    assert "stable" in result.stdout


def test_folder_without_project_godot_exits_1_with_godot_message(tmp_path: Path) -> None:
    result = run_sim_to_exit(tmp_path, "--headless")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Couldn't load project data" in lines[0]
    assert str(tmp_path.resolve()) in lines[0]


@pytest.mark.parametrize(
    "variable", ["SPACETIME_SIM_CRASH_AFTER", "SPACETIME_HTTP_PORT", "SPACETIME_SIM_NO_PLAYER"]
)
def test_bad_setting_exits_2_with_one_line(project: Path, variable: str) -> None:
    result = run_sim_to_exit(project, env={variable: "soon"})
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_godot_flags_are_ignored(project: Path) -> None:
    with running_sim(project, "--headless", "--verbose", "--rendering-driver", "opengl3") as sim:
        status = sim.wait_ready()
    assert status["bridge"]["protocol"] == "spacetime-bridge/1"
