"""`spacetime-panel doctor` as a user runs it: a child process, its JSON and its exit code.

Each failure mode is made real: a port held by a child process with a known
name, a Godot path that does not exist, Debian's godot3, a folder without
project.godot, the `fail` keyring backend and a real gnome-keyring, an
environment without DISPLAY and a PATH without Xvfb, and a copy of Qt's xcb
plugin that needs a library nobody has (patchelf adds the DT_NEEDED entry).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TIME_SCALE, free_port, wait_until
from tests.integration.conftest import PANEL, Serve
from tests.qt_plugin import plugin_folder_needing

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
GODOT3 = shutil.which("godot3")

pytestmark = pytest.mark.timeout(120 * TIME_SCALE)


@dataclass
class Outcome:
    code: int
    document: dict[str, Any]
    stderr: str

    def check(self, name: str) -> dict[str, str]:
        found = [c for c in self.document["checks"] if c["name"] == name]
        assert len(found) == 1, f"no single {name!r} check in {self.document['checks']}"
        check: dict[str, str] = found[0]
        return check


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """No user config, no keyring, no Qt window system, no SPACETIME_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        QT_QPA_PLATFORM="offscreen",
    )
    return env


@pytest.fixture
def ports() -> list[str]:
    """Free ports for all six services, so a test never meets another test's panel."""
    return [
        "--port", str(free_port()),
        "--godot-port", str(free_port()),
        "--http-fallback-ports", f"{free_port()},{free_port()}",
        "--telemetry-port", str(free_port()),
        "--lsp-port", str(free_port()),
        "--dap-port", str(free_port()),
        "--discovery-port", str(free_port()),
    ]  # fmt: skip


def doctor(*args: str, env: dict[str, str], text: bool = False) -> Outcome:
    command = [*PANEL, "doctor", *([] if text else ["--json"]), *args]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60 * TIME_SCALE
    )
    if text:
        return Outcome(result.returncode, {"lines": result.stdout.splitlines()}, result.stderr)
    assert result.stdout, f"no output; stderr:\n{result.stderr}"
    document = json.loads(result.stdout)
    assert document["exit_code"] == result.returncode
    return Outcome(result.returncode, document, result.stderr)


@dataclass
class Squatter:
    process: subprocess.Popen[str]
    port: int


SQUATTER_NAME = "port-squatter"


