"""Chaos soak: `serve --demo` under mixed faults, with invariants checked throughout.

Starts ``spacetime-panel serve --demo`` (free ports, its own log, state and
XDG folders, a management key) and, for ``--minutes``, all at once and at
seeded random intervals:

- SIGKILLs of the game and of the editor;
- hangs: SIGSTOP of the game (its health checks then fail);
- per-start faults of the simulator: crash after a while, hang after a while
  (``SPACETIME_SIM_HANG_AFTER``), a slow start, a start slower than the start
  timeout, malformed telemetry, telemetry that drops its clients;
- telemetry flaps: WebSocket clients that connect to the game's telemetry
  port and drop (closed, or aborted without a close frame), garbage frames and
  bytes sent to it, malformed datagrams to the discovery port the panel hears;
- scene loads through the API (valid ones and a traversal path);
- API calls with bad input: bad JSON, wrong content type, unknown program,
  an oversize body, a wrong key, bad query values, garbage bytes.

Per-start faults: the game is started through a small wrapper (the chaos
game) that takes a fault file if one is waiting (``faults/next.json``, claimed
by renaming it, so each start takes at most one), sets the simulator's
``SPACETIME_SIM_*`` variables from it and runs the simulator in the same
process. The wrapper also prints numbered lines (``chaos-line game PID N``)
from a thread, so the rotated logs can be checked for lost lines.

Invariants (each break is one violation; the run ends with
``N invariant violations`` and exits 1 when N > 0):

1. every failure is detected (each process we killed or stopped, and each one
   that ran, has its exit in the supervisor's log) and answered exactly as the
   restart policy says: a restart after 0.1 s, then 1 s, 2 s ... or FATAL at
   the 3rd failure within 300 s; FATAL stays until a start is asked for (the
   soak asks with ``POST /start`` and goes on); no program stays in a
   transitional state longer than any timeout explains;
2. never two games (or two editors) at once;
3. no orphan: every chaos game/editor process is a child of serve, and none is
   left after serve has stopped;
4. no 5xx from the API, other than the documented ones (/health 503 when
   unhealthy, 502 when the game's bridge cannot answer); bad input gets a 4xx;
5. memory bounded: serve's RSS stays under ``--rss-bound-mb`` and the last
   minute's median is within ``--rss-growth-mb`` of the first minute's;
6. no output line lost across log rotation: the numbered lines of each
   process in ``game.log*`` / ``editor.log*`` are 1..N with no gap or repeat.

Usage::

    .venv/bin/python tests/bench/chaos.py [--minutes 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import free_port, percentile

# --- the policy the supervisor must follow (the product's defaults) ----------

MAX_FAILURES = 3
FAILURE_WINDOW = 300.0
FIRST_BACKOFF = 0.1
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0
#: Slack on the failure window's edge for clocks read a moment apart.
WINDOW_SLACK = 1.0

# --- the soak's settings -------------------------------------------------------

CHECK_INTERVAL = 1.0
START_TIMEOUT = 8.0
STOP_TIMEOUT = 3.0
LOG_MAX_BYTES = 16 * 1024
LOG_BACKUP_COUNT = 2000
MAX_REQUEST_MB = 0.05
#: After the soak: long enough for a start fault taken just before its end to show
#: (hang after 3 s, 3 failed checks of up to 3 s each, the stop timeout).
QUIET = 20.0
LINE_INTERVAL = 0.02  # the chaos game's numbered lines: 50 a second
#: A program may sit in STARTING/STOPPING/BACKOFF this long at most (start
#: timeout + stop timeout + the longest backoff + generous slack for a loaded machine).
STUCK_AFTER = START_TIMEOUT + STOP_TIMEOUT + BACKOFF_MAX + 30.0
#: 5xx answers the API documents, by (method, path).
DOCUMENTED_5XX = {
    ("GET", "/health"): {503},
    ("GET", "/status"): {502},
    ("POST", "/scene/load"): {502},
    ("POST", "/scene/reload"): {502},
}

WRAPPER = """#!{python}
# The chaos game: claims a waiting fault file, prints numbered lines, runs the simulator.
import json, os, sys, threading, time

FAULTS = {faults!r}
INTERVAL = {interval!r}


def numbered(kind):
    pid, number = os.getpid(), 0
    while True:
        number += 1
        try:
            os.write(1, ("chaos-line %s %d %d\\n" % (kind, pid, number)).encode())
        except OSError:
            return
        time.sleep(INTERVAL)


if "--version" not in sys.argv:
    editor = "--editor" in sys.argv or "-e" in sys.argv
    if not editor:
        claimed = os.path.join(FAULTS, "claimed-%d.json" % os.getpid())
        try:
            os.rename(os.path.join(FAULTS, "next.json"), claimed)
        except FileNotFoundError:
            pass
        else:
            with open(claimed) as file:
                faults = json.load(file)
            os.environ.update(faults)
            os.write(1, ("chaos-faults %d %s\\n" % (os.getpid(), json.dumps(faults))).encode())
    threading.Thread(target=numbered, args=("editor" if editor else "game",), daemon=True).start()

