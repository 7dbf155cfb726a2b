"""Fixtures for the deployment files: a context for this machine, the tools' runs."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spacetime_panel.config import Settings
from spacetime_panel.deploy.context import DeployContext
from spacetime_panel.godot.commands import simulator_executable
from tests.integration.conftest import project  # noqa: F401  (the demo project fixture)

#: The spacetime-panel of the environment running the tests.
EXECUTABLE = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin") / "spacetime-panel"


def this_machine(folder: Path, tmp: Path, settings: Settings | None = None) -> DeployContext:
    """A context that names real things here: the venv's executable, a project, the simulator."""
    user = getpass.getuser()
    return DeployContext(
        executable=EXECUTABLE,
        project=folder,
        godot=simulator_executable(),
        log_dir=tmp / "logs",
        user=user,
        serve_args=(),
        settings=settings or Settings(),
        group=_group(),
        home=Path.home(),
    )


def _group() -> str:
    import grp  # POSIX only

    return grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def machine(project: Path, tmp_path: Path) -> DeployContext:  # noqa: F811
    return this_machine(project, tmp_path)


def tool(name: str) -> str:
    """The installed tool (on PATH or in the venv); `.ci/run` installs them all."""
    found = shutil.which(name) or shutil.which(name, path=str(EXECUTABLE.parent))
    if found is None:
        pytest.fail(f"{name} is not installed (.ci/run installs it)")
    return found


def run_tool(
    *command: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
