"""One Godot process at the OS edge: spawn or adopt, read its output, see it exit, stop its tree.

Exit is seen from the process itself, never by polling: on Linux a pidfd
becomes readable the moment the process ends (this works the same for a
child we spawned and for one we adopted after a restart of the panel); on
other systems a thread blocks in `wait()`. asyncio's own subprocess layer is
not used because its `wait()` does not return while a grandchild still holds
the output pipe open, and its transport kills the child when it is closed.

Every process is started in a new session, so that it leads its own process
group and a stop can reach every descendant.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

from spacetime_panel.supervisor.output import LineSplitter

LineSink = Callable[[str, str], None]  # (stream, text)

_IS_POSIX = os.name == "posix"


class SpawnError(Exception):
    """The program could not be executed (missing, not executable, bad folder)."""


class _PipeReader(asyncio.Protocol):
    """Moves bytes from one output pipe into lines for the sink."""

    def __init__(self, stream: str, sink: LineSink) -> None:
        self._stream = stream
        self._sink = sink
        self._splitter = LineSplitter()

    def data_received(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            self._sink(self._stream, line)

    def eof_received(self) -> bool:
        for line in self._splitter.flush():
            self._sink(self._stream, line)
        return False


class GodotProcess:
    """A running process the supervisor owns: spawned by it, or adopted from a state file."""

    def __init__(self, pid: int, create_time: float, *, popen: subprocess.Popen[bytes] | None):
        self.pid = pid
        self.pgid = pid  # start_new_session makes it its own group leader
        self.create_time = create_time
        self.adopted = popen is None
        self.started_at = time.time()
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int | None] = self._loop.create_future()
        self._transports: list[asyncio.BaseTransport] = []
        self._pidfd: int | None = None

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
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = time.time()
        process = cls(popen.pid, create_time, popen=popen)
        loop = process._loop
        assert popen.stdout is not None and popen.stderr is not None
        for stream, pipe in (("stdout", popen.stdout), ("stderr", popen.stderr)):
            transport, _ = await loop.connect_read_pipe(
                functools.partial(_PipeReader, stream, sink), pipe
            )
            process._transports.append(transport)
        process._watch_exit()
        return process

    @classmethod
    def adopt(cls, pid: int, create_time: float) -> GodotProcess | None:
        """Take charge of a process a previous panel started, if it is still that process.

        The start time guards against a recycled pid. Its output pipes went
        with the previous panel, so no output is read.
        """
        try:
            actual = psutil.Process(pid).create_time()
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        if abs(actual - create_time) > 0.05:
            return None
        process = cls(pid, create_time, popen=None)
        process._watch_exit()
        return process

    # --- exit ------------------------------------------------------------------------

    def _watch_exit(self) -> None:
        if hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except OSError:  # already gone, or a kernel without pidfd
                self._pidfd = None
            else:
                self._loop.add_reader(self._pidfd, self._on_pidfd_readable)
                return
        self._loop.run_in_executor(None, self._wait_blocking)

    def _on_pidfd_readable(self) -> None:
        assert self._pidfd is not None
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        self._set_exited(self._popen.wait() if self._popen is not None else None)

    def _wait_blocking(self) -> None:
        if self._popen is not None:
            code: int | None = self._popen.wait()
        else:
            with contextlib.suppress(psutil.Error):
                psutil.Process(self.pid).wait()
            code = None
        self._loop.call_soon_threadsafe(self._set_exited, code)

    def _set_exited(self, code: int | None) -> None:
        if not self.exited.done():
            self.exited.set_result(code)

    @property
    def running(self) -> bool:
        return not self.exited.done()

    # --- stopping -----------------------------------------------------------------

    async def terminate(self, timeout: float) -> int | None:
        """Stop the whole tree: SIGTERM, then SIGKILL after `timeout`. Returns the exit code.

        Returns only when the process and every descendant it had are gone.
        """
        deadline = time.monotonic() + timeout
        family = self._descendants()
        self._signal_tree(family, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        remaining = max(0.0, deadline - time.monotonic())
        await asyncio.to_thread(_wait_gone, family, remaining)
        self._signal_tree(family, signal.SIGKILL)
        code = await self.exited
        await asyncio.to_thread(_wait_gone, family, 5.0)
        return code

    def kill_leftovers(self) -> None:
        """SIGKILL what is left of the process group after its leader died."""
        if _IS_POSIX:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, signal.SIGKILL)

    def _descendants(self) -> list[psutil.Process]:
        try:
            return list(psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            return []

    def _signal_tree(self, family: list[psutil.Process], signum: signal.Signals) -> None:
        if _IS_POSIX:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, signum)
        elif self.running:
            with contextlib.suppress(psutil.Error):
                psutil.Process(self.pid).send_signal(signum)
        # Descendants that left the group (setsid) still belong to this stop.
        for member in family:
            with contextlib.suppress(psutil.Error):
                if signum == signal.SIGKILL:
                    member.kill()
                else:
                    member.terminate()

    def detach(self) -> None:
        """Stop watching and reading without touching the process (it keeps running)."""
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self.close_pipes()

    def close_pipes(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()


def _wait_gone(family: list[psutil.Process], timeout: float) -> None:
    """Block until every process in `family` is gone or a zombie, at most `timeout` s.

    This is the only polling in the supervisor, and it runs only during a stop:
    descendants of another parent cannot be awaited.
    """
    deadline = time.monotonic() + timeout
    alive = list(family)
    while alive:
        alive = [p for p in alive if _alive(p)]
        if not alive or time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
