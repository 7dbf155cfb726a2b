"""Benchmark: crash detection and recovery, ours against supervisord and the guide's design.

The same simulated game (``spacetime-godot-sim --path DEMO res://vr_main.tscn``,
the same environment our supervisor gives it: ``SPACETIME_HTTP_PORT`` ...) is
supervised by

- ours: ``spacetime-panel serve`` (the game only, no editor) in a child process;
  the failure window is shrunk (``SPACETIME__SUPERVISOR__FAILURE_WINDOW``) so
  every kill is a first failure: restart after ``first_backoff`` (0.1 s);
- supervisord (PyPI ``supervisor``) with ``autorestart=true`` and ``startsecs=1``
  (its default: the game must stay up 1 s to count as started; the simulator's
  bridge answers after about 0.3 s, so 1 s is "it got past its start", as our
  RUNNING is "its bridge answers"). Each kill comes only after supervisord has
  logged RUNNING, so every kill is an exit from RUNNING, which supervisord
  restarts with no backoff at all; ``startsecs`` then does not change a figure.

and killed with SIGKILL ``--kills`` times (after it is healthy again, plus a
random 0-100 ms). For each kill the benchmark polls (every 1 ms, from this
process) the supervisor's children (``/proc/PID/task/PID/children``) for the new
game process, then the bridge's ``GET /status`` until it answers with the new
pid. Figures:

- kill -> the game is gone: the kernel has finished the game's exit (a pidfd
  this benchmark opened on the game; readable once its memory is freed and its
  sockets closed: a few ms for the simulator, it is the game's own time);
- kill -> exit seen: the supervisor's own log line with its millisecond timestamp
  (ours: ``game: RUNNING -> ...``; supervisord's ``exited: game (terminated by SIGKILL ...)``),
  and game gone -> exit seen (the supervisor's part of it);
- kill -> new game process (the new pid appears: fork);
- kill -> healthy again (the new game's bridge answers ``/status``);
- the supervisor's own share of a recovery: (kill -> healthy) - backoff - the
  game's own start (new pid -> its bridge answers) - the game's own exit
  (kill -> gone) = (gone -> new process) - backoff;
- ours only: the bridge answering -> our log's RUNNING (the ready poll, every 50 ms).

The guide's design (``godot_editor_server.py``: a health poll every
``check_interval``, 30 s, and a restart when it fails) is computed, not run: a
crash lands at a uniform phase of the poll period, so the poll that sees it
comes 0-30 s later (the kills are spread evenly over the period: kill i at phase
(i + 0.5) / N); its restart then takes the game's own start measured here.

Linux only (``/proc``). Usage::

    .venv/bin/python tests/bench/versus_supervisord.py [--kills 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from harness import Figure, free_port, free_udp_port, percentile

from spacetime_panel.config.settings import Settings
from spacetime_panel.godot.commands import game_command, godot_environment, simulator_executable
from spacetime_panel.service.panel_service import prepare_demo_project
from spacetime_panel.supervisor.policy import RestartPolicy

GUIDE_CHECK_INTERVAL = 30.0
OUR_BACKOFF = RestartPolicy().first_backoff
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)$")


@dataclass
class Kill:
    at: float  # wall clock (log lines are wall clock too)
    gone: float = 0.0  # the kernel reports the game gone (a pidfd of this process's own)
    new_process: float = 0.0
    healthy: float = 0.0
    exit_seen: float = 0.0
    running: float = 0.0  # the supervisor's own "it is running" line (ours: RUNNING)


@dataclass
class Supervised:
    """A supervisor in a child process, its log, and how to recognise its lines."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    exit_line: str  # a regex on the message part
    running_line: str
    backoff: float
    kills: list[Kill] = field(default_factory=list)

    def lines(self, pattern: str) -> list[float]:
        """Wall-clock times of the log lines whose message matches `pattern`."""
        if not self.log.exists():
            return []
        found = []
        for text in self.log.read_text(errors="replace").splitlines():
            match = STAMP.match(text)
            if match and re.search(pattern, match.group(2)):
                stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
                found.append(stamp.timestamp())
        return found


def children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(word) for word in text.split()}


