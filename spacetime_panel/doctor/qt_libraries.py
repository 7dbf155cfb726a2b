"""Which shared libraries Qt's platform plugin cannot load, and the Debian packages that hold them.

Without, say, `libxcb-icccm4` Qt aborts inside `QApplication()` ("could not load
the Qt platform plugin xcb") before any of our code can explain. This module
finds PySide6's plugin on disk *without importing PySide6* (importing its
widgets is what aborts), asks `ldd` what it cannot resolve, and names the
packages to install.

`ldd` lists the plugin's whole dependency closure, so a library missing two
levels down (needed by `libQt6XcbQpa.so.6`, say) is reported too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from spacetime_panel.doctor.report import Check

#: Seconds `ldd` may take (it only maps the libraries; this is generous).
LDD_TIMEOUT = 10.0

#: soname -> the Debian (bookworm) package holding it. Qt's xcb set first.
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libpng16.so.16": "libpng16-16",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libexpat.so.1": "libexpat1",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libbrotlidec.so.1": "libbrotli1",
}

#: Qt's own libraries come with the PySide6 wheel: missing, the wheel is broken.
PYSIDE_PREFIXES = ("libQt6", "libpyside6", "libshiboken6")
REINSTALL_PYSIDE = "pip install --force-reinstall PySide6-Essentials"

# "\tlibxcb-icccm.so.4 => not found"
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


class LibraryCheckError(Exception):
    """The libraries could not be checked (no `ldd`, or it failed); the message says why."""


@dataclass(frozen=True, slots=True)
class MissingLibrary:
    """A shared library the plugin needs and the dynamic loader cannot find."""

    soname: str
    #: The Debian package holding it, or None when we do not know it.
    package: str | None

    @property
    def from_pyside(self) -> bool:
        """One of Qt's own libraries, which the PySide6 wheel ships."""
        return self.soname.startswith(PYSIDE_PREFIXES)

    def __str__(self) -> str:
        return f"{self.soname} ({self.package})" if self.package else self.soname


def platform_plugin(platform: str = "xcb", environ: Mapping[str, str] | None = None) -> Path | None:
    """PySide6's platform plugin file (`libqxcb.so` for "xcb"), found without importing PySide6.

    `QT_QPA_PLATFORM_PLUGIN_PATH`, when set, is searched first, as Qt does.
    None when neither holds the plugin (PySide6 not installed, a platform Qt
    was built without).
    """
    environ = os.environ if environ is None else environ
    file_name = f"libq{platform}.so"
    folders: list[Path] = []
    if override := environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders += [Path(part) for part in override.split(os.pathsep) if part]
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folders += [
            Path(location) / "Qt" / "plugins" / "platforms"
            for location in spec.submodule_search_locations
        ]
    for folder in folders:
        if (folder / file_name).is_file():
            return folder / file_name
    return None


