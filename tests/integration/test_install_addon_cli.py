"""`spacetime-panel install-addon` as a real child process: what it prints, its exit codes,
and one line on stderr for every refusal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spacetime_panel.godot.addon import BACKUP_NAME, packaged_addon, plugin_version
from tests.conftest import TIME_SCALE
from tests.unit.test_install_addon import AUTOLOAD_LINE, REALISTIC, make_project, read_only

PANEL = [sys.executable, "-m", "spacetime_panel"]
VERIFY = "Verify: start the game and run `spacetime-panel status`"
PACKAGE = Path(__file__).resolve().parents[2] / "spacetime_panel"


def headless_env(**extra: str) -> dict[str, str]:
    """No display at all: the command must not need one."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    return {**env, **extra}


def run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PANEL, "install-addon", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or headless_env(),
        cwd=cwd,
        timeout=60 * TIME_SCALE,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("spacetime-panel: ")
    assert result.stdout == ""
    return lines[0]


def test_install_again_and_uninstall(tmp_path: Path):
    project = make_project(tmp_path, REALISTIC)
    version = plugin_version((packaged_addon() / "plugin.cfg").read_text())

    first = run(project)

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    lines = first.stdout.splitlines()
    assert lines[0] == f"Installed the SpaceTime bridge addon {version} in {project}"
    count = sum(1 for p in (project / "addons" / "spacetime_bridge").rglob("*") if p.is_file())
    assert f"  copied {count - 1} files to {project / 'addons' / 'spacetime_bridge'}" in lines
    assert f"  project.godot: added {AUTOLOAD_LINE} to [autoload]" in lines
    assert f"  backup of the original project.godot: {project / BACKUP_NAME}" in lines
    assert lines[-1] == VERIFY
    installed = (project / "project.godot").read_bytes()
    assert AUTOLOAD_LINE.encode() in installed

    second = run(project)
    assert second.returncode == 0
    assert second.stdout.splitlines() == [
        f"The SpaceTime bridge addon is already installed (version {version}) in {project}; "
        "nothing changed.",
        VERIFY,
    ]
    assert (project / "project.godot").read_bytes() == installed

    removed = run(project, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[0] == (
        f"Removed the SpaceTime bridge addon {version} from {project}"
    )
    assert "  project.godot is the original again, byte for byte; backup removed" in (
        removed.stdout.splitlines()
    )
    assert (project / "project.godot").read_bytes() == REALISTIC
    assert sorted(p.name for p in project.iterdir()) == ["project.godot"]

    again = run(project, "--uninstall")
    assert again.returncode == 0
    assert (
        again.stdout == f"Nothing to uninstall: the SpaceTime bridge addon is not in {project}.\n"
    )


def test_a_relative_project_path(tmp_path: Path):
    make_project(tmp_path, REALISTIC)
    result = subprocess.run(
        [*PANEL, "install-addon", "game"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=headless_env(),
        timeout=60 * TIME_SCALE,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "game" / "addons" / "spacetime_bridge" / "plugin.cfg").is_file()


def test_install_addon_needs_no_display_and_no_qt(tmp_path: Path):
    project = make_project(tmp_path, REALISTIC)
    code = (
        "import sys\n"
        "from spacetime_panel.cli import main\n"
        f"code = main(['install-addon', {str(project)!r}])\n"
        "print('qt loaded' if any(m.startswith('PySide6') for m in sys.modules) else 'no qt')\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=headless_env(),
        timeout=60 * TIME_SCALE,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "no qt"


def test_refuses_a_folder_without_project_godot(tmp_path: Path):
    line = assert_one_line_error(run(tmp_path))
    assert line == (
        f"spacetime-panel: {tmp_path} is not a Godot project: no project.godot "
        "(pass the folder that holds it)"
    )
    line = assert_one_line_error(run(tmp_path / "missing"))
    assert line.endswith("does not exist: pass a Godot project folder")
    line = assert_one_line_error(run(tmp_path, "--uninstall"))
    assert "no project.godot" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["folder", "project.godot"])
def test_refuses_a_read_only_project(tmp_path: Path, what: str):
    project = make_project(tmp_path, REALISTIC)
    target = project if what == "folder" else project / "project.godot"
    with read_only(target):
        line = assert_one_line_error(run(project))
    if what == "folder":
        assert line.startswith(f"spacetime-panel: cannot write in {target} (")
    else:
        assert line.startswith(f"spacetime-panel: cannot write {target} (")
    assert "writable and try again" in line
    assert (project / "project.godot").read_bytes() == REALISTIC
    assert sorted(p.name for p in project.iterdir()) == ["project.godot"]


def test_refuses_a_newer_addon_then_force_replaces_it(tmp_path: Path):
    project = make_project(tmp_path, REALISTIC)
    installed = project / "addons" / "spacetime_bridge"
    installed.mkdir(parents=True)
    (installed / "plugin.cfg").write_text('[plugin]\n\nname="SpaceTime Bridge"\nversion="999.1"\n')

    line = assert_one_line_error(run(project))
    assert "newer SpaceTime bridge addon (999.1)" in line
    assert line.endswith("upgrade spacetime-panel, or pass --force to replace it")
    assert (project / "project.godot").read_bytes() == REALISTIC

    forced = run(project, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "(replaced 999.1)" in forced.stdout.splitlines()[0]
    packaged = (packaged_addon() / "plugin.cfg").read_bytes()
    assert (installed / "plugin.cfg").read_bytes() == packaged


def test_force_with_uninstall_and_a_missing_project_are_usage_errors(tmp_path: Path):
    project = make_project(tmp_path, REALISTIC)
    line = assert_one_line_error(run(project, "--uninstall", "--force"), code=2)
    assert "--force" in line
    usage = run()
    assert usage.returncode == 2
    assert "the following arguments are required: PROJECT" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_refuses_when_the_installed_package_lost_its_addon(tmp_path: Path):
    """A broken installation: a copy of the package without its addon folder."""
    broken = tmp_path / "site"
    shutil.copytree(
        PACKAGE, broken / "spacetime_panel", ignore=shutil.ignore_patterns("addons", "__pycache__")
    )
    project = make_project(tmp_path, REALISTIC)
    line = assert_one_line_error(
        run(project, env=headless_env(PYTHONPATH=str(broken)), cwd=tmp_path)
    )
    assert "the bridge addon is missing" in line
    assert str(broken / "spacetime_panel") in line
    assert line.endswith("reinstall spacetime-panel")
    assert (project / "project.godot").read_bytes() == REALISTIC
