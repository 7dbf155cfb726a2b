"""The simulator's command line: version, missing project, bad settings, unknown flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.sim_process import run_sim_to_exit, running_sim


def test_version_prints_a_godot_like_version() -> None:
    result = run_sim_to_exit(None, "--version")
    assert result.returncode == 0
    assert result.stdout.strip().startswith("4.5")
    assert "stable" in result.stdout


def test_folder_without_project_godot_exits_1_with_godot_message(tmp_path: Path) -> None:
    result = run_sim_to_exit(tmp_path, "--headless")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Couldn't load project data" in lines[0]
    assert str(tmp_path.resolve()) in lines[0]


@pytest.mark.parametrize(
    "variable", ["SPACETIME_SIM_CRASH_AFTER", "SPACETIME_HTTP_PORT", "SPACETIME_SIM_NO_PLAYER"]
)
def test_bad_setting_exits_2_with_one_line(project: Path, variable: str) -> None:
    result = run_sim_to_exit(project, env={variable: "soon"})
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_godot_flags_are_ignored(project: Path) -> None:
    with running_sim(project, "--headless", "--verbose", "--rendering-driver", "opengl3") as sim:
        status = sim.wait_ready()
    assert status["bridge"]["protocol"] == "spacetime-bridge/1"