from spacetime_panel.sim.main import main

main()
"""

#: Per-start faults: (kind, environment, whether the start must end in a failure).
START_FAULTS: tuple[tuple[str, dict[str, str], bool], ...] = (
    ("crash_after", {"SPACETIME_SIM_CRASH_AFTER": "3"}, True),
    ("hang_after", {"SPACETIME_SIM_HANG_AFTER": "3"}, True),
    ("slow_start", {"SPACETIME_SIM_START_DELAY": "2"}, False),
    ("start_timeout", {"SPACETIME_SIM_START_DELAY": str(START_TIMEOUT + 4)}, True),
    ("bad_telemetry", {"SPACETIME_SIM_BAD_TELEMETRY": "1"}, False),
    ("telemetry_flap", {"SPACETIME_SIM_TELEMETRY_FLAP": "1.5"}, False),
)


# --- the checker: pure functions over what the logs and samples say -----------


@dataclass(frozen=True)
class SupervisorEvent:
    """One supervisor line of a program's log."""

    time: float
    kind: str  # start | exit | stopping | retry | fatal | problem
    pid: int | None = None
    detail: str = ""
    delay: float | None = None


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) (.*)$")
_EXIT = re.compile(r"^(\w+) \(pid (\d+)\) (exited.*|killed by .*)$")
_STOPPING = re.compile(r"^stopping (\w+) \(pid (\d+)\): (.*)$")
_RETRY = re.compile(r"^restarting (\w+) in ([0-9.e+-]+) s$")
_FATAL = re.compile(r"^(\w+) failed (\d+) times within ")
_LINE = re.compile(r"^chaos-line (\w+) (\d+) (\d+)$")


def parse_stamp(stamp: str) -> float:
    """Seconds since the epoch of logging's `asctime` (local time)."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def split_log_line(line: str) -> tuple[float, str, str] | None:
    """(time, stream, text) of a program log line, or None for a line of another shape."""
    match = _STAMP.match(line.rstrip("\n"))
    if match is None:
        return None
    return parse_stamp(match.group(1)), match.group(2), match.group(3)


def supervisor_events(lines: Iterable[str]) -> list[SupervisorEvent]:
    """The supervisor's lines of a program log, in order, as events."""
    events: list[SupervisorEvent] = []
    for line in lines:
        parts = split_log_line(line)
        if parts is None or parts[1] != "supervisor":
            continue
        when, _, text = parts
        if text.startswith("starting "):
            events.append(SupervisorEvent(when, "start", detail=text))
        elif match := _EXIT.match(text):
            events.append(SupervisorEvent(when, "exit", int(match.group(2)), match.group(3)))
        elif match := _STOPPING.match(text):
            events.append(SupervisorEvent(when, "stopping", int(match.group(2)), match.group(3)))
        elif match := _RETRY.match(text):
            events.append(SupervisorEvent(when, "retry", delay=float(match.group(2))))
        elif _FATAL.match(text):
            events.append(SupervisorEvent(when, "fatal", detail=text))
        else:
            events.append(SupervisorEvent(when, "problem", detail=text))
    return events


def delay_after(failures: int) -> float:
    """The policy's wait after the `failures`-th failure in the window."""
    if failures <= 1:
        return min(FIRST_BACKOFF, BACKOFF_MAX)
    return min(BACKOFF_INITIAL * 2 ** (failures - 2), BACKOFF_MAX)


@dataclass
class PolicyReport:
    failures: int = 0
    restarts: int = 0
    fatals: int = 0
    launches: int = 0
    clean_stops: int = 0
    exited_pids: set[int] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)


