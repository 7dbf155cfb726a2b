"""Shared fixtures: free ports, a time unit that slow machines can scale."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from spacetime_panel.config.settings import Settings
from spacetime_panel.godot.commands import simulator_executable
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.program import ProgramStatus

T = TypeVar("T")

# Multiply every wait in the tests by this on slow machines (SPACETIME_TEST_TIME_SCALE=3).
TIME_SCALE = float(os.environ.get("SPACETIME_TEST_TIME_SCALE", "1"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()


def wait_until(
    condition: Callable[[], T | None], timeout: float = 15.0, what: str = "a condition"
) -> T:
    """Re-check `condition` every 50 ms until it returns something truthy, and return that.

    The timeout is generous and scaled by SPACETIME_TEST_TIME_SCALE; running out is a
    test failure that names what was awaited.
    """
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * TIME_SCALE:g} s waiting for {what}")
        time.sleep(0.05)


async def eventually(
    condition: Callable[[], object], timeout: float = 15.0, what: str = "a condition"
) -> None:
    """The async `wait_until`: re-check every 20 ms while the event loop keeps running."""
    try:
        async with asyncio.timeout(timeout * TIME_SCALE):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout * TIME_SCALE:g} s: {what}") from None


def program_status(name: str, state: ProgramState, **changes: object) -> ProgramStatus:
    """A program's status as the views get it: nothing run yet unless `changes` say so."""
    fields: dict[str, object] = {
        "pid": None,
        "started_at": None,
        "restarts": 0,
        "last_exit_code": None,
        "last_failure": None,
        "blocking_issue": None,
        "adopted": False,
        "failures": {},
        **changes,
    }
    return ProgramStatus(name=name, state=state, **fields)  # type: ignore[arg-type]


def sim_settings(
    project: Path, *, editor: bool = False, supervisor: dict[str, float] | None = None
) -> Settings:
    """Settings for a panel on the simulated Godot: every port free, no fallback ports."""
    return Settings.model_validate(
        {
            "godot": {
                "executable": simulator_executable(),
                "project_path": project,
                "auto_load_scene": True,
                "launch_editor": editor,
            },
            "ports": {
                "http": free_port(),
                "http_fallbacks": [],
                "telemetry": free_port(),
                "lsp": free_port(),
                "dap": free_port(),
                "discovery": free_port(),
            },
            "api": {"port": free_port()},
            "supervisor": {"stop_timeout": 2, **(supervisor or {})},
        }
    )
