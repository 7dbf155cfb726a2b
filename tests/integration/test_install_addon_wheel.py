"""install-addon from a built wheel: the addon must travel inside the package.

The wheel is built from a copy of the repository, so the build leaves no build/ or
egg-info in the working tree. It is installed without dependencies into a fresh venv,
which gets the current venv's dependencies through a plain path in a .pth file. A plain
path does not run the editable install's finder, so `spacetime_panel` there is the
wheel's copy; the test checks that before trusting anything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from importlib import metadata
from pathlib import Path

from spacetime_panel.godot.addon import BACKUP_NAME
from tests.conftest import TIME_SCALE
from tests.unit.test_install_addon import AUTOLOAD_LINE, REALISTIC, make_project

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120 * TIME_SCALE


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def build_isolation() -> list[str]:
    """Build with this venv's setuptools when it is recent enough for pyproject.toml
    (setuptools>=77: `license = "MIT"`); a venv made by `python -m venv` has an older one,
    and then pip builds in isolation with setuptools from the package index."""
    try:
        major = int(metadata.version("setuptools").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return []
    return ["--no-build-isolation"] if major >= 77 else []


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for item in REPO.iterdir():
        if item.is_file() and not item.name.startswith("."):
            shutil.copy2(item, source / item.name)
    shutil.copytree(
        REPO / "spacetime_panel",
        source / "spacetime_panel",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".godot"),
    )
    out = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", *build_isolation(), "-q", "-w", out,
        source)  # fmt: skip
    (wheel,) = out.glob("spacetime_panel-*.whl")
    return wheel


def test_install_addon_from_a_wheel_in_a_fresh_venv(tmp_path: Path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "spacetime_panel/addons/spacetime_bridge/plugin.cfg" in names
    assert "spacetime_panel/addons/spacetime_bridge/bridge.gd" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    site_packages = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    (site_packages / "current_venv_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )

    located = run(
        python, "-c", "import spacetime_panel; print(spacetime_panel.__file__)", cwd=tmp_path
    )
    assert Path(located.stdout.strip()).is_relative_to(env_dir), located.stdout

    project = make_project(tmp_path, REALISTIC)
    result = run(env_dir / "bin" / "spacetime-panel", "install-addon", project, cwd=tmp_path)

    assert result.stdout.splitlines()[-1] == (
        "Verify: start the game and run `spacetime-panel status`"
    )
    addon = project / "addons" / "spacetime_bridge"
    for name in ("plugin.cfg", "plugin.gd", "bridge.gd"):
        assert (addon / name).is_file(), name
    wheel_files = {
        name.removeprefix("spacetime_panel/addons/spacetime_bridge/")
        for name in names
        if name.startswith("spacetime_panel/addons/spacetime_bridge/")
    }
    assert {str(p.relative_to(addon)) for p in addon.rglob("*") if p.is_file()} == (
        wheel_files | {".install.json"}
    )
    text = (project / "project.godot").read_text()
    assert AUTOLOAD_LINE in text
    assert "run/flush_stdout_on_print=true" in text
    assert (project / BACKUP_NAME).read_bytes() == REALISTIC

    run(env_dir / "bin" / "spacetime-panel", "install-addon", "--uninstall", project, cwd=tmp_path)
    assert (project / "project.godot").read_bytes() == REALISTIC