def check_policy(
    program: str, events: Sequence[SupervisorEvent], user_starts: Sequence[float] = ()
) -> PolicyReport:
    """Replay the restart policy over a program's supervisor events.

    A failure is an exit that no stop request preceded. After the n-th failure
    since the last launch (within the window) the next event must be FATAL when
    n >= 3, else a restart line with the policy's delay, followed by a start.
    A start after FATAL needs a `POST /start` sent (``user_starts``, wall clock)
    between the FATAL and one second after that start.
    """
    report = PolicyReport()
    failures: list[float] = []  # since the last launch
    expect: str | None = None  # "retry" / "fatal" after a failure, "start" after a retry
    expected_delay = 0.0
    fatal_at: float | None = None
    stop_reasons: dict[int, str] = {}

    def broke(message: str) -> None:
        report.violations.append(f"{program}: {message}")

    for event in events:
        if event.kind == "problem":
            broke(f"supervisor problem: {event.detail}")
            continue
        if event.kind == "stopping":
            assert event.pid is not None
            stop_reasons[event.pid] = event.detail
            continue
        if expect in ("retry", "fatal") and event.kind not in ("retry", "fatal"):
            broke(f"a failure was followed by {event.kind!r}, not a restart or FATAL")
            expect = None
        if expect == "start" and event.kind != "start":
            broke(f"a restart was announced but {event.kind!r} came instead of the start")
            expect = None
        match event.kind:
            case "start":
                if expect == "start":
                    report.restarts += 1
                else:
                    if fatal_at is not None and not any(
                        fatal_at - WINDOW_SLACK <= sent <= event.time + WINDOW_SLACK
                        for sent in user_starts
                    ):
                        broke(f"started again after FATAL at {event.time:.3f} with no start asked")
                    report.launches += 1
                    failures = []  # a launch clears the count
                fatal_at = None
                expect = None
            case "exit":
                assert event.pid is not None
                report.exited_pids.add(event.pid)
                if stop_reasons.pop(event.pid, "") == "stop requested":
                    report.clean_stops += 1
                    continue
                report.failures += 1
                failures.append(event.time)
                counts = {
                    sum(1 for t in failures if t > event.time - FAILURE_WINDOW + slack)
                    for slack in (-WINDOW_SLACK, 0.0, WINDOW_SLACK)
                }
                failures = [t for t in failures if t > event.time - FAILURE_WINDOW]
                outcomes = {"fatal" if n >= MAX_FAILURES else "retry" for n in counts}
                if len(outcomes) == 1:
                    expect = outcomes.pop()
                    expected_delay = delay_after(max(counts))
                else:  # on the window's edge: either answer is the policy's
                    expect = "either"
                    expected_delay = delay_after(min(counts))
            case "retry":
                assert event.delay is not None
                if expect not in ("retry", "either"):
                    broke(
                        f"a restart ({event.delay:g} s) with no failure before it, or after "
                        f"{len(failures)} failures where the policy says FATAL"
                    )
                elif abs(event.delay - expected_delay) > 1e-6:
                    broke(
                        f"restart after {event.delay:g} s where the policy says "
                        f"{expected_delay:g} s (failure {len(failures)} in the window)"
                    )
                expect = "start"
            case "fatal":
                report.fatals += 1
                if expect not in ("fatal", "either"):
                    broke(
                        f"FATAL after {len(failures)} failure(s) in the window "
                        f"(the policy gives up at {MAX_FAILURES})"
                    )
                fatal_at = event.time
                expect = None
    if expect in ("retry", "fatal", "either"):
        broke("the last failure was never answered (no restart, no FATAL)")
    return report


def check_line_numbers(lines: Iterable[str]) -> tuple[int, list[str]]:
    """Lines checked and violations: each process's numbered lines must be 1..N, once each."""
    seen: dict[tuple[str, int], list[int]] = defaultdict(list)
    for line in lines:
        parts = split_log_line(line)
        text = parts[2] if parts is not None else line.strip()
        match = _LINE.match(text)
        if match:
            seen[(match.group(1), int(match.group(2)))].append(int(match.group(3)))
    violations = []
    checked = 0
    for (kind, pid), numbers in sorted(seen.items()):
        checked += len(numbers)
        counts = Counter(numbers)
        missing = sorted(set(range(1, max(numbers) + 1)) - counts.keys())
        repeated = sorted(n for n, c in counts.items() if c > 1)
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            violations.append(f"{kind} pid {pid}: {len(missing)} line(s) lost: {shown}")
        if repeated:
            violations.append(f"{kind} pid {pid}: {len(repeated)} line(s) logged twice")
    return checked, violations


def check_memory(
    samples: Sequence[tuple[float, float]], *, bound_mb: float, growth_mb: float, window: float
) -> tuple[dict[str, float], list[str]]:
    """Figures and violations for serve's RSS samples (seconds since start, MB).

    The median of the last `window` seconds may exceed the median of the first
    `window` seconds by at most `growth_mb`; no sample may exceed `bound_mb`.
    """
    if not samples:
        return {}, ["no memory samples"]
    end = samples[-1][0]
    first = [mb for t, mb in samples if t <= samples[0][0] + window]
    last = [mb for t, mb in samples if t >= end - window]
    figures = {
        "max": max(mb for _, mb in samples),
        "first": statistics.median(first),
        "last": statistics.median(last),
    }
    violations = []
    if figures["max"] > bound_mb:
        violations.append(f"serve's RSS reached {figures['max']:.1f} MB (bound {bound_mb:g} MB)")
    if figures["last"] - figures["first"] > growth_mb:
        violations.append(
            f"serve's RSS grew from {figures['first']:.1f} MB to {figures['last']:.1f} MB "
            f"(median of the first vs the last {window:g} s; at most +{growth_mb:g} MB)"
        )
    return figures, violations


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    status: int | None  # None: no answer (transport error)
    bad_input: bool
    what: str