def bridge_pid(port: int) -> int | None:
    """The pid in the bridge's `GET /status`, or None if it does not answer (yet)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/status")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        pid = (json.loads(body).get("bridge") or {}).get("pid")
        return int(pid) if pid is not None else None
    except (OSError, http.client.HTTPException, ValueError, AttributeError):
        return None
    finally:
        connection.close()


def wait_for(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"versus_supervisord: no {what} within {timeout:g} s")
        time.sleep(0.005)


def the_game(supervisor: Supervised, port: int) -> int:
    """Wait until the supervisor has exactly one child, its bridge answers with its pid."""
    found: list[int] = []

    def ready() -> bool:
        if supervisor.process.poll() is not None:
            raise SystemExit(f"{supervisor.name} exited with {supervisor.process.returncode}")
        kids = [pid for pid in children(supervisor.process.pid) if Path(f"/proc/{pid}").exists()]
        alive = [pid for pid in kids if not _zombie(pid)]
        if len(alive) == 1 and bridge_pid(port) == alive[0]:
            found[:] = alive
            return True
        return False

    wait_for(ready, 60, f"healthy game under {supervisor.name}")
    return found[0]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def kill_and_watch(supervisor: Supervised, port: int, kills: int, rng: random.Random) -> None:
    for number in range(kills):
        pid = the_game(supervisor, port)
        # The supervisor must have declared it running, or the kill is a start failure.
        wait_for(
            lambda n=number: len(supervisor.lines(supervisor.running_line)) > n,
            30,
            f"RUNNING line from {supervisor.name}",
        )
        time.sleep(rng.uniform(0.0, 0.1))  # any phase of the supervisor's loop
        pidfd = os.pidfd_open(pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            kill = Kill(at=time.time())
            os.kill(pid, signal.SIGKILL)
            # Readable when the kernel has finished the process's exit (its memory freed,
            # its sockets closed): what any supervisor can see at the earliest.
            if not poller.poll(10_000):
                raise SystemExit(f"{supervisor.name}: the game outlived SIGKILL by 10 s")
            kill.gone = time.time()
        finally:
            os.close(pidfd)
        deadline = time.monotonic() + 30
        new = None
        while new is None:
            fresh = children(supervisor.process.pid) - {pid}
            if fresh:
                kill.new_process = time.time()
                new = min(fresh)
            elif time.monotonic() > deadline:
                raise SystemExit(f"{supervisor.name}: no new game within 30 s of a kill")
            else:
                time.sleep(0.001)
        while bridge_pid(port) != new:
            if time.monotonic() > deadline:
                raise SystemExit(f"{supervisor.name}: the new game's bridge never answered")
            time.sleep(0.001)
        kill.healthy = time.time()
        supervisor.kills.append(kill)
        print(f"\r{supervisor.name}: kill {number + 1}/{kills}", end="", file=sys.stderr)
    wait_for(
        lambda: len(supervisor.lines(supervisor.running_line)) > kills,
        30,
        f"last RUNNING line from {supervisor.name}",
    )
    print(file=sys.stderr)
    # The log lines, matched to the kills: the first of each kind after each kill.
    exits = supervisor.lines(supervisor.exit_line)
    runnings = supervisor.lines(supervisor.running_line)
    for kill in supervisor.kills:
        # Log stamps are truncated to the millisecond: a line in the kill's own millisecond counts.
        kill.exit_seen = min(t for t in exits if t >= kill.at - 0.001)
        kill.running = min(t for t in runnings if t >= kill.at - 0.001)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class Setup:
    """Ports, the demo project, the game's command and environment: the same for both."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.project = prepare_demo_project(folder / "data")
        self.api = free_port()
        self.settings = Settings.model_validate(
            {
                "godot": {"executable": simulator_executable(), "project_path": self.project},
                "ports": {
                    "http": free_port(),
                    "http_fallbacks": [],
                    "telemetry": free_port(),
                    "discovery": free_udp_port(),
                    "lsp": free_port(),
                    "dap": free_port(),
                },
            }
        )
        self.base_env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME")}
        self.base_env["XDG_DATA_HOME"] = str(folder / "data")
        self.base_env["XDG_CONFIG_HOME"] = str(folder / "config")

    @property
    def port(self) -> int:
        return self.settings.ports.http

    def ours(self) -> Supervised:
        ports = self.settings.ports
        logs = self.folder / "ours"
        env = dict(self.base_env)
        env["SPACETIME__SUPERVISOR__FAILURE_WINDOW"] = "0.001"  # every kill a first failure
        command = [
            sys.executable, "-m", "spacetime_panel", "serve",
            "--godot-path", self.settings.godot.executable,
            "--project-path", str(self.project),
            "--port", str(self.api),
            "--godot-port", str(ports.http), "--http-fallback-ports", "",
            "--telemetry-port", str(ports.telemetry),
            "--discovery-port", str(ports.discovery),
            "--lsp-port", str(ports.lsp), "--dap-port", str(ports.dap),
            "--log-dir", str(logs), "--state-dir", str(self.folder / "state"),
        ]  # fmt: skip
        logs.mkdir(parents=True)
        with (logs / "serve.out").open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        return Supervised(
            "ours",
            process,
            logs / "spacetime-panel.log",
            exit_line=r"game: RUNNING -> ",
            running_line=r"game: STARTING -> RUNNING",
            backoff=OUR_BACKOFF,
        )

    def supervisord(self) -> Supervised:
        executable = shutil.which("supervisord", path=str(Path(sys.executable).parent))
        executable = executable or shutil.which("supervisord")
        if executable is None:
            raise SystemExit("supervisord is not installed: pip install -e '.[test]'")
        folder = self.folder / "supervisord"
        folder.mkdir()
        game_env = godot_environment(self.settings, {}, None)
        environment = ",".join(f'{key}="{value}"' for key, value in game_env.items())
        command = " ".join(game_command(self.settings))
        config = folder / "supervisord.conf"
        config.write_text(
            f"""[supervisord]
nodaemon=true
logfile={folder}/supervisord.log
pidfile={folder}/supervisord.pid
childlogdir={folder}
loglevel=info

[program:game]
command={command}
directory={self.project}
environment={environment}
autostart=true
autorestart=true
startsecs=1
startretries=3
stopasgroup=true
killasgroup=true
stdout_logfile={folder}/game.log
redirect_stderr=true
"""
        )
        process = subprocess.Popen(
            [executable, "-c", str(config)],
            env=self.base_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return Supervised(
            "supervisord",
            process,
            folder / "supervisord.log",
            exit_line=r"exited: game \(terminated by SIGKILL",
            running_line=r"success: game entered RUNNING state",
            backoff=0.0,
        )


@dataclass
class Result:
    name: str
    gone: list[float]  # ms after the kill: the game's own exit (the kernel's part)
    exit_seen: list[float]  # ms after the kill
    detection: list[float]  # ms after the game was gone: the supervisor's part of exit_seen
    new_process: list[float]
    healthy: list[float]
    own_share: list[float]  # (kill -> new process) - backoff - the game's own exit
    game_start: list[float]  # new process -> bridge answers
    ready_lag: list[float]  # bridge answers -> the supervisor's RUNNING line


def result(supervisor: Supervised) -> Result:
    kills = supervisor.kills

    def ms(values: list[float]) -> list[float]:
        return [value * 1000 for value in values]

    return Result(
        supervisor.name,
        gone=ms([k.gone - k.at for k in kills]),
        exit_seen=ms([k.exit_seen - k.at for k in kills]),
        detection=ms([max(0.0, k.exit_seen - k.gone) for k in kills]),
        new_process=ms([k.new_process - k.at for k in kills]),
        healthy=ms([k.healthy - k.at for k in kills]),
        own_share=ms([k.new_process - k.gone - supervisor.backoff for k in kills]),
        game_start=ms([k.healthy - k.new_process for k in kills]),
        ready_lag=ms([k.running - k.healthy for k in kills]),
    )


def guide(kills: int, game_start_ms: list[float]) -> Result:
    """The guide's 30 s health poll, from evenly spread phases (kill i at (i + 0.5) / N)."""
    detection = [GUIDE_CHECK_INTERVAL * 1000 * (1 - (i + 0.5) / kills) for i in range(kills)]
    start = sorted(game_start_ms)
    healthy = [d + start[i % len(start)] for i, d in enumerate(detection)]
    return Result("guide", [], detection, detection, detection, healthy, detection, start, [])


def run(kills: int, seed: int = 1) -> tuple[Result, Result, Result]:
    if not Path("/proc/self/task").exists():
        raise SystemExit("versus_supervisord needs Linux (/proc)")
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="spacetime-versus-") as tmp:
        for which in ("ours", "supervisord"):
            setup = Setup(Path(tmp) / which)
            supervisor = setup.ours() if which == "ours" else setup.supervisord()
            try:
                kill_and_watch(supervisor, setup.port, kills, rng)
            finally:
                stop(supervisor.process)
            results.append(result(supervisor))
    ours, theirs = results
    return ours, theirs, guide(kills, ours.game_start)


