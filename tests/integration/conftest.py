"""Fixtures for tests with real processes: a demo project copy, a real `serve` process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PANEL", "Serve", "alive", "panel_settings", "wait_until"]

import httpx
import psutil
import pytest

from spacetime_panel.config.settings import Settings
from spacetime_panel.godot.commands import demo_project, simulator_executable
from tests.conftest import TIME_SCALE, free_port, sim_settings, wait_until

PANEL = [sys.executable, "-m", "spacetime_panel"]
#: How a user asks serve to quit: SIGTERM; on Windows Ctrl+Break (SIGTERM would be
#: TerminateProcess there, which no program can handle).
STOP_SIGNAL = getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def panel_settings(project: Path, tmp: Path, *, game: bool, **api: Any) -> Settings:
    """Settings for a PanelService started in the test's loop: the simulator, logs and
    state under `tmp`, no rate limit to speak of, `api` overrides on top."""
    base = sim_settings(project)
    return base.model_copy(
        update={
            "godot": base.godot.model_copy(update={"launch_game": game}),
            "api": base.api.model_copy(update={"rate_limit_per_minute": 100_000, **api}),
            "logging": base.logging.model_copy(update={"directory": tmp / "logs"}),
            "state_dir": tmp / "state",
        }
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the bundled demo project."""
    target = tmp_path / "project"
    shutil.copytree(demo_project(), target, ignore=shutil.ignore_patterns(".godot"))
    return target


@dataclass
class Serve:
    """One `spacetime-panel serve` child and a client for its API."""

    tmp: Path
    project: Path
    port: int = field(default_factory=free_port)
    godot_port: int = field(default_factory=free_port)
    telemetry_port: int = field(default_factory=free_port)
    lsp_port: int = field(default_factory=free_port)
    dap_port: int = field(default_factory=free_port)
    discovery_port: int = field(default_factory=lambda: free_port())
    process: subprocess.Popen[str] | None = None
    godot_pids: set[int] = field(default_factory=set)

    def args(self, *extra: str, godot: bool = True) -> list[str]:
        """The command line; `godot=False` leaves the Godot path and project to --demo."""
        where = ["--godot-path", simulator_executable(), "--project-path", str(self.project)]
        return [
            *PANEL,
            "serve",
            *self.where(),
            *(where if godot else []),
            "--log-dir", str(self.tmp / "logs"),
            "--state-dir", str(self.tmp / "state"),
            *extra,
        ]  # fmt: skip

    def where(self) -> list[str]:
        """The port flags that `status` and `telemetry` share with `serve`."""
        return [
            "--port", str(self.port),
            "--godot-port", str(self.godot_port),
            "--telemetry-port", str(self.telemetry_port),
            "--lsp-port", str(self.lsp_port),
            "--dap-port", str(self.dap_port),
            "--discovery-port", str(self.discovery_port),
        ]  # fmt: skip

    def start(self, *extra: str, env: dict[str, str] | None = None) -> Serve:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
        # The tests poll the API far faster than the default 60 requests a minute.
        environment["SPACETIME__API__RATE_LIMIT_PER_MINUTE"] = "100000"
        environment.update(env or {})
        self.process = subprocess.Popen(
            self.args(*extra),
            env=environment,
            # Windows: its own process group, so that stop_panel's CTRL_BREAK reaches it alone.
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(self.answers, 20, "the management API to answer")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            out = self.process.stdout.read() if self.process.stdout else ""
            raise AssertionError(f"serve exited with {self.process.returncode}:\n{out}")
        try:
            httpx.get(self.url + "/health", timeout=2)
        except httpx.TransportError:
            return False
        return True

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """A POST as a script would send it: JSON (`{}` when no body is given)."""
        if not {"json", "content", "data", "files"} & kwargs.keys():
            kwargs["json"] = {}
        return httpx.post(self.url + path, timeout=60, **kwargs)

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = self.get("/health").json()
        pid = body["godot_process"]["pid"]
        if pid:
            self.godot_pids.add(pid)
        return body

    def wait_healthy(self, timeout: float = 15.0) -> dict[str, Any]:
        def healthy() -> dict[str, Any] | None:
            body = self.health()
            return body if body["overall_healthy"] else None

        result: dict[str, Any] = wait_until(healthy, timeout, "overall_healthy")
        return result

    def game(self) -> dict[str, Any]:
        game: dict[str, Any] = self.health()["programs"]["game"]
        return game

    def log_lines(self, lines: int = 5000) -> list[str]:
        return [line["text"] for line in self.get("/logs", params={"lines": lines}).json()["lines"]]

    def stop_panel(self, sig: int = STOP_SIGNAL, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout * TIME_SCALE)

    def cleanup(self) -> None:
        """Stop the panel as a user would (SIGTERM stops Godot), then kill whatever is left."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(self.process.pid).children(recursive=True):
                    self.godot_pids.add(child.pid)
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        # Never leak a simulated Godot (or its grandchildren) into the next test.
        for pid in self.godot_pids:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(pid).children(recursive=True):
                    child.kill()
            if hasattr(os, "killpg"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def serve(tmp_path: Path, project: Path) -> Iterator[Serve]:
    panel = Serve(tmp=tmp_path, project=project)
    try:
        yield panel
    finally:
        panel.cleanup()


@pytest.fixture(scope="module")
def gameless_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One `serve --no-game` shared by a module whose answers need no game."""
    tmp = tmp_path_factory.mktemp("gameless")
    project = tmp / "project"
    shutil.copytree(demo_project(), project, ignore=shutil.ignore_patterns(".godot"))
    serve = Serve(tmp=tmp, project=project)
    try:
        yield serve.start("--no-game")
    finally:
        serve.cleanup()