def check_api(calls: Iterable[ApiCall]) -> list[str]:
    """No 5xx but the documented ones; every bad input refused with a 4xx; every call answered."""
    violations = []
    for call in calls:
        where = f"{call.method} {call.path} ({call.what})"
        if call.status is None:
            violations.append(f"{where}: no answer")
        elif call.status >= 500 and call.status not in DOCUMENTED_5XX.get(
            (call.method, call.path), set()
        ):
            violations.append(f"{where}: {call.status}")
        elif call.bad_input and not 400 <= call.status < 500:
            violations.append(f"{where}: bad input answered {call.status}, not a 4xx")
    return violations


def check_detection(
    program: str, signalled: dict[int, str], ran: Iterable[int], exited: set[int]
) -> list[str]:
    """Every process we signalled, and every one that ran, must have its exit logged."""
    violations = [
        f"{program} pid {pid} ({how}) ended unseen: no exit in the supervisor's log"
        for pid, how in sorted(signalled.items())
        if pid not in exited
    ]
    violations += [
        f"{program} pid {pid} ran but its exit was never logged"
        for pid in sorted(set(ran) - exited - signalled.keys())
    ]
    return violations


def claimed_faults(lines: Iterable[str]) -> Counter[str]:
    """How many starts took each kind of start fault (the chaos game's `chaos-faults` lines)."""
    kinds = {json.dumps(env, sort_keys=True): kind for kind, env, _ in START_FAULTS}
    claimed: Counter[str] = Counter()
    for line in lines:
        _, marker, rest = line.partition(" stdout chaos-faults ")
        if marker:
            env = json.loads(rest.partition(" ")[2])
            claimed[kinds.get(json.dumps(env, sort_keys=True), "unknown")] += 1
    return claimed


def stop_durations(events: Sequence[SupervisorEvent]) -> list[float]:
    """Seconds from each "stopping (pid P)" to P's exit: the stop's own time."""
    began: dict[int, float] = {}
    durations = []
    for event in events:
        if event.kind == "stopping" and event.pid is not None:
            began[event.pid] = event.time
        elif event.kind == "exit" and event.pid in began:
            durations.append(event.time - began.pop(event.pid))
    return durations


def rotated_files(log_dir: Path, name: str) -> list[Path]:
    """`name.N` ... `name.1`, `name`: oldest first."""
    backups = []
    for path in log_dir.glob(name + ".*"):
        suffix = path.name[len(name) + 1 :]
        if suffix.isdigit():
            backups.append((int(suffix), path))
    ordered = [path for _, path in sorted(backups, reverse=True)]
    current = log_dir / name
    return [*ordered, current] if current.exists() else ordered