@pytest.fixture
def squatter() -> Iterator[Any]:
    """Start children named `port-squatter` (their /proc comm) listening on a port each."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int) -> Squatter:
        code = textwrap.dedent(
            f"""
            import socket, sys
            with open("/proc/self/comm", "w") as comm:
                comm.write({SQUATTER_NAME!r})
            sock = socket.socket()
            sock.bind(("127.0.0.1", {port}))
            sock.listen()
            print("READY", flush=True)
            sys.stdin.read()
            """
        )
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "READY"
        return Squatter(process, port)

    yield start
    for process in started:
        process.kill()
        process.wait(10)


# -- ports --


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names the holder via /proc")
def test_a_busy_management_port_names_its_holder(
    environment: dict[str, str], ports: list[str], squatter: Any
) -> None:
    port = int(ports[ports.index("--port") + 1])
    held = squatter(port)
    outcome = doctor(*ports, "--demo", env=environment)
    check = outcome.check(f"port {port}")
    assert check["verdict"] == "error"
    assert f"{SQUATTER_NAME} (pid {held.process.pid}" in check["detail"]
    assert "serve cannot start" in check["detail"]
    assert "--port" in check["fix"] and str(held.process.pid) in check["fix"]
    assert outcome.code == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names the holder via /proc")
def test_a_busy_bridge_port_says_which_fallback_the_bridge_would_use(
    environment: dict[str, str], ports: list[str], squatter: Any
) -> None:
    bridge = int(ports[ports.index("--godot-port") + 1])
    first, second = map(int, ports[ports.index("--http-fallback-ports") + 1].split(","))
    squatter(bridge)
    squatter(first)
    check = doctor(*ports, "--demo", env=environment).check(f"port {bridge}")
    assert check["verdict"] == "warning"
    assert SQUATTER_NAME in check["detail"]
    assert f"would use fallback port {second}" in check["detail"]

    squatter(second)
    check = doctor(*ports, "--demo", env=environment).check(f"port {bridge}")
    assert check["verdict"] == "error"
    assert f"every fallback is busy ({first}, {second})" in check["detail"]


def test_our_own_running_panel_and_game_are_warnings_not_errors(
    serve: Serve, environment: dict[str, str]
) -> None:
    serve.start()
    serve.wait_healthy(30)
    outcome = doctor(
        *serve.where(),
        "--godot-path", str(Path(sys.executable).parent / "spacetime-godot-sim"),
        "--project-path", str(serve.project),
        env=environment,
    )  # fmt: skip
    api = outcome.check(f"port {serve.port}")
    assert api["verdict"] == "warning"
    assert "held by a SpaceTime panel that is running" in api["detail"]
    assert f"pid {serve.process.pid if serve.process else 0}" in api["detail"]
    bridge = outcome.check(f"port {serve.godot_port}")
    assert bridge["verdict"] == "warning"
    assert "held by the simulated Godot" in bridge["detail"]
    assert all(
        c["verdict"] != "error" for c in outcome.document["checks"] if c["name"].startswith("port")
    )


# -- Godot --


def test_a_missing_godot_is_an_error_with_the_fix(
    environment: dict[str, str], ports: list[str], project: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "godot"
    outcome = doctor(
        *ports, "--godot-path", str(missing), "--project-path", str(project), env=environment
    )
    check = outcome.check("godot")
    assert check["verdict"] == "error"
    assert str(missing) in check["detail"] and "not found" in check["detail"]
    assert "--godot-path" in check["fix"] and "--demo" in check["fix"]
    assert outcome.code == 2


def test_a_godot_name_not_on_path_is_an_error(
    environment: dict[str, str], ports: list[str], project: Path
) -> None:
    check = doctor(
        *ports, "--godot-path", "godot-that-nobody-installed", "--project-path", str(project),
        env=environment,
    ).check("godot")  # fmt: skip
    assert check["verdict"] == "error"
    assert "'godot-that-nobody-installed' not on PATH" in check["detail"]


@pytest.mark.skipif(GODOT3 is None and not IN_CI, reason="needs Debian's godot3")
def test_debians_godot3_is_flagged_as_older_than_4_5(
    environment: dict[str, str], ports: list[str], project: Path
) -> None:
    assert GODOT3 is not None, "CI installs godot3 (.ci/run)"
    printed = subprocess.run(
        [GODOT3, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    major_minor = ".".join(printed.split(".")[:2])
    assert major_minor.startswith("3.")
    outcome = doctor(
        *ports, "--godot-path", GODOT3, "--project-path", str(project), env=environment
    )
    check = outcome.check("godot")
    assert check["verdict"] == "error"
    assert f"Godot {major_minor} is too old: the bridge addon needs 4.5+" in check["detail"]
    assert printed in check["detail"]
    assert "--godot-path" in check["fix"]
    assert outcome.code == 2


# -- the project --


def test_a_folder_that_is_no_project(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    outcome = doctor(*ports, "--demo", "--project-path", str(empty), env=environment)
    check = outcome.check("project")
    assert check["verdict"] == "error"
    assert f"{empty} is not a Godot project: no project.godot" == check["detail"]
    assert "--project-path" in check["fix"]
    assert outcome.code == 2
    assert not [c for c in outcome.document["checks"] if c["name"] == "addon"]

    gone = doctor(*ports, "--demo", "--project-path", str(tmp_path / "gone"), env=environment)
    assert "does not exist" in gone.check("project")["detail"]


def test_a_project_without_the_addon_and_after_install_addon(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "project.godot").write_text(
        'config_version=5\n\n[application]\n\nconfig/name="Bare"\n'
        'config/features=PackedStringArray("4.5", "Forward Plus")\n',
        encoding="utf-8",
    )
    outcome = doctor(*ports, "--demo", "--project-path", str(bare), env=environment)
    assert outcome.check("project") == {
        "name": "project",
        "verdict": "ok",
        "detail": f"'Bare' at {bare} (Godot 4.5)",
        "fix": "",
    }
    addon = outcome.check("addon")
    assert addon["verdict"] == "warning"
    assert addon["fix"] == f"spacetime-panel install-addon {bare}"

    installed = subprocess.run(
        [*PANEL, "install-addon", str(bare)], env=environment, capture_output=True, timeout=60
    )
    assert installed.returncode == 0, installed.stderr
    addon = doctor(*ports, "--demo", "--project-path", str(bare), env=environment).check("addon")
    assert addon["verdict"] == "ok", addon
    assert "current" in addon["detail"] and "autoload enabled" in addon["detail"]


# -- the keyring --


def test_no_keyring_is_a_warning_naming_the_fix(
    environment: dict[str, str], ports: list[str]
) -> None:
    outcome = doctor(*ports, "--demo", env=environment)
    check = outcome.check("keyring")
    assert check["verdict"] == "warning"
    assert "no OS keyring is available" in check["detail"]
    assert "keyring.backends.fail.Keyring" in check["detail"]
    assert "gnome-keyring" in check["fix"] and "SPACETIME_PANEL_API_KEY" in check["fix"]


@pytest.mark.parametrize(("state", "verdict"), [("unlocked", "ok"), ("locked", "warning")])
def test_a_real_gnome_keyring(
    environment: dict[str, str], ports: list[str], state: str, verdict: str
) -> None:
    """gnome-keyring on a private bus: unlocked is fine; locked is said, without a prompt."""
    from tests.keyring_session import missing_tools, start_keyring_session

    if missing_tools():
        if IN_CI:
            pytest.fail(f"{missing_tools()} missing; .ci/run installs dbus and gnome-keyring")
        pytest.skip(f"needs {', '.join(missing_tools())}")
    session = start_keyring_session(state, timeout=30 * TIME_SCALE)
    try:
        result = session.panel("doctor", "--json", *ports, "--demo", timeout=60 * TIME_SCALE)
        document = json.loads(result.stdout)
        [check] = [c for c in document["checks"] if c["name"] == "keyring"]
        assert check["verdict"] == verdict, check
        assert check["detail"].startswith("SecretService (keyring.backends.SecretService.Keyring)")
        if state == "locked":
            assert "the default keyring is locked" in check["detail"]
            assert "unlock it" in check["fix"]
    finally:
        session.close()


# -- the display --


def _path_without_xvfb(tmp_path: Path) -> str:
    """A PATH with python's folder and ldd, but no Xvfb."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("ldd",):
        if found := shutil.which(tool):
            (tools / tool).symlink_to(found)
    return os.pathsep.join([str(Path(sys.executable).parent), str(tools)])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are Linux's")
