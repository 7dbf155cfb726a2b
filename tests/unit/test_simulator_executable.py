"""--demo finds the simulator script beside the interpreter, without an activated venv."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from spacetime_panel.godot.commands import SIMULATOR_SCRIPT, simulator_executable

pytestmark = pytest.mark.portable

#: The name the installer gives the script here (a .exe launcher on Windows).
INSTALLED_NAME = SIMULATOR_SCRIPT + (".exe" if sys.platform == "win32" else "")


def make_script(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / INSTALLED_NAME
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def same_file(found: str, expected: Path) -> bool:
    return os.path.normcase(Path(found).resolve()) == os.path.normcase(expected.resolve())


def test_the_installed_script_is_found_beside_python_with_path_emptied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This test's own interpreter: the venv the package is installed in, not activated.
    monkeypatch.setenv("PATH", "")
    found = simulator_executable()
    assert same_file(found, Path(sys.executable).parent / INSTALLED_NAME)


def test_beside_python_comes_before_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    beside = make_script(tmp_path / "venv" / "bin")
    make_script(tmp_path / "elsewhere")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))

    assert same_file(simulator_executable(), beside)


def test_path_is_the_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "bare").mkdir()
    on_path = make_script(tmp_path / "elsewhere")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bare" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))

    assert same_file(simulator_executable(), on_path)


def test_a_missing_script_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(FileNotFoundError, match="pip install spacetime-panel"):
        simulator_executable()
