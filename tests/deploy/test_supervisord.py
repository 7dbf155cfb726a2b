"""supervisord runs the rendered program: `serve --demo` answers /health, and
`supervisorctl stop` leaves no Godot (simulator) behind."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from spacetime_panel.config import ApiSettings, PortSettings, Settings
from spacetime_panel.deploy.command_line import serve_arguments
from spacetime_panel.deploy.context import DeployContext
from spacetime_panel.deploy.services import SERVE_OUTPUT_LOG, render_supervisord
from tests.conftest import free_port, wait_until
from tests.deploy.conftest import run_tool, this_machine, tool
from tests.integration.conftest import alive

pytestmark = pytest.mark.skipif(os.name == "nt", reason="supervisord is POSIX only")


@dataclasses.dataclass
class Supervisord:
    folder: Path
    config: Path
    context: DeployContext
    process: subprocess.Popen[bytes] | None = None
    seen: set[int] = dataclasses.field(default_factory=set)

    def ctl(self, *command: str) -> subprocess.CompletedProcess[str]:
        return run_tool(tool("supervisorctl"), "-c", self.config, *command)

    def health(self) -> dict[str, object] | None:
        assert self.process is not None
        if self.process.poll() is not None:
            said = (self.folder / "supervisord.out").read_text(errors="replace")
            raise AssertionError(f"supervisord exited with {self.process.returncode}: {said}")
        try:
            answer = httpx.get(
                f"http://127.0.0.1:{self.context.settings.api.port}/health", timeout=2
            )
        except httpx.TransportError:
            return None
        body: dict[str, object] = answer.json()
        return body if answer.status_code == 200 else None

    def panel_pid(self) -> int:
        result = self.ctl("pid", "spacetime-panel")
        assert result.stdout.strip().isdigit(), result.stdout + result.stderr
        return int(result.stdout)

    def descendants(self, pid: int) -> set[int]:
        found = {child.pid for child in psutil.Process(pid).children(recursive=True)}
        self.seen |= found | {pid}
        return found

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # supervisord stops its program as configured, then exits
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for pid in self.seen:  # whatever outlived its supervisor (the KILL case leaves Godot)
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(pid).children(recursive=True):
                    child.kill()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def supervisord(project: Path, tmp_path: Path) -> Iterator[Supervisord]:
    spaced = tmp_path / "my project"
    shutil.copytree(project, spaced)
    settings = Settings(
        api=ApiSettings(port=free_port()),
        ports=PortSettings(
            http=free_port(),
            http_fallbacks=(),
            telemetry=free_port(),
            lsp=free_port(),
            dap=free_port(),
            discovery=free_port(),
        ),
    )
    context = dataclasses.replace(
        this_machine(spaced, tmp_path, settings),
        log_dir=tmp_path / "log folder",
        serve_args=("--demo", "--state-dir", str(tmp_path / "state")),
    )
    # A short folder for the control socket (a unix socket path has ~100 characters at most).
    folder = Path(tempfile.mkdtemp(prefix="sv-"))
    config = folder / "supervisord.conf"
    running = Supervisord(folder=folder, config=config, context=context)
    try:
        yield running
    finally:
        running.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def start(running: Supervisord, program: str, tmp_path: Path) -> None:
    folder = running.folder
    running.config.write_text(
        f"""\
[unix_http_server]
file={folder}/supervisor.sock

[supervisord]
logfile={folder}/supervisord.log
pidfile={folder}/supervisord.pid
childlogdir={folder}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{folder}/supervisor.sock

{program}""",
        encoding="utf-8",
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    for kind in ("DATA", "STATE", "CONFIG", "CACHE"):  # the demo data and config in tmp
        environment[f"XDG_{kind}_HOME"] = str(tmp_path / "xdg" / kind.lower())
    running.context.log_dir.mkdir()  # the install step the file's comment names
    with (folder / "supervisord.out").open("wb") as out:
        running.process = subprocess.Popen(
            [tool("supervisord"), "-c", str(running.config)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def godot_running(running: Supervisord) -> dict[str, object] | None:
    body = running.health()
    if body is None:
        return None
    game = body.get("godot_process")
    return body if isinstance(game, dict) and game.get("pid") else None


def test_supervisorctl_stop_leaves_no_godot(supervisord: Supervisord, tmp_path: Path) -> None:
    program = render_supervisord(supervisord.context)[0].text
    assert "stopsignal=TERM" in program and "killasgroup=false" in program
    start(supervisord, program, tmp_path)
    wait_until(
        lambda: godot_running(supervisord), 60, "serve --demo under supervisord to run Godot"
    )
    panel = supervisord.panel_pid()
    godot = supervisord.descendants(panel)
    assert godot, "serve --demo started no Godot (simulator)"

    stopped = supervisord.ctl("stop", "spacetime-panel")

    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not alive(panel)
    left = sorted(pid for pid in godot if alive(pid))
    assert not left, f"Godot processes left after supervisorctl stop: {left}"
    status = supervisord.ctl("status", "spacetime-panel").stdout
    assert "STOPPED" in status, status
    output = supervisord.context.log_dir / SERVE_OUTPUT_LOG
    assert output.is_file() and output.stat().st_size > 0, "serve's output is not in the log folder"


def test_a_kill_without_the_panels_stop_would_leave_godot(
    supervisord: Supervisord, tmp_path: Path
) -> None:
    """The check can fail: SIGKILL instead of SIGTERM gives the panel no chance to stop
    Godot, which runs in its own process group, and the same check finds it running."""
    program = render_supervisord(supervisord.context)[0].text
    start(supervisord, program.replace("stopsignal=TERM", "stopsignal=KILL"), tmp_path)
    wait_until(
        lambda: godot_running(supervisord), 60, "serve --demo under supervisord to run Godot"
    )
    godot = supervisord.descendants(supervisord.panel_pid())
    assert godot

    supervisord.ctl("stop", "spacetime-panel")

    assert any(alive(pid) for pid in godot), "SIGKILL to the panel alone took Godot with it"


def test_supervisord_reads_awkward_paths_back(machine: DeployContext, tmp_path: Path) -> None:
    """supervisord's own parser reads the command, folder and environment back unchanged:
    spaces, quotes and % (its expansion sign) in the project, the log folder and the home."""
    from supervisor.options import ServerOptions  # type: ignore[import-untyped]

    project = tmp_path / 'it\'s 100% "my" game'
    context = dataclasses.replace(
        machine,
        project=project,
        log_dir=tmp_path / "log folder",
        home=tmp_path / "home of 50%",
        serve_args=("--scene-path", "res://a b.tscn"),
    )
    project.mkdir()
    context.log_dir.mkdir()
    config = tmp_path / "supervisord.conf"
    config.write_text("[supervisord]\n" + render_supervisord(context)[0].text, encoding="utf-8")
    options = ServerOptions()
    options.realize(args=["-c", str(config)])
    (group,) = options.process_group_configs
    (program,) = group.process_configs
    assert shlex.split(program.command) == [
        str(context.executable),
        *serve_arguments(context, headless=True),
    ]
    assert program.directory == str(project)
    assert program.environment == {"HOME": str(context.home), "USER": context.user}
    assert program.stdout_logfile == str(context.log_dir / SERVE_OUTPUT_LOG)
    assert program.stopsignal == signal.SIGTERM
    assert program.stopwaitsecs > context.settings.supervisor.stop_timeout
    assert not program.stopasgroup and not program.killasgroup
