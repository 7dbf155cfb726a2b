"""`spacetime-panel deploy TARGET`: the files for this machine, its flags and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spacetime_panel.deploy.targets import TARGETS, packaging_folder
from spacetime_panel.godot.commands import simulator_executable
from tests.deploy.conftest import EXECUTABLE
from tests.deploy.test_reference import PACKAGING
from tests.deploy.test_systemd import verify


def deploy(*arguments: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spacetime_panel", "deploy", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def where(project: Path, tmp_path: Path) -> list[str]:
    """The flags that name this machine's things; a config file of the test's own (empty
    unless the test wrote one), so the user's configuration plays no part."""
    (tmp_path / "config.toml").touch()
    return [
        "--project-path", str(project),
        "--godot-path", simulator_executable(),
        "--log-dir", str(tmp_path / "logs"),
        "--config", str(tmp_path / "config.toml"),
    ]  # fmt: skip


@pytest.fixture
def spaced_project(project: Path, tmp_path: Path) -> Path:
    target = tmp_path / "My Game" / "vr project"
    target.parent.mkdir()
    project.rename(target)
    return target


def test_the_unit_names_this_machine(spaced_project: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[api]\nport = 8123\n", encoding="utf-8")
    result = deploy(
        "systemd", *where(spaced_project, tmp_path),
        "--", "--auto-load-scene", "--scene-path", "res://levels/first level.tscn",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    unit = result.stdout
    assert f"ExecStart={EXECUTABLE.resolve()} serve" in unit
    assert f'--project-path "{spaced_project}"' in unit
    assert f"--godot-path {Path(simulator_executable()).resolve()}" in unit
    assert f"--config {tmp_path / 'config.toml'}" in unit
    assert "--port 8123" in unit  # from the configuration file
    assert '--scene-path "res://levels/first level.tscn"' in unit
    assert verify(unit, tmp_path / "check") == ""


def test_the_service_account_is_a_flag(project: Path, tmp_path: Path) -> None:
    result = deploy("systemd", *where(project, tmp_path), "--user", "spacetime")
    assert result.returncode == 0, result.stderr
    assert "\nUser=spacetime\n" in result.stdout


def test_a_flag_wins_over_the_configuration(project: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[api]\nport = 8123\n", encoding="utf-8")
    result = deploy("supervisord", *where(project, tmp_path), "--port", "8124")
    assert result.returncode == 0, result.stderr
    assert "--port 8124 " in result.stdout and "8123" not in result.stdout


def test_a_missing_project_is_one_line(tmp_path: Path) -> None:
    result = deploy("systemd", *where(tmp_path / "nowhere", tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("spacetime-panel: project folder ")
    assert "nowhere" in result.stderr and result.stderr.count("\n") == 1


def test_a_missing_godot_is_one_line(project: Path, tmp_path: Path) -> None:
    result = deploy("systemd", "--project-path", project, "--godot-path", tmp_path / "no-godot")
    assert result.returncode == 1
    assert result.stderr.startswith("spacetime-panel: Godot not found")
    assert result.stderr.count("\n") == 1


def test_an_unknown_target_or_flag_is_one_line(project: Path, tmp_path: Path) -> None:
    unknown = deploy("upstart", *where(project, tmp_path))
    assert unknown.returncode == 2 and "invalid choice: 'upstart'" in unknown.stderr
    # A serve flag goes after `--`; before it, it is not deploy's.
    stray = deploy("systemd", *where(project, tmp_path), "--auto-load-scene")
    assert stray.returncode == 2 and "--auto-load-scene" in stray.stderr
    assert stray.stderr.count("\n") == 1


def test_output_writes_and_refuses_to_overwrite(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = deploy("logrotate", *where(project, tmp_path), "--output", out)
    assert first.returncode == 0, first.stderr
    written = out / "spacetime-panel"
    assert first.stdout.strip() == str(written)
    written.write_text("edited by hand\n", encoding="utf-8")

    again = deploy("logrotate", *where(project, tmp_path), "--output", out)

    assert again.returncode == 1
    assert again.stderr == f"spacetime-panel: {written} exists; pass --force to overwrite it\n"
    assert written.read_text(encoding="utf-8") == "edited by hand\n"
    forced = deploy("logrotate", *where(project, tmp_path), "--output", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "serve-output.log" in written.read_text(encoding="utf-8")


@pytest.mark.parametrize("target", ["systemd", "nssm", "nginx"])
def test_reference_is_what_packaging_holds(target: str, tmp_path: Path) -> None:
    result = deploy(target, "--reference", "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    for written in result.stdout.split():
        shipped = PACKAGING / packaging_folder(target) / Path(written).name
        assert Path(written).read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")


def test_every_target_prints(project: Path, tmp_path: Path) -> None:
    for target in TARGETS:
        result = deploy(target, *where(project, tmp_path))
        assert result.returncode == 0, f"{target}: {result.stderr}"
        assert result.stdout.strip(), target


def test_a_target_that_cannot_render_the_request_says_why(project: Path, tmp_path: Path) -> None:
    result = deploy("nssm", *where(project, tmp_path), "--", "--xvfb")
    assert result.returncode == 2
    assert result.stderr.startswith("spacetime-panel: deploy nssm: --xvfb")
    assert result.stderr.count("\n") == 1


def test_the_configurations_godot_settings_travel_as_flags(project: Path, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[godot]\nlaunch_editor = true\nscene_path = "res://menu.tscn"\n'
        "[supervisor]\nstop_timeout = 45\n",
        encoding="utf-8",
    )
    result = deploy("supervisord", *where(project, tmp_path), "--no-game")
    assert result.returncode == 0, result.stderr
    command = next(line for line in result.stdout.splitlines() if line.startswith("command="))
    for flag in ("--editor", "--no-game", "--scene-path res://menu.tscn", "--stop-timeout 45"):
        assert f" {flag}" in command
    assert "stopwaitsecs=65" in result.stdout
