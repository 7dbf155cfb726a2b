"""One Godot process at the OS edge: spawn or adopt, read its output, see it exit, stop its tree.

Exit is seen from the process itself through an `ExitWatch` (a pidfd on
Linux, kqueue on macOS, the process handle on Windows, psutil polling as the
last resort; see `exit_watch`), the same for a child we spawned and for one
we adopted after a restart of the panel. No thread ever blocks in `wait()`,
so nothing holds up the loop or the panel's quit. asyncio's own subprocess
layer is not used because its `wait()` does not return while a grandchild
still holds the output pipe open, and its transport kills the child when it
is closed. The output is read by the loop on POSIX and by a thread per pipe
on Windows (see `pipes`).

Every process is started in a new session (POSIX) or a new process group
(Windows), so that a stop can reach every descendant (see `process_tree`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from spacetime_panel.supervisor.exit_watch import ExitWatch, open_exit_watch
from spacetime_panel.supervisor.pipes import LineSink, OutputPipe, read_output
from spacetime_panel.supervisor.process_tree import ProcessTree, uses_process_group

log = logging.getLogger(__name__)

_IS_POSIX = os.name == "posix"
#: How far a recorded start time may be from the process's own (psutil rounds it).
START_TIME_TOLERANCE = 0.05
#: How long a stop waits, after its kill, for the tree to be gone: the margin over stop_timeout.
KILL_GRACE = 2.0
#: How often the process tree is looked at where there is no process group to stop (s).
TREE_REFRESH = 1.0


class SpawnError(Exception):
    """The program could not be executed (missing, not executable, bad folder)."""


class NotAdopted(Exception):
    """A recorded process was not taken over; the message says why."""


class GodotProcess:
    """A running process the supervisor owns: spawned by it, or adopted from a state file."""

    def __init__(
        self,
        pid: int,
        create_time: float,
        *,
        popen: subprocess.Popen[bytes] | None,
        watch: ExitWatch,
    ) -> None:
        self.pid = pid
        self.create_time = create_time
        self.adopted = popen is None
        # Uptime counts from the process's own start, also for an adopted one.
        self.started_at = create_time
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int | None] = self._loop.create_future()
        self._pipes: list[OutputPipe] = []
        self._watch = watch
        try:
            leader: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            leader = None
        self._tree = ProcessTree(leader, use_group=uses_process_group() and self._leads_group())
        self._tree_refresh: asyncio.TimerHandle | None = None
        if not self._tree.use_group:
            # Without a process group, a descendant is only found while its parent lives:
            # the tree is looked at now and then, so that an orphan is still known.
            self._refresh_tree()
        watch.start(self._on_exit)

    @property
    def exit_watch(self) -> str:
        """Which watch sees this process end: pidfd, kqueue, handle or poll."""
        return self._watch.kind

    def _leads_group(self) -> bool:
        """True when the process leads its own process group (as every process we start does)."""
        if not _IS_POSIX:
            return False
        try:
            return os.getpgid(self.pid) == self.pid
        except OSError:
            return not self.adopted

    # --- creation ---------------------------------------------------------------

    @classmethod
    async def spawn(
        cls,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        sink: LineSink,
    ) -> GodotProcess:
        """Start `command` in a new session, reading stdout and stderr into `sink`."""
        try:
            popen = subprocess.Popen(  # noqa: ASYNC220 - fork+exec is quick; the waiting is async
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                cwd=cwd,
                start_new_session=_IS_POSIX,
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )
        except FileNotFoundError:
            raise SpawnError(f"{command[0]!r} not found (set --godot-path)") from None
        except PermissionError:
            raise SpawnError(f"{command[0]!r} is not executable") from None
        except OSError as error:
            raise SpawnError(f"{command[0]!r}: {error.strerror or error}") from None
        try:
            return await cls._supervise_spawned(popen, sink)
        except BaseException:
            # Started but not watched: never leave it running unsupervised.
            with contextlib.suppress(OSError):
                popen.kill()
            raise

    @classmethod
    async def _supervise_spawned(
        cls, popen: subprocess.Popen[bytes], sink: LineSink
    ) -> GodotProcess:
        loop = asyncio.get_running_loop()
        # Our unreaped child cannot vanish, so neither of these can miss it.
        watch = open_exit_watch(popen.pid, loop, popen=popen)
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = time.time()
        process = cls(popen.pid, create_time, popen=popen, watch=watch)
        assert popen.stdout is not None and popen.stderr is not None
        for stream, pipe in (("stdout", popen.stdout), ("stderr", popen.stderr)):
            process._pipes.append(
                await read_output(loop, pipe, stream, sink, name=f"output-{popen.pid}")
            )
        return process

    @classmethod
    def adopt(cls, pid: int, create_time: float, command: Sequence[str]) -> GodotProcess:
        """Take charge of a process a previous panel started, if it is still that process.

        The process's handle (its pidfd, kqueue event or Windows handle) is
        opened first, so that the checks that follow (the start time, then
        the command line, against the record) are about the process that
        will be watched; a pid recycled in between is seen as an exit. Its
        output pipes went with the previous panel, so no output is read.
        Raises `NotAdopted`, saying why, otherwise.
        """
        loop = asyncio.get_running_loop()
        try:
            watch = open_exit_watch(pid, loop)
        except ProcessLookupError:
            raise NotAdopted(f"pid {pid} is no longer running") from None
        except OSError as error:
            raise NotAdopted(f"pid {pid} cannot be watched: {error}") from None
        try:
            problem = identity_problem(pid, create_time, command)
            if problem is None and watch.has_exited():
                problem = f"pid {pid} ended while it was being adopted"
        except BaseException:
            watch.close()
            raise
        if problem is not None:
            watch.close()
            raise NotAdopted(problem)
        return cls(pid, create_time, popen=None, watch=watch)

    # --- exit ------------------------------------------------------------------------

    def _refresh_tree(self) -> None:
        self._tree.snapshot()
        self._tree_refresh = self._loop.call_later(TREE_REFRESH, self._refresh_tree)

    def _stop_refreshing(self) -> None:
        if self._tree_refresh is not None:
            self._tree_refresh.cancel()
            self._tree_refresh = None

    def _on_exit(self) -> None:
        self._stop_refreshing()
        code: int | None = None
        if self._popen is not None:
            # The process has ended: this reaps it without waiting.
            code = self._popen.poll()
        if not self.exited.done():
            self.exited.set_result(code)

    @property
    def running(self) -> bool:
        return not self.exited.done()

    # --- stopping -----------------------------------------------------------------

    async def terminate(self, timeout: float) -> int | None:
        """Stop the whole tree: SIGTERM, then SIGKILL after `timeout`. Returns the exit code.

        Returns once the process and every descendant it had are gone, and in
        any case within `timeout` plus `KILL_GRACE` seconds (the code is then
        None if the end of the process was not seen).
        """
        deadline = time.monotonic() + timeout
        tree = self._tree
        tree.snapshot()  # before the first signal: a re-parented grandchild is not found later
        tree.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        tree.snapshot()
        await tree.wait_gone(max(0.0, deadline - time.monotonic()))
        tree.kill()
        grace = time.monotonic() + KILL_GRACE
        code: int | None = None
        try:
            code = await asyncio.wait_for(asyncio.shield(self.exited), KILL_GRACE)
        except TimeoutError:
            log.warning("pid %d: its end was not seen %g s after the kill", self.pid, KILL_GRACE)
        if not await tree.wait_gone(max(0.0, grace - time.monotonic())):
            log.warning("pid %d: part of its process tree outlived the stop", self.pid)
        return code

    def kill_leftovers(self) -> None:
        """Kill what is left of the process group or tree after its leader died."""
        self._tree.kill_leftovers()

    def detach(self) -> None:
        """Stop watching and reading without touching the process (it keeps running)."""
        self._watch.close()
        self._stop_refreshing()
        self.close_pipes()

    @property
    def output_pipes(self) -> str | None:
        """How its output is read: loop or thread (see `pipes`); None when it is not read."""
        return self._pipes[0].kind if self._pipes else None

    def close_pipes(self) -> None:
        """Stop reading its output; never blocks (a reading thread ends at the pipe's end)."""
        for pipe in self._pipes:
            pipe.close()
        self._pipes.clear()


def identity_problem(pid: int, create_time: float, command: Sequence[str] | None) -> str | None:
    """Why the process now holding `pid` is not the one recorded, or None if it is.

    `command=None` leaves the command line unchecked.
    """
    try:
        process = psutil.Process(pid)
        actual = process.create_time()
        if abs(actual - create_time) > START_TIME_TOLERANCE:
            return (
                f"pid {pid} now belongs to another process "
                f"(started at {_clock(actual)}, the recorded one at {_clock(create_time)})"
            )
        if process.status() == psutil.STATUS_ZOMBIE:
            return f"pid {pid} has ended"
        if not command:
            return f"the record of pid {pid} has no command line to check"
        cmdline = process.cmdline()
    except psutil.NoSuchProcess:
        return f"pid {pid} is no longer running"
    except psutil.AccessDenied:
        return f"pid {pid} cannot be inspected (access denied)"
    except psutil.Error as error:
        return f"pid {pid} cannot be inspected: {error}"
    if not cmdline:
        return f"pid {pid} shows no command line (a process being started, or not a program)"
    if not same_command(cmdline, command):
        return (
            f"pid {pid} runs {_shown(cmdline)}, not the recorded {_shown(command)} "
            "(the pid was given to another program)"
        )
    return None


def same_command(cmdline: Sequence[str], recorded: Sequence[str]) -> bool:
    """True if `cmdline` is the recorded command, or that command run by a script's interpreter.

    A script started by its path appears as `interpreter [option] script args...`,
    so at most two leading words are allowed before the recorded command.
    """
    recorded = list(recorded)
    cmdline = list(cmdline)
    extra = len(cmdline) - len(recorded)
    return bool(recorded) and 0 <= extra <= 2 and cmdline[extra:] == recorded


def _shown(command: Sequence[str], limit: int = 120) -> str:
    text = shlex.join(command)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _clock(timestamp: float) -> str:
    fraction = f"{timestamp % 1:.2f}"[1:]
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) + fraction