def read_lines(paths: Iterable[Path]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines


# --- the soak ------------------------------------------------------------------


@dataclass
class Soak:
    minutes: float
    seed: int
    rss_bound_mb: float
    rss_growth_mb: float
    keep: bool = False
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chaos-")))
    key: str = field(default_factory=lambda: os.urandom(16).hex())
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    violations: list[str] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    signalled: dict[str, dict[int, str]] = field(default_factory=lambda: {"game": {}, "editor": {}})
    kill_times: dict[int, float] = field(default_factory=dict)
    ran: dict[str, set[int]] = field(default_factory=lambda: {"game": set(), "editor": set()})
    user_starts: dict[str, list[float]] = field(default_factory=lambda: {"game": [], "editor": []})
    calls: list[ApiCall] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    states: dict[str, tuple[str, float]] = field(default_factory=dict)
    scenes: list[str] = field(default_factory=list)
    started: float = 0.0
    stop_seconds: float | None = None

    @property
    def wrapper(self) -> Path:
        return self.tmp / "godot-chaos"

    @property
    def faults(self) -> Path:
        return self.tmp / "faults"

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def broke(self, message: str) -> None:
        if message not in self.violations:
            stamp = time.monotonic() - self.started if self.started else 0.0
            print(f"  violation at {stamp:6.1f} s: {message}", file=sys.stderr, flush=True)
            self.violations.append(message)

    # -- set-up --

    def prepare(self) -> tuple[list[str], dict[str, str]]:
        self.faults.mkdir(parents=True)
        self.wrapper.write_text(
            WRAPPER.format(python=sys.executable, faults=str(self.faults), interval=LINE_INTERVAL)
        )
        self.wrapper.chmod(0o755)
        for name in ("api", "godot", "telemetry", "lsp", "dap", "discovery"):
            self.ports[name] = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME")}
        for xdg in ("DATA", "CONFIG", "STATE", "CACHE"):
            env[f"XDG_{xdg}_HOME"] = str(self.tmp / "xdg" / xdg.lower())
        env.update(
            {
                "SPACETIME_PANEL_API_KEY": self.key,
                "SPACETIME__API__RATE_LIMIT_PER_MINUTE": "1000000",
                "SPACETIME__API__MAX_REQUEST_SIZE_MB": str(MAX_REQUEST_MB),
                "SPACETIME__LOGGING__MAX_BYTES": str(LOG_MAX_BYTES),
                "SPACETIME__LOGGING__BACKUP_COUNT": str(LOG_BACKUP_COUNT),
                "PYTHONUNBUFFERED": "1",
                # The user's own keyring is left alone: the keys come from the environment.
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            }
        )
        command = [
            sys.executable, "-m", "spacetime_panel", "serve", "--demo",
            "--godot-path", str(self.wrapper),
            "--port", str(self.ports["api"]),
            "--godot-port", str(self.ports["godot"]),
            "--http-fallback-ports", "",
            "--telemetry-port", str(self.ports["telemetry"]),
            "--lsp-port", str(self.ports["lsp"]),
            "--dap-port", str(self.ports["dap"]),
            "--discovery-port", str(self.ports["discovery"]),
            "--check-interval", str(CHECK_INTERVAL),
            "--start-timeout", str(START_TIMEOUT),
            "--stop-timeout", str(STOP_TIMEOUT),
            "--log-dir", str(self.logs),
            "--state-dir", str(self.tmp / "state"),
        ]  # fmt: skip
        return command, env

    # -- processes --

    def chaos_processes(self) -> list[tuple[str, Any]]:
        """(game|editor, psutil.Process) for every live chaos game/editor on the machine."""
        import psutil

        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            try:
                cmdline = proc.info["cmdline"] or []
                if proc.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
            except psutil.Error:
                continue
            if str(self.wrapper) in cmdline[:2]:  # not serve's --godot-path
                kind = "editor" if "--editor" in cmdline or "-e" in cmdline else "game"
                found.append((kind, proc))
        return found

    def children(self) -> list[tuple[str, int]]:
        """(game|editor, pid) of serve's live chaos children."""
        import psutil

        assert self.process is not None
        found = []
        try:
            kids = psutil.Process(self.process.pid).children()
        except psutil.Error:
            return []
        for child in kids:
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            if str(self.wrapper) in cmdline[:2]:  # not serve's --godot-path
                found.append(("editor" if "--editor" in cmdline else "game", child.pid))
        return found

    # -- the concurrent parts --

    async def watch_processes(self, until: float) -> None:
        """Never two games or editors at once; no orphan; serve's RSS; every pid that ran."""
        import psutil

        assert self.process is not None
        serve = psutil.Process(self.process.pid)
        tick = 0
        while time.monotonic() < until:
            if self.process.poll() is not None:
                self.broke(f"serve exited during the soak (code {self.process.returncode})")
                return
            kids = await asyncio.to_thread(self.children)
            per_kind = Counter(kind for kind, _ in kids)
            for kind, pid in kids:
                self.ran[kind].add(pid)
            for kind, count in per_kind.items():
                if count > 1:
                    pids = sorted(pid for k, pid in kids if k == kind)
                    self.broke(f"{count} {kind}s at once: pids {pids}")
            if tick % 5 == 0:
                for kind, proc in await asyncio.to_thread(self.chaos_processes):
                    with contextlib.suppress(psutil.Error):
                        parent = proc.parent()
                        if parent is None or parent.pid != self.process.pid:
                            self.broke(
                                f"orphan {kind} pid {proc.pid} {proc.cmdline()} (parent "
                                f"{parent.pid if parent else None} "
                                f"{parent.cmdline() if parent else ''})"
                            )
                with contextlib.suppress(psutil.Error):
                    rss = serve.memory_info().rss / 1e6
                    self.rss.append((time.monotonic() - self.started, rss))
            tick += 1
            await asyncio.sleep(0.2)

    async def watch_api(self, http: Any, until: float) -> None:
        """Poll /health; launch a FATAL program again; flag a program stuck in a state."""
        rng = random.Random(self.seed * 7 + 1)
        while time.monotonic() < until:
            body = await self.call(http, "GET", "/health", what="poll")
            now = time.monotonic()
            for name, program in (body or {}).get("programs", {}).items():
                if not program:
                    continue
                state = program["state"]
                before, since = self.states.get(name, ("", now))
                if state != before:
                    self.states[name] = (state, now)
                    since = now
                if state in ("STARTING", "STOPPING", "BACKOFF") and now - since > STUCK_AFTER:
                    self.broke(f"{name} stuck in {state} for {now - since:.0f} s")
                if state == "FATAL":
                    await asyncio.sleep(rng.uniform(0.2, 2.0))
                    self.user_starts[name].append(time.time())
                    await self.call(http, "POST", "/start", json={"program": name}, what="launch")
            await asyncio.sleep(0.5)

    async def call(
        self,
        http: Any,
        method: str,
        path: str,
        *,
        what: str,
        bad: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        import httpx

        headers = kwargs.pop("headers", None) or {"Authorization": f"Bearer {self.key}"}
        try:
            answer = await http.request(method, self.url + path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            self.calls.append(ApiCall(method, path.partition("?")[0], None, bad, what))
            self.broke(f"{method} {path} ({what}): no answer: {type(error).__name__}")
            return None
        call = ApiCall(method, path.partition("?")[0], answer.status_code, bad, what)
        self.calls.append(call)
        for problem in check_api([call]):
            self.broke(problem)
        try:
            body = answer.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def kill_things(self, until: float) -> None:
        """SIGKILL the game or the editor, SIGSTOP the game."""
        rng = random.Random(self.seed * 7 + 2)
        while time.monotonic() < until:
            await asyncio.sleep(rng.uniform(3.0, 12.0))
            if time.monotonic() >= until:
                return
            kids = self.children()
            roll = rng.random()
            kind, sig, name = (
                ("game", signal.SIGKILL, "game_sigkill")
                if roll < 0.55
                else ("game", signal.SIGSTOP, "game_sigstop")
                if roll < 0.75
                else ("editor", signal.SIGKILL, "editor_sigkill")
            )
            targets = [pid for k, pid in kids if k == kind]
            if not targets:
                continue
            pid = targets[0]
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
            self.injected[name] += 1
            self.signalled[kind].setdefault(pid, name)
            if sig == signal.SIGKILL:
                self.kill_times.setdefault(pid, time.time())

    async def arm_start_faults(self, until: float) -> None:
        """Leave a fault for the game's next start (claimed by the chaos game)."""
        rng = random.Random(self.seed * 7 + 3)
        waiting = self.faults / "next.json"
        while time.monotonic() < until:
            await asyncio.sleep(rng.uniform(4.0, 15.0))
            if time.monotonic() >= until:
                return
            if waiting.exists():
                continue
            kind, env, _ = rng.choice(START_FAULTS)
            staged = self.faults / "staged.json"
            staged.write_text(json.dumps(env))
            staged.replace(waiting)
            self.injected[f"start_{kind}"] += 1

    async def flap_telemetry(self, until: float) -> None:
        """Clients that come and go on the game's telemetry port; garbage to it and to discovery."""
        import websockets

        rng = random.Random(self.seed * 7 + 4)
        uri = f"ws://127.0.0.1:{self.ports['telemetry']}"
        while time.monotonic() < until:
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            if time.monotonic() >= until:
                return
            roll = rng.random()
            if roll < 0.6:
                self.injected["telemetry_client_flap"] += 1
                with contextlib.suppress(OSError, TimeoutError, websockets.WebSocketException):
                    async with asyncio.timeout(5):
                        socket_ = await websockets.connect(uri, open_timeout=3)
                        for _ in range(rng.randint(0, 20)):
                            await socket_.recv()
                        if rng.random() < 0.5:
                            await socket_.send(rng.choice(["{not json", "[1,2", "\x00" * 64]))
                            await socket_.send(b"\xff\xfe binary junk")
                            self.injected["telemetry_malformed_frame"] += 1
                        if rng.random() < 0.5:
                            socket_.transport.abort()  # dropped: no close frame
                        else:
                            await socket_.close()
            elif roll < 0.8:
                self.injected["telemetry_garbage_bytes"] += 1
                await asyncio.to_thread(
                    self.send_garbage, self.ports["telemetry"], rng.randbytes(rng.randint(1, 600))
                )
            else:
                self.injected["discovery_malformed_datagram"] += 1
                datagram = rng.choice(
                    [
                        b"{not json",
                        b"\x00" * 10,
                        json.dumps({"service": "spacetime-bridge", "http_port": "x"}).encode(),
                        json.dumps({"service": "spacetime-bridge", "pid": -1, "host": 5}).encode(),
                        rng.randbytes(rng.randint(1, 1200)),
                    ]
                )
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.sendto(datagram, ("127.0.0.1", self.ports["discovery"]))

    @staticmethod
    def send_garbage(port: int, data: bytes) -> None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 3) as s:
            s.settimeout(3)
            s.sendall(data + b"\r\n\r\n")
            with contextlib.suppress(OSError):
                s.recv(4096)

    async def use_api(self, http: Any, until: float) -> None:
        """Scene loads and reads, and bad input of every kind."""
        rng = random.Random(self.seed * 7 + 5)
        json_type = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        oversize = b'{"path": "res://' + b"a" * int(MAX_REQUEST_MB * 2**21) + b'.tscn"}'
        while time.monotonic() < until:
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            if time.monotonic() >= until:
                return
            choice = rng.randrange(14)
            if choice == 0 and self.scenes:
                self.injected["scene_load"] += 1
                path = rng.choice(self.scenes)
                await self.call(http, "POST", "/scene/load", json={"path": path}, what=path)
            elif choice == 1:
                self.injected["scene_load_traversal"] += 1
                path = rng.choice(
                    ["res://../../../etc/passwd.tscn", "/etc/passwd", "res://a/../../x.tscn"]
                )
                await self.call(
                    http, "POST", "/scene/load", json={"path": path}, what=path, bad=True
                )
            elif choice == 2:
                self.injected["api_bad_json"] += 1
                await self.call(
                    http,
                    "POST",
                    "/start",
                    content=b'{"program": ',
                    headers=json_type,
                    what="bad JSON",
                    bad=True,
                )
            elif choice == 3:
                self.injected["api_wrong_content_type"] += 1
                await self.call(
                    http,
                    "POST",
                    "/start",
                    content=b"{}",
                    what="text/plain",
                    bad=True,
                    headers={"Authorization": f"Bearer {self.key}", "Content-Type": "text/plain"},
                )
            elif choice == 4:
                self.injected["api_unknown_program"] += 1
                await self.call(
                    http,
                    "POST",
                    "/start",
                    json={"program": "doom"},
                    what="unknown program",
                    bad=True,
                )
            elif choice == 5:
                self.injected["api_oversize_body"] += 1
                await self.call(
                    http,
                    "POST",
                    "/scene/load",
                    content=oversize,
                    headers=json_type,
                    what="oversize body",
                    bad=True,
                )
            elif choice == 6:
                self.injected["api_wrong_key"] += 1
                await self.call(
                    http,
                    "POST",
                    "/start",
                    json={},
                    what="wrong key",
                    bad=True,
                    headers={"Authorization": "Bearer wrong-" + self.key},
                )
            elif choice == 7:
                self.injected["api_bad_query"] += 1
                lines = rng.choice(["0", "-1", "abc", "100001"])
                await self.call(
                    http, "GET", f"/logs?lines={lines}", what=f"lines={lines}", bad=True
                )
            elif choice == 8:
                self.injected["api_garbage_bytes"] += 1
                await asyncio.to_thread(self.send_garbage, self.ports["api"], rng.randbytes(300))
            elif choice == 9:
                self.injected["api_scene_reload"] += 1
                await self.call(http, "POST", "/scene/reload", json={}, what="reload")
            else:
                path = rng.choice(
                    [
                        "/services",
                        "/telemetry/summary",
                        "/logs?lines=500",
                        "/scenes",
                        "/metrics",
                        "/status",
                    ]
                )
                await self.call(http, "GET", path, what="read")

    # -- the run --

    async def soak(self) -> None:
        import httpx

        async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
            assert self.process is not None
            deadline = time.monotonic() + 60
            while True:  # serve is starting: no answer yet is no violation
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.broke("serve did not start answering within 60 s")
                    return
                with contextlib.suppress(httpx.TransportError):
                    await http.get(self.url + "/health")
                    break
                await asyncio.sleep(0.2)
            if not await self.wait_for_running(http, 60):
                self.broke("the game and the editor were not RUNNING within 60 s of start")
            body = await self.call(http, "GET", "/scenes", what="scene list")
            self.scenes = list((body or {}).get("scenes", []))[:5]
            self.started = time.monotonic()
            until = self.started + self.minutes * 60
            print(f"soaking for {self.minutes:g} min (seed {self.seed}) ...", file=sys.stderr)
            # The process watch goes on through the settling below.
            watcher = asyncio.create_task(self.watch_processes(float("inf")))
            await asyncio.gather(
                self.watch_api(http, until),
                self.kill_things(until),
                self.arm_start_faults(until),
                self.flap_telemetry(until),
                self.use_api(http, until),
            )
            # Settle: no fault pending; a fault a running game took at its start
            # (crash or hang after 3 s) has shown within QUIET; then all must run.
            (self.faults / "next.json").unlink(missing_ok=True)
            for quiet in (QUIET, 0.0):
                if not await self.wait_for_running(http, 120):
                    self.broke(f"not back to RUNNING within 120 s after the soak: {self.states}")
                    break
                await asyncio.sleep(quiet)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def wait_for_running(self, http: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = await self.call(http, "GET", "/health", what="settle")
            programs = (body or {}).get("programs", {})
            states = {name: p["state"] for name, p in programs.items() if p}
            self.states = {name: (state, time.monotonic()) for name, state in states.items()}
            if states and all(s == "RUNNING" for s in states.values()):
                return True
            for name, state in states.items():
                if state == "FATAL":
                    self.user_starts[name].append(time.time())
                    await self.call(http, "POST", "/start", json={"program": name}, what="launch")
            await asyncio.sleep(0.5)
        return False

    def stop_serve(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            return
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT * 2 + 30)
            self.stop_seconds = time.monotonic() - began
        except subprocess.TimeoutExpired:
            self.broke("serve did not exit within 36 s of SIGTERM")
            self.process.kill()
            self.process.wait(10)
        if self.process.returncode != 0:
            self.broke(f"serve exited with {self.process.returncode} after SIGTERM")

    def leftovers(self) -> list[int]:
        deadline = time.monotonic() + 10
        while True:
            left = [proc.pid for _, proc in self.chaos_processes()]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)

    def check_logs(self) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        for program in ("game", "editor"):
            files = rotated_files(self.logs, f"{program}.log")
            if len(files) > LOG_BACKUP_COUNT:
                self.broke(f"{program}.log rotated past its {LOG_BACKUP_COUNT} backups")
            lines = read_lines(files)
            checked, lost = check_line_numbers(lines)
            for problem in lost:
                self.broke(problem)
            report = check_policy(
                program, supervisor_events(lines), self.user_starts.get(program, [])
            )
            for problem in report.violations:
                self.broke(problem)
            for problem in check_detection(
                program, self.signalled[program], self.ran[program], report.exited_pids
            ):
                self.broke(problem)
            figures[program] = {
                "log_files": len(files),
                "lines_checked": checked,
                "failures": report.failures,
                "restarts": report.restarts,
                "fatals": report.fatals,
                "launches": report.launches,
            }
            figures[program]["stops_s"] = stop_durations(supervisor_events(lines))
            figures[program]["claimed"] = claimed_faults(lines)
            if program == "game":
                figures["detection_ms"] = self.detection_ms(lines)
        serve_out = (self.tmp / "serve.out").read_text(errors="replace")
        figures["running_reached"] = serve_out.count("-> RUNNING")
        return figures

    def detection_ms(self, lines: list[str]) -> list[float]:
        """SIGKILL sent -> the supervisor logged that exit, in ms."""
        found = []
        for event in supervisor_events(lines):
            if event.kind == "exit" and event.pid in self.kill_times and "SIGKILL" in event.detail:
                found.append((event.time - self.kill_times[event.pid]) * 1000)
        return found

    def run(self) -> int:
        import psutil

        command, env = self.prepare()
        out = (self.tmp / "serve.out").open("wb")
        self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        figures: dict[str, Any] = {}
        try:
            asyncio.run(self.soak())
        finally:
            self.stop_serve()
            left = self.leftovers()
            for pid in left:
                self.broke(f"orphan pid {pid} left after serve stopped")
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()
            out.close()
        figures = self.check_logs()
        window = 60.0 if self.minutes >= 3 else max(10.0, self.minutes * 15)
        memory, problems = check_memory(
            self.rss, bound_mb=self.rss_bound_mb, growth_mb=self.rss_growth_mb, window=window
        )
        for problem in problems:
            self.broke(problem)
        self.report(figures, memory, window)
        print(f"{len(self.violations)} invariant violations")
        if not self.violations and not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.tmp.exists():
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        return 1 if self.violations else 0

    def report(self, figures: dict[str, Any], memory: dict[str, float], window: float) -> None:
        load = os.getloadavg()
        print(
            f"chaos soak: {self.minutes:g} min, seed {self.seed}, {os.cpu_count()} CPUs, "
            f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
        )
        print("faults injected:")
        claimed = figures["game"]["claimed"]
        for name, count in sorted(self.injected.items()):
            kind = name.removeprefix("start_")
            taken = f"   ({claimed[kind]} taken by a start)" if kind != name else ""
            print(f"  {name:<32} {count:5d}{taken}")
        for program in ("game", "editor"):
            f = figures[program]
            print(
                f"{program}: {f['failures']} failures detected, {f['restarts']} restarts, "
                f"{f['fatals']} FATAL, {f['launches']} launches, {f['lines_checked']} numbered "
                f"lines checked in {f['log_files']} log files"
            )
        print(f"RUNNING reached {figures['running_reached']} times")
        stops = figures["game"]["stops_s"] + figures["editor"]["stops_s"]
        if stops:
            print(
                f"stops (SIGTERM -> exit, SIGKILL after {STOP_TIMEOUT:g} s): {len(stops)}, "
                f"max {max(stops):.2f} s (target: within {STOP_TIMEOUT + 2:g} s)"
            )
        detection = figures["detection_ms"]
        if detection:
            print(
                f"SIGKILL -> exit logged: p50 {percentile(detection, 0.5):.1f} ms, "
                f"p99 {percentile(detection, 0.99):.1f} ms, max {max(detection):.1f} ms "
                f"({len(detection)} kills)"
            )
        bad = sum(1 for c in self.calls if c.bad_input)
        fives = Counter(c.status for c in self.calls if c.status and c.status >= 500)
        print(
            f"API calls: {len(self.calls)} ({bad} with bad input); documented 5xx: "
            f"{dict(fives) or 'none'}"
        )
        if memory:
            print(
                f"serve RSS: max {memory['max']:.1f} MB; median first {window:g} s "
                f"{memory['first']:.1f} MB, last {window:g} s {memory['last']:.1f} MB"
            )
        if self.stop_seconds is not None:
            print(
                f"serve stopped {self.stop_seconds:.2f} s after SIGTERM "
                f"(stop timeout {STOP_TIMEOUT:g} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to soak (10)")
    parser.add_argument("--seed", type=int, default=1, help="the random schedule's seed (1)")
    parser.add_argument("--rss-bound-mb", type=float, default=200.0)
    parser.add_argument("--rss-growth-mb", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true", help="keep the logs even when all passed")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error("--minutes must be > 0")
    soak = Soak(args.minutes, args.seed, args.rss_bound_mb, args.rss_growth_mb, args.keep)
    sys.exit(soak.run())


if __name__ == "__main__":
    main()
