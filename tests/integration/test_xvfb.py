"""`serve --xvfb`: a virtual display (the real Xvfb) for Godot when there is no DISPLAY.

Observable: `serve --demo --xvfb` without DISPLAY is healthy, Godot's
environment names the display of the Xvfb the panel started (its cookie
opens it, nothing else does), and no Xvfb outlives the panel: not after
SIGTERM, not after SIGKILL (the "leave Godot running for adoption" case).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from spacetime_panel.commands.common import EXIT_ERROR, EXIT_USAGE, check_xvfb
from spacetime_panel.config import GodotSettings, Settings, load_settings
from spacetime_panel.supervisor.virtual_display import platform_problem
from tests.integration.conftest import Serve, alive, wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None or shutil.which("xauth") is None,
    reason="needs Debian's xvfb and xauth (installed by .ci/run)",
)

MISSING = (
    "spacetime-panel: --xvfb needs Xvfb, which is not installed (Debian/Ubuntu: sudo apt "
    "install xvfb; Fedora: sudo dnf install xorg-x11-server-Xvfb; Arch: sudo pacman -S "
    "xorg-server-xvfb)"
)


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """An environment with no display (as in a container); the demo copy in tmp_path."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("XAUTHORITY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    yield


def xvfb_children(serve: Serve) -> list[psutil.Process]:
    assert serve.process is not None
    return [
        child
        for child in psutil.Process(serve.process.pid).children()
        if child.name() == "Xvfb" and child.status() != psutil.STATUS_ZOMBIE
    ]


def godot_pids(serve: Serve) -> dict[str, int]:
    """The pids of the game and the editor, once both run."""

    def both() -> dict[str, int] | None:
        programs = serve.health()["programs"]
        pids = {name: programs[name]["pid"] for name in ("game", "editor")}
        serve.godot_pids.update(pid for pid in pids.values() if pid)
        return pids if all(pids.values()) else None

    found: dict[str, int] = wait_until(both, 20, "the game and the editor to run")
    return found


def serves(xvfb: psutil.Process, display: str) -> bool:
    """True if `xvfb` is the X server of `display` (it listens on that display's socket)."""
    socket = f"/tmp/.X11-unix/X{display.lstrip(':')}"
    try:
        return socket in [str(connection.laddr) for connection in xvfb.net_connections("unix")]
    except psutil.Error:
        return False


