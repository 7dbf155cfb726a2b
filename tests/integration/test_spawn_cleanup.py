"""A child that was started but could not be watched is not left running."""

from __future__ import annotations

import sys

import psutil
import pytest

from spacetime_panel.supervisor import process as process_module
from spacetime_panel.supervisor.process import GodotProcess
from tests.conftest import eventually


async def test_a_spawn_whose_exit_watch_fails_kills_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []

    def failing_watch(pid: int, *args: object, **kwargs: object) -> None:
        started.append(pid)
        raise OSError("no watch for you")

    monkeypatch.setattr(process_module, "open_exit_watch", failing_watch)
    command = [sys.executable, "-c", "import time; time.sleep(60)"]

    with pytest.raises(OSError, match="no watch for you"):
        await GodotProcess.spawn(command, env={}, cwd=None, sink=lambda stream, line: None)

    [pid] = started

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    await eventually(gone)