def unresolved_libraries(library: Path) -> list[str]:
    """The sonames `ldd` reports as "not found" for `library` (its whole closure), in order.

    Raises `LibraryCheckError` when `ldd` is missing, times out or fails.
    """
    ldd = shutil.which("ldd")
    if ldd is None:
        raise LibraryCheckError("ldd is not on PATH (Debian: the libc-bin package)")
    try:
        result = subprocess.run(
            [ldd, str(library)],
            capture_output=True,
            text=True,
            timeout=LDD_TIMEOUT,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired as error:
        raise LibraryCheckError(f"ldd {library} took more than {LDD_TIMEOUT:g} s") from error
    except OSError as error:
        raise LibraryCheckError(f"cannot run ldd: {error}") from error
    found: list[str] = []
    for line in result.stdout.splitlines():
        match = _NOT_FOUND.match(line)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    if result.returncode != 0 and not found:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise LibraryCheckError(
            f"ldd {library} failed: {message[-1] if message else f'exit {result.returncode}'}"
        )
    return found


def missing_qt_libraries(plugin: Path | None = None) -> list[MissingLibrary]:
    """The libraries Qt's xcb platform plugin needs and cannot load, with their Debian packages.

    `plugin` defaults to PySide6's `libqxcb.so`. An empty list means nothing is
    missing *or* nothing could be checked: not Linux, no PySide6 plugin, no
    `ldd` (use `unresolved_libraries` to tell those apart). Never imports Qt.
    """
    if not sys.platform.startswith("linux"):
        return []
    if plugin is None:
        plugin = platform_plugin("xcb")
        if plugin is None:
            return []
    try:
        sonames = unresolved_libraries(plugin)
    except LibraryCheckError:
        return []
    return [MissingLibrary(soname, DEBIAN_PACKAGES.get(soname)) for soname in sonames]


def install_command(missing: Iterable[MissingLibrary]) -> str:
    """One line that installs what is missing: `sudo apt install ...`; for a soname no
    package is known for, `apt-file search SONAME` to find it; for Qt's own libraries
    (a broken PySide6 wheel), the pip line that reinstalls it."""
    missing = list(missing)
    packages = sorted({library.package for library in missing if library.package})
    unknown = [lib.soname for lib in missing if lib.package is None and not lib.from_pyside]
    parts: list[str] = []
    if packages:
        parts.append("sudo apt install " + " ".join(packages))
    parts += [f"apt-file search {soname}" for soname in unknown]
    if any(library.from_pyside for library in missing):
        parts.append(REINSTALL_PYSIDE)
    return "; ".join(parts)


#: QT_QPA_PLATFORM values that need no window system (nothing to load for xcb).
WINDOWLESS_PLATFORMS = frozenset({"offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs"})


def qt_platform_check(environ: Mapping[str, str] | None = None) -> Check:
    """Can Qt load its platform plugin here? On Linux with X11 (xcb) or Wayland, every
    library the plugin needs must be found; elsewhere there is nothing to check."""
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return Check(
            "qt-platform", "ok", f"Qt's platform plugin ships with PySide6 on {sys.platform}"
        )
    requested = environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";", 1)[0].strip()
    if requested in WINDOWLESS_PLATFORMS:
        return Check(
            "qt-platform",
            "ok",
            f"QT_QPA_PLATFORM={requested}: no window system needed (xcb libraries not checked)",
        )
    platform = "wayland" if requested.startswith("wayland") else "xcb"
    plugin = platform_plugin(platform, environ)
    if plugin is None:
        if importlib.util.find_spec("PySide6") is None:
            return Check(
                "qt-platform",
                "error",
                "PySide6 is not installed: the desktop panel cannot open",
                "pip install 'PySide6-Essentials>=6.8,<6.12'",
            )
        return Check(
            "qt-platform",
            "error",
            f"PySide6 has no {platform} platform plugin (libq{platform}.so)",
            REINSTALL_PYSIDE,
        )
    try:
        sonames = unresolved_libraries(plugin)
    except LibraryCheckError as error:
        return Check("qt-platform", "warning", f"could not check {plugin.name}: {error}", "")
    if not sonames:
        note = " (Wayland)" if platform == "wayland" else ""
        if platform == "xcb" and environ.get("WAYLAND_DISPLAY"):
            note = " (a Wayland session: Qt may use its wayland plugin; xcb is the fallback)"
        return Check("qt-platform", "ok", f"{plugin.name}{note}: every library it needs is found")
    missing = [MissingLibrary(soname, DEBIAN_PACKAGES.get(soname)) for soname in sonames]
    return Check(
        "qt-platform",
        "error",
        f"Qt cannot load its {platform} platform plugin ({plugin}): missing "
        + ", ".join(str(library) for library in missing),
        install_command(missing),
    )


def qt_startup_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """For the GUI's start, before Qt is imported: one line naming what Qt's platform
    plugin cannot load and the command that installs it, or None when Qt can start
    (or nothing could be checked). The same test as `doctor`'s qt-platform line."""
    check = qt_platform_check(environ)
    if check.verdict != "error":
        return None
    return f"{check.detail}; install: {check.fix}"
