"""The systemd units, rendered for this machine, pass `systemd-analyze verify`."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from spacetime_panel.deploy.context import DeployContext
from spacetime_panel.deploy.services import render_systemd, render_systemd_user
from tests.deploy.conftest import run_tool, tool

pytestmark = pytest.mark.skipif(shutil.which("systemctl") is None, reason="systemd only")


def verify(unit: str, folder: Path, *, user: bool = False) -> str:
    """systemd-analyze's complaints (empty when the unit is clean). It exits 0 on
    unknown keys and bad values, only printing them, so any output is a complaint."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spacetime-panel.service"
    path.write_text(unit, encoding="utf-8")
    runtime = folder / "runtime"  # the user manager needs a runtime directory
    runtime.mkdir(mode=0o700, exist_ok=True)
    result = run_tool(
        tool("systemd-analyze"),
        "verify",
        "--man=no",
        *(["--user"] if user else []),
        path,
        env={"XDG_RUNTIME_DIR": str(runtime)},
    )
    complaints = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        complaints = f"exit {result.returncode}: {complaints}"
    return complaints


def test_the_system_unit_passes_verify(machine: DeployContext, tmp_path: Path) -> None:
    unit = render_systemd(machine)[0].text
    assert f"ExecStart={machine.executable}" in unit
    assert verify(unit, tmp_path) == ""


def test_the_user_unit_passes_verify(machine: DeployContext, tmp_path: Path) -> None:
    unit = render_systemd_user(machine)[0].text
    assert verify(unit, tmp_path, user=True) == ""


@pytest.mark.parametrize(
    ("breakage", "complaint"),
    [
        (
            lambda u, exe: u.replace(f"ExecStart={exe}", "ExecStart=/nowhere/spacetime-panel"),
            "/nowhere",
        ),
        (
            lambda u, exe: u.replace("KillMode=mixed", "KillMode=mixed\nKillSignal=SIGNOPE"),
            "SIGNOPE",
        ),
        (lambda u, exe: u.replace("ProtectSystem=full", "ProtectSystem=very"), "very"),
    ],
    ids=["missing executable", "bad signal", "bad hardening value"],
)
def test_a_broken_unit_fails_verify(
    machine: DeployContext, tmp_path: Path, breakage: object, complaint: str
) -> None:
    """The check can fail: the same unit, broken, gets a complaint naming the breakage."""
    unit = render_systemd(machine)[0].text
    broken = breakage(unit, machine.executable)  # type: ignore[operator]
    assert broken != unit
    assert complaint in verify(broken, tmp_path)


def test_a_project_path_with_spaces_is_quoted(
    machine: DeployContext, project: Path, tmp_path: Path
) -> None:
    spaced = tmp_path / "my game" / "100% VR"
    shutil.copytree(project, spaced)
    context = dataclasses.replace(
        machine, project=spaced, serve_args=("--scene-path", "res://a b.tscn")
    )
    unit = render_systemd(context)[0].text
    assert '--project-path "' + str(spaced).replace("%", "%%") + '"' in unit
    assert '"res://a b.tscn"' in unit
    assert verify(unit, tmp_path / "unit") == ""
    for user_unit in render_systemd_user(context):
        assert verify(user_unit.text, tmp_path / "user", user=True) == ""


def test_the_stop_timeout_leaves_the_panel_time_to_stop_godot(machine: DeployContext) -> None:
    for render in (render_systemd, render_systemd_user):
        unit = render(machine)[0].text
        stop = next(line for line in unit.splitlines() if line.startswith("TimeoutStopSec="))
        assert int(stop.split("=")[1]) > machine.settings.supervisor.stop_timeout
        assert "KillMode=mixed" in unit


def test_the_user_unit_follows_the_graphical_session(machine: DeployContext) -> None:
    unit = render_systemd_user(machine)[0].text
    assert "After=graphical-session.target" in unit
    assert "PartOf=graphical-session.target" in unit
    assert "import-environment" in unit
    assert "DISPLAY=" not in unit and "--headless" not in unit
    assert "User=" not in unit


def test_the_system_unit_reads_keys_from_a_file_only(machine: DeployContext) -> None:
    unit = render_systemd(machine)[0].text
    assert "EnvironmentFile=-/etc/spacetime-panel/panel.env" in unit
    assert f"User={machine.user}" in unit
    assert "Environment=" not in unit.replace("EnvironmentFile=", "")