def can_open(display: str, xauthority: str) -> bool:
    """True if the X server of `display` accepts a client that holds the cookies of
    `xauthority` (read by xauth): the X11 connection setup, answered 1 for success."""
    listed = subprocess.run(
        ["xauth", "-f", xauthority, "nlist"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    # nlist: family, address, number, then the name and the data, each as length and hex.
    name, data = (bytes.fromhex(listed[4]), bytes.fromhex(listed[6])) if listed else (b"", b"")
    setup = struct.pack("<BxHHHHxx", ord("l"), 11, 0, len(name), len(data))
    setup += name + bytes(-len(name) % 4) + data + bytes(-len(data) % 4)
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(30)
        client.connect(f"/tmp/.X11-unix/X{display.lstrip(':')}")
        client.sendall(setup)
        return client.recv(1) == b"\x01"


def xvfbs_using(auth_file: str) -> list[int]:
    """Every running Xvfb started with this -auth file (ours has a unique one)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            ours = auth_file in (process.info["cmdline"] or [])
            if ours and process.info["name"] == "Xvfb" and process.status() != "zombie":
                found.append(process.pid)
    return found


def test_serve_demo_xvfb_gives_godot_the_display_it_started_and_stops_it(
    serve: Serve, no_display: None
) -> None:
    serve.start("--demo", "--xvfb")
    assert serve.wait_healthy(30)["overall_healthy"] is True
    pids = godot_pids(serve)
    (xvfb,) = xvfb_children(serve)

    game = psutil.Process(pids["game"]).environ()
    display, xauthority = game.get("DISPLAY", ""), game.get("XAUTHORITY", "")
    assert display.startswith(":") and xauthority, f"the game has no display: {game}"
    assert serves(xvfb, display), f"the game's {display} is not our Xvfb"
    editor = psutil.Process(pids["editor"]).environ()
    assert (editor.get("DISPLAY"), editor.get("XAUTHORITY")) == (display, xauthority)
    assert can_open(display, xauthority), f"the game's cookie does not open {display}"
    assert not can_open(display, os.devnull), "the display let a client in without the cookie"
    assert "-nolisten" in xvfb.cmdline() and "tcp" in xvfb.cmdline()
    auth_folder = Path(xauthority).parent

    assert serve.stop_panel(signal.SIGTERM) == 0
    assert not alive(xvfb.pid), "Xvfb outlived the panel"
    assert xvfbs_using(xauthority) == [], "an Xvfb of this panel is still running"
    assert not auth_folder.exists(), "the cookie's folder was left behind"
    assert not any(alive(pid) for pid in pids.values()), "Godot outlived the panel"


def test_xvfb_keeps_a_display_that_is_already_set(
    serve: Serve, no_display: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", ":4242")
    serve.start("--demo", "--xvfb")
    pids = godot_pids(serve)
    assert xvfb_children(serve) == []
    for pid in pids.values():
        assert psutil.Process(pid).environ()["DISPLAY"] == ":4242"
    assert serve.stop_panel() == 0
    assert serve.process is not None and serve.process.stdout is not None
    assert "DISPLAY=:4242 is set, so Godot uses that display" in serve.process.stdout.read()


def test_without_xvfb_installed_it_is_one_line_and_no_godot(
    serve: Serve, no_display: None, tmp_path: Path
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    env["PATH"] = str(empty)  # the panel and the simulator are given by absolute paths
    run = subprocess.run(
        serve.args("--demo", "--xvfb"), env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == EXIT_ERROR
    assert run.stderr.strip().splitlines() == [MISSING]
    assert run.stdout == ""
    state = tmp_path / "state"
    assert not state.exists() or not any(state.iterdir()), "a launch was recorded"
    assert not (tmp_path / "logs" / "game.log").exists(), "Godot was started"


def test_an_xvfb_that_fails_to_start_is_one_line_and_no_godot(
    serve: Serve, no_display: None, tmp_path: Path
) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    xvfb = fake / "Xvfb"
    xvfb.write_text("#!/bin/sh\necho '(EE) Cannot establish any listening sockets' >&2\nexit 1\n")
    xvfb.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    env["PATH"] = f"{fake}{os.pathsep}{env['PATH']}"
    run = subprocess.run(
        serve.args("--demo", "--xvfb"), env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == EXIT_ERROR
    assert run.stderr.strip().splitlines() == [
        "spacetime-panel: --xvfb: Xvfb ended before its display was ready (exit code 1): "
        "(EE) Cannot establish any listening sockets"
    ]
    assert not (tmp_path / "logs" / "game.log").exists(), "Godot was started"


def test_the_setting_comes_from_a_config_file_or_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "panel.toml"
    config.write_text("[godot]\nxvfb = true\n")
    assert load_settings(config_file=config, environ={}).godot.xvfb is True
    environ = {"SPACETIME__GODOT__XVFB": "yes"}
    assert load_settings(environ=environ, use_default_file=False).godot.xvfb is True
    assert load_settings(environ={}, use_default_file=False).godot.xvfb is False


def test_xvfb_is_a_usage_error_on_windows_and_macos(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert platform_problem("linux") is None
    settings = Settings(godot=GodotSettings(xvfb=True))
    for platform, name in (("win32", "Windows"), ("darwin", "macOS")):
        monkeypatch.setattr(sys, "platform", platform)
        assert check_xvfb(settings) == EXIT_USAGE
        line = capsys.readouterr().err
        assert line.startswith("spacetime-panel: --xvfb (godot.xvfb) is for Linux (X11)")
        assert name in line and line.count("\n") == 1
    assert check_xvfb(Settings()) is None


def test_a_killed_panel_takes_its_xvfb_along_and_leaves_godot_for_adoption(
    serve: Serve, no_display: None
) -> None:
    serve.start("--demo", "--xvfb")
    pids = godot_pids(serve)
    (xvfb,) = xvfb_children(serve)
    xauthority = psutil.Process(pids["game"]).environ()["XAUTHORITY"]
    try:
        serve.stop_panel(signal.SIGKILL)
        # The kernel ends Xvfb with the panel (setpriv --pdeathsig TERM).
        wait_until(lambda: not alive(xvfb.pid), 15, "Xvfb to end with the killed panel")
        assert xvfbs_using(xauthority) == []
        # Godot is left running for the next panel to adopt, as without --xvfb.
        assert all(alive(pid) for pid in pids.values())
    finally:
        with contextlib.suppress(psutil.Error):
            psutil.Process(xvfb.pid).kill()
        # A killed panel could not remove the cookie's folder.
        shutil.rmtree(Path(xauthority).parent, ignore_errors=True)


def test_an_xvfb_that_dies_is_started_again_and_the_next_godot_gets_it(
    serve: Serve, no_display: None
) -> None:
    serve.start("--demo", "--xvfb")
    first_game = godot_pids(serve)["game"]
    (first,) = xvfb_children(serve)
    first.kill()

    def replaced() -> psutil.Process | None:
        children = [child for child in xvfb_children(serve) if child.pid != first.pid]
        return children[0] if children else None

    second = wait_until(replaced, 20, "a new Xvfb")
    panel_log = serve.tmp / "logs" / "spacetime-panel.log"
    wait_until(
        lambda: "ERROR spacetime_panel.supervisor.virtual_display: Xvfb (display" in
        panel_log.read_text() and f"pid {first.pid}) ended unexpectedly" in panel_log.read_text(),
        10,
        "the error line about the dead Xvfb",
    )  # fmt: skip
    assert serve.post("/restart", json={"program": "game"}).status_code == 202

    def new_game() -> int | None:
        pid: int | None = serve.game()["pid"]
        if pid and pid != first_game:
            serve.godot_pids.add(pid)
            return pid
        return None

    game = wait_until(new_game, 30, "the game to start again")
    display = wait_until(lambda: psutil.Process(game).environ().get("DISPLAY"), 10, "DISPLAY")
    assert serves(second, display), f"the new game's {display} is not the new Xvfb"
    assert serve.stop_panel() == 0
    assert not alive(second.pid)
