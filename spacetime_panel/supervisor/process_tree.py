"""Ending every process a launched program made: through its process group, or its tree.

Two stop paths:

- `group` (POSIX): the program leads its own session and process group, so
  one `killpg` reaches every descendant that stayed in it. Descendants that
  left the group (setsid) are also signalled one by one.
- `tree` (Windows, or forced): the descendants are found through psutil
  (`children(recursive=True)`), remembered from before the first signal (a
  grandchild whose parent died is re-parented and would no longer be
  found), and terminated then killed one by one. On Windows the program
  was started in a new process group, so it first gets a CTRL_BREAK_EVENT,
  the closest thing to a SIGTERM there.

`SPACETIME_SUPERVISOR_STOP=tree` forces the tree path on POSIX (the tests
do); `group` or unset uses the group where there is one. No POSIX-only name
(`os.killpg`, `signal.SIGKILL`) is reached on the tree path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

import psutil

log = logging.getLogger(__name__)

STOP_PATH_ENV = "SPACETIME_SUPERVISOR_STOP"
GONE_POLL = 0.02  # s: how often a stop looks whether the tree is gone


def uses_process_group() -> bool:
    """True where stops go through the process group (POSIX, unless the tree path is forced)."""
    if sys.platform == "win32":
        return False
    return os.environ.get(STOP_PATH_ENV, "group").strip().lower() != "tree"


class ProcessTree:
    """The leader of a launched program and every descendant seen so far."""

    def __init__(self, leader: psutil.Process | None, *, use_group: bool) -> None:
        self.leader = leader
        self.pid = leader.pid if leader is not None else None
        self.use_group = use_group
        self._members: dict[int, psutil.Process] = {}

    @property
    def members(self) -> list[psutil.Process]:
        return list(self._members.values())

    def snapshot(self) -> None:
        """Remember the leader's current descendants (those known and alive stay known)."""
        if self.leader is None:
            return
        for pid, member in list(self._members.items()):
            if not _alive(member):
                del self._members[pid]
        with contextlib.suppress(psutil.Error):
            for member in self.leader.children(recursive=True):
                self._members.setdefault(member.pid, member)

    def terminate(self) -> None:
        """Ask every process of the tree to end (SIGTERM, CTRL_BREAK on Windows)."""
        if self.use_group:
            self._signal_group(signal.SIGTERM)
        elif self.leader is not None:
            with contextlib.suppress(psutil.Error, OSError):
                if sys.platform == "win32":
                    self.leader.send_signal(signal.CTRL_BREAK_EVENT)
                else:
                    self.leader.terminate()
        if sys.platform == "win32":
            return  # terminate() is TerminateProcess there: the members wait for kill()
        for member in self.members:
            with contextlib.suppress(psutil.Error):
                member.terminate()

    def kill(self) -> None:
        """End every process of the tree at once."""
        if self.use_group:
            self._signal_group(getattr(signal, "SIGKILL", signal.SIGTERM))
        for process in [self.leader, *self.members]:
            if process is not None:
                with contextlib.suppress(psutil.Error):
                    process.kill()

    def kill_leftovers(self) -> None:
        """After the leader died: kill what is left of its group or of its known tree."""
        if self.use_group:
            self._signal_group(getattr(signal, "SIGKILL", signal.SIGTERM))
        orphans = [] if self.use_group else self._orphans()
        for member in [*self.members, *orphans]:
            with contextlib.suppress(psutil.Error):
                member.kill()

    def _orphans(self) -> list[psutil.Process]:
        """Children whose parent (the dead leader) is gone but still named as parent (Windows)."""
        if self.leader is None or self.pid is None:
            return []
        try:
            born = self.leader.create_time()
        except psutil.Error:
            return []
        found: list[psutil.Process] = []
        for process in psutil.process_iter(["ppid", "create_time"]):
            if process.info["ppid"] == self.pid and process.info["create_time"] >= born:
                found.append(process)
                with contextlib.suppress(psutil.Error):
                    found.extend(process.children(recursive=True))
        return found

    def _signal_group(self, signum: int) -> None:
        if sys.platform != "win32" and self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)

    async def wait_gone(self, timeout: float) -> bool:
        """Wait until every known member is gone (or a zombie), at most `timeout` s.

        The members are not our children, so there is nothing to await:
        this looks every 20 ms, and only during a stop.
        """
        deadline = time.monotonic() + timeout
        while True:
            alive = [member for member in self.members if _alive(member)]
            if not alive:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(GONE_POLL)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