def test_no_display_and_no_xvfb_is_an_error_naming_the_package(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    env = {k: v for k, v in environment.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PATH"] = _path_without_xvfb(tmp_path)
    outcome = doctor(*ports, "--demo", env=env)
    check = outcome.check("display")
    assert check["verdict"] == "error"
    assert "no display (DISPLAY and WAYLAND_DISPLAY unset)" in check["detail"]
    assert "Xvfb is not installed" in check["detail"]
    assert "sudo apt install xvfb" in check["fix"]
    assert outcome.code == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are Linux's")
def test_no_display_with_xvfb_installed_suggests_serve_xvfb(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    if shutil.which("Xvfb") is None and not IN_CI:
        pytest.skip("needs Xvfb")
    env = {k: v for k, v in environment.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    check = doctor(*ports, "--demo", env=env).check("display")
    assert check["verdict"] == "warning"
    assert "serve --xvfb" in check["fix"]
    with_flag = doctor(*ports, "--demo", "--xvfb", env=env).check("display")
    assert with_flag["verdict"] == "ok"
    assert "--xvfb starts" in with_flag["detail"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are Linux's")
def test_a_stale_display_and_a_live_xvfb(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        if IN_CI:
            pytest.fail("CI installs Xvfb")
        pytest.skip("needs Xvfb")
    stale = doctor(*ports, "--demo", env={**environment, "DISPLAY": ":987"}).check("display")
    assert "DISPLAY=:987, but no X server listens on /tmp/.X11-unix/X987" in stale["detail"]

    read, write = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "64x64x24"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            number = wait_until(lambda: numbers.readline().strip(), 30, "Xvfb's display number")
        live = doctor(*ports, "--demo", env={**environment, "DISPLAY": f":{number}"})
        assert live.check("display") == {
            "name": "display",
            "verdict": "ok",
            "detail": f"X11 display :{number} (reachable)",
            "fix": "",
        }
    finally:
        server.terminate()
        server.wait(10)


# -- Qt's platform plugin --


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd and xcb are Linux's")
def test_a_missing_qt_library_names_it_and_the_apt_line(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    platforms = plugin_folder_needing("libspacetime-doctor-test.so.3", tmp_path)
    plugin = platforms / "libqxcb.so"
    env = {**environment, "QT_QPA_PLATFORM": "xcb", "QT_QPA_PLATFORM_PLUGIN_PATH": str(platforms)}
    outcome = doctor(*ports, "--demo", env=env)
    check = outcome.check("qt-platform")
    assert check["verdict"] == "error"
    assert f"Qt cannot load its xcb platform plugin ({plugin})" in check["detail"]
    assert "libspacetime-doctor-test.so.3" in check["detail"]
    assert "libQt6" not in check["detail"]  # the rpath found Qt's own libraries
    assert "apt-file search libspacetime-doctor-test.so.3" in check["fix"]
    assert outcome.code == 2

    offscreen = doctor(*ports, "--demo", env={**env, "QT_QPA_PLATFORM": "offscreen"})
    assert offscreen.check("qt-platform")["verdict"] == "ok"


# -- config, logs, the whole run --


def test_a_config_file_that_does_not_parse(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[api]\nport = 'eighty'\n", encoding="utf-8")
    outcome = doctor(*ports, "--demo", "--config", str(config), env=environment)
    check = outcome.check("config")
    assert check["verdict"] == "error"
    assert "api.port" in check["detail"]
    assert outcome.code == 2
    # the other checks still ran, on the flags' ports
    port = ports[ports.index("--port") + 1]
    assert outcome.check(f"port {port}")["verdict"] == "ok"


def test_a_log_folder_that_cannot_be_written(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    check = doctor(*ports, "--demo", "--log-dir", str(not_a_folder), env=environment).check("logs")
    assert check["verdict"] == "error"
    assert "is not a folder" in check["detail"] and "--log-dir" in check["fix"]
    below = doctor(
        *ports, "--demo", "--log-dir", str(not_a_folder / "logs"), env=environment
    ).check("logs")
    assert below["verdict"] == "error"
    assert "cannot be created" in below["detail"]

    fine = doctor(*ports, "--demo", "--log-dir", str(tmp_path / "logs"), env=environment)
    assert fine.check("logs")["verdict"] == "ok"
    assert not (tmp_path / "logs").exists()  # doctor does not create it


def test_a_healthy_demo_run_exits_0_or_1_with_each_warning_explained(
    environment: dict[str, str], ports: list[str], tmp_path: Path
) -> None:
    outcome = doctor(*ports, "--demo", "--log-dir", str(tmp_path / "logs"), env=environment)
    checks = outcome.document["checks"]
    names = [c["name"] for c in checks]
    assert names[:6] == ["python", "pyside6", "packages", "qt-platform", "display", "godot"]
    assert {"project", "addon", "keyring", "config", "logs"} <= set(names)
    assert sum(name.startswith("port ") for name in names) == 6
    assert [c for c in checks if c["verdict"] == "error"] == []
    warnings = [c for c in checks if c["verdict"] == "warning"]
    assert all(c["fix"] for c in warnings), warnings
    assert outcome.code == (1 if warnings else 0)
    assert outcome.document["verdict"] == ("warning" if warnings else "ok")
    godot = outcome.check("godot")
    assert godot["verdict"] == "ok"
    assert "simulator spacetime-godot-sim 4.5" in godot["detail"]
    assert "the simulated Godot of --demo" in godot["detail"]

    lines = doctor(
        *ports, "--demo", "--log-dir", str(tmp_path / "logs"), env=environment, text=True
    ).document["lines"]
    assert len(lines) == len(checks) + 1
    for line, check in zip(lines, checks, strict=False):
        mark = {"ok": "ok", "warning": "warn", "error": "FAIL"}[check["verdict"]]
        assert line.startswith(f"{mark:<4}  {check['name']}")
        assert check["detail"] in line
        if check["verdict"] != "ok":
            assert line.endswith(f"fix: {check['fix']}")
    detail_columns = {
        line.index(check["detail"]) for line, check in zip(lines, checks, strict=False)
    }
    assert len(detail_columns) == 1  # aligned
    assert lines[-1].startswith("doctor: ")


def test_doctor_never_imports_qt(environment: dict[str, str], ports: list[str]) -> None:
    code = (
        "import sys\n"
        "from spacetime_panel.cli import main\n"
        f"code = main(['doctor', '--json', '--demo', *{ports!r}])\n"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode in (0, 1), result.stderr
    assert "Qt imported" not in result.stderr


def test_bad_input_is_one_line(environment: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [*PANEL, "doctor", "--port", "notaport"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("spacetime-panel doctor: argument --port (api.port): port must be")

    missing = tmp_path / "missing.toml"
    check = doctor("--demo", "--config", str(missing), env=environment).check("config")
    assert check["verdict"] == "error"
    assert str(missing) in check["detail"] and "not found" in check["detail"]
    assert check["fix"] == "check the path given to --config"