def report(ours: Result, theirs: Result, design: Result, kills: int) -> None:
    cores = os.cpu_count()
    print(f"{kills} SIGKILLs of the simulated game each, {cores} cores (ms after the kill)")
    print(f"{'':<44}{'ours':>18}{'supervisord':>18}{'guide (30 s poll)':>22}")
    rows = (
        ("kill -> the kernel has it gone (pidfd)", "gone"),
        ("kill -> exit seen (log)", "exit_seen"),
        ("gone -> exit seen (log)", "detection"),
        ("kill -> new game process", "new_process"),
        ("kill -> healthy again (bridge answers)", "healthy"),
        ("supervisor's own share", "own_share"),
        ("the game's own start (new pid -> bridge)", "game_start"),
        ("bridge answers -> RUNNING (ready poll)", "ready_lag"),
    )
    for title, attribute in rows:
        cells = []
        for which in (ours, theirs, design):
            values: list[float] = getattr(which, attribute)
            cells.append(
                f"{percentile(values, 0.5):7.1f} / {percentile(values, 0.99):7.1f}"
                if values
                else "—"
            )
        print(f"{title + ' p50/p99':<44}{cells[0]:>18}{cells[1]:>18}{cells[2]:>22}")


def figures(ours: Result, theirs: Result, design: Result) -> list[Figure]:
    p50, p99 = 0.5, 0.99
    rows = [
        Figure(
            "crash.exit_seen.p99",
            "SIGKILL -> exit seen p99 (log)",
            percentile(ours.exit_seen, p99),
            "ms",
            percentile(theirs.exit_seen, p99),
            "supervisord",
        ),
        Figure(
            "crash.detection.p99",
            "game gone (kernel) -> exit seen p99 (log)",
            percentile(ours.detection, p99),
            "ms",
            percentile(theirs.detection, p99),
            "supervisord",
            target_value=3.0,
            target_text="≤ 3 ms (supervisord: 0-3 ms)",
        ),
        Figure(
            "crash.gone.p99",
            "SIGKILL -> the kernel has the game gone p99 (its own exit)",
            percentile(ours.gone, p99),
            "ms",
            percentile(theirs.gone, p99),
            "the same game under supervisord",
        ),
        Figure(
            "crash.detection_vs_guide.p50",
            "SIGKILL -> exit seen p50 vs the guide's 30 s poll",
            percentile(ours.exit_seen, p50),
            "ms",
            percentile(design.exit_seen, p50),
            "guide, computed",
        ),
        Figure(
            "crash.detection_vs_guide.p99",
            "SIGKILL -> exit seen p99 vs the guide's 30 s poll",
            percentile(ours.exit_seen, p99),
            "ms",
            percentile(design.exit_seen, p99),
            "guide, computed",
        ),
        Figure(
            "crash.new_process.p50",
            "SIGKILL -> new game process p50",
            percentile(ours.new_process, p50),
            "ms",
            percentile(theirs.new_process, p50),
            "supervisord",
            target_ratio=0.2,
        ),
        Figure(
            "crash.new_process.p99",
            "SIGKILL -> new game process p99",
            percentile(ours.new_process, p99),
            "ms",
            percentile(theirs.new_process, p99),
            "supervisord",
            target_ratio=0.2,
        ),
        Figure(
            "crash.healthy.p50",
            "SIGKILL -> healthy again (bridge) p50",
            percentile(ours.healthy, p50),
            "ms",
            percentile(theirs.healthy, p50),
            "supervisord",
        ),
        Figure(
            "crash.healthy.p99",
            "SIGKILL -> healthy again (bridge) p99",
            percentile(ours.healthy, p99),
            "ms",
            percentile(theirs.healthy, p99),
            "supervisord",
        ),
        Figure(
            "crash.healthy_vs_guide.p99",
            "SIGKILL -> healthy again p99 vs the guide",
            percentile(ours.healthy, p99),
            "ms",
            percentile(design.healthy, p99),
            "guide, computed",
        ),
        Figure(
            "crash.own_share.p99",
            "supervisor's own share of a recovery p99",
            percentile(ours.own_share, p99),
            "ms",
            percentile(theirs.own_share, p99),
            "supervisord",
            target_value=5.0,
        ),
        Figure(
            "crash.ready_lag.p99",
            "bridge answers -> our RUNNING p99 (ready poll)",
            percentile(ours.ready_lag, p99),
            "ms",
        ),
    ]
    return rows


def measure(quick: bool) -> list[Figure]:
    kills = 5 if quick else 30
    ours, theirs, design = run(kills)
    report(ours, theirs, design, kills)
    return figures(ours, theirs, design)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ours, theirs, design = run(args.kills, args.seed)
    report(ours, theirs, design, args.kills)


if __name__ == "__main__":
    main()
