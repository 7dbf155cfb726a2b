"""`spacetime-panel check-scenes` against a real `serve` running the simulated game.

The simulator fails a scene whose `[ext_resource]` is missing as Godot does
(Godot's errors, then the bridge's `Scene ...: loading failed`), so a broken
scene is a copy of the demo project with one more `.tscn`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import TIME_SCALE, free_port, wait_until
from tests.integration.conftest import PANEL, Serve

DEMO_SCENES = ["res://scenes/menu.tscn", "res://scenes/test_room.tscn", "res://vr_main.tscn"]
BROKEN = "res://scenes/broken.tscn"
BROKEN_TEXT = """[gd_scene load_steps=2 format=3 uid="uid://brokenscene01"]

[ext_resource type="Texture2D" path="res://textures/missing.png" id="1_tex"]

[node name="Broken" type="Node3D"]
"""


def check_scenes(
    serve: Serve, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run check-scenes against `serve`'s ports and project."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    environment.update(env or {})
    return subprocess.run(
        [*PANEL, "check-scenes", *serve.where(), "--project-path", str(serve.project), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout * TIME_SCALE,
        check=False,
    )


def read_junit(path: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    """The testsuite and its testcases by name, checked against the JUnit shape."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = {case.attrib["name"]: case for case in suites[0].findall("testcase")}
    for case in cases.values():
        assert float(case.attrib["time"]) >= 0
        assert case.attrib["classname"] == "scenes"
    assert int(suites[0].attrib["tests"]) == len(cases)
    return suites[0], cases


def test_the_demo_scenes_pass_and_the_report_lists_them(serve: Serve, tmp_path: Path) -> None:
    serve.start()
    serve.wait_healthy(30)
    report = tmp_path / "reports" / "scenes.xml"
    report.parent.mkdir()

    done = check_scenes(serve, "--junit", str(report))

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["PASS", s] for s in DEMO_SCENES]
    assert lines[-1].startswith("3 passed, 0 failed")
    suite, cases = read_junit(report)
    assert sorted(cases) == DEMO_SCENES
    assert suite.attrib["failures"] == "0"
    assert all(case.find("failure") is None for case in cases.values())


def test_a_scene_with_a_missing_dependency_fails(serve: Serve, tmp_path: Path) -> None:
    (serve.project / "scenes" / "broken.tscn").write_text(BROKEN_TEXT, encoding="utf-8")
    serve.start()
    serve.wait_healthy(30)
    report = tmp_path / "scenes.xml"

    done = check_scenes(serve, "--junit", str(report))

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAIL {BROKEN}: Failed loading resource: res://textures/missing.png." in done.stdout, (
        done.stdout
    )
    assert "referenced non-existent resource at: res://textures/missing.png" in done.stdout
    for scene in DEMO_SCENES:
        assert f"PASS {scene} " in done.stdout
    assert "3 passed, 1 failed" in done.stdout
    suite, cases = read_junit(report)
    assert suite.attrib["failures"] == "1"
    failure = cases[BROKEN].find("failure")
    assert failure is not None
    assert "res://textures/missing.png" in failure.attrib["message"]
    out = cases[BROKEN].findtext("system-out") or ""
    assert f"Scene {BROKEN}: loading failed" in out
    assert all(cases[scene].find("failure") is None for scene in DEMO_SCENES)
    # The game kept a scene it could load, as Godot does after a failed load.
    assert serve.health()["scene"]["path"] != BROKEN


def test_the_scene_from_before_is_loaded_again(serve: Serve) -> None:
    serve.start()
    serve.wait_healthy(30)

    done = check_scenes(serve, "scenes/*")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 0 failed" in done.stdout
    wait_until(
        lambda: serve.health()["scene"]["path"] == "res://vr_main.tscn",
        30,
        "vr_main loaded again",
    )


def test_a_scene_that_does_not_load_in_time_fails(serve: Serve) -> None:
    serve.start(env={"SPACETIME_SIM_LOAD_DELAY": "30"})

    done = check_scenes(serve, "scenes/menu.tscn", "--timeout", "1")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL res://scenes/menu.tscn: no scene_loaded within 1 s" in done.stdout


def test_check_scenes_against_serve_demo(serve: Serve, tmp_path: Path) -> None:
    """`serve --demo` and `check-scenes --demo`: the bundled project, no paths given."""

    class DemoServe(Serve):
        def args(self, *extra: str, godot: bool = True) -> list[str]:
            return super().args(*extra, "--demo", godot=False)

    demo = DemoServe(tmp=serve.tmp, project=serve.project)
    try:
        demo.start()
        demo.wait_healthy(30)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
        report = tmp_path / "demo.xml"
        done = subprocess.run(
            [*PANEL, "check-scenes", "--demo", *demo.where(), "--junit", str(report)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120 * TIME_SCALE,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        _, cases = read_junit(report)
        assert sorted(cases) == DEMO_SCENES
    finally:
        demo.cleanup()


def test_no_panel_running_is_one_line(tmp_path: Path, project: Path) -> None:
    nobody = Serve(tmp=tmp_path, project=project, port=free_port())

    done = check_scenes(nobody, timeout=60)

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"spacetime-panel: no panel answers at http://127.0.0.1:{nobody.port}"
    )
    assert "spacetime-panel serve" in lines[0]


def test_a_junit_folder_that_does_not_exist_is_one_line(tmp_path: Path, project: Path) -> None:
    nobody = Serve(tmp=tmp_path, project=project)
    target = tmp_path / "missing" / "scenes.xml"

    done = check_scenes(nobody, "--junit", str(target), timeout=60)

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"spacetime-panel: argument --junit: folder {target.parent} does not exist "
        "(create it first)"
    ]


def test_no_matching_scene_is_a_usage_error(tmp_path: Path, project: Path) -> None:
    nobody = Serve(tmp=tmp_path, project=project)

    done = check_scenes(nobody, "levels/*", timeout=60)

    assert done.returncode == 2
    assert done.stderr.strip() == f"spacetime-panel: no scenes matching levels/* in {project}"


def test_a_folder_that_is_not_a_project_is_a_usage_error(tmp_path: Path) -> None:
    nobody = Serve(tmp=tmp_path, project=tmp_path)

    done = check_scenes(nobody, timeout=60)

    assert done.returncode == 2
    assert "no project.godot" in done.stderr


def test_the_management_key_is_sent_and_a_wrong_one_stops_at_once(serve: Serve) -> None:
    serve.start(env={"SPACETIME_PANEL_API_KEY": "control-key-0123456789abcdef"})
    serve.wait_healthy(30)

    right = check_scenes(
        serve, "scenes/menu.tscn", env={"SPACETIME_PANEL_API_KEY": "control-key-0123456789abcdef"}
    )
    wrong = check_scenes(serve, env={"SPACETIME_PANEL_API_KEY": "not-the-key-0123456789abcdef"})

    assert right.returncode == 0, right.stdout + right.stderr
    assert wrong.returncode == 1
    assert wrong.stdout == ""
    # A progress line, then one line that says what to do; no scene was tried.
    *_, last = wrong.stderr.splitlines()
    assert last.startswith(f"spacetime-panel: the panel at http://127.0.0.1:{serve.port} ")
    assert "refused the key" in last
    assert "SPACETIME_PANEL_API_KEY" in last


def test_a_game_that_dies_during_a_load_fails_that_scene_at_once(serve: Serve) -> None:
    serve.start(env={"SPACETIME_SIM_LOAD_DELAY": "30"})
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
    command = [
        *PANEL, "check-scenes", *serve.where(), "--project-path", str(serve.project),
        "scenes/menu.tscn", "--timeout", "25",
    ]  # fmt: skip
    with subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as checking:
        try:
            wait_until(
                lambda: any(
                    "loading scene: res://scenes/menu.tscn" in line for line in serve.log_lines()
                ),
                30,
                "the game to be asked for the menu",
            )
            pid = serve.game()["pid"]
            serve.godot_pids.add(pid)
            os.kill(pid, signal.SIGKILL)
            out, err = checking.communicate(timeout=60 * TIME_SCALE)
        finally:
            if checking.poll() is None:
                checking.kill()

    assert checking.returncode == 1, out + err
    assert (
        "FAIL res://scenes/menu.tscn: the game's telemetry closed during the load "
        "(did the game crash?)"
    ) in out


def test_a_game_still_starting_is_waited_for(serve: Serve) -> None:
    """CI starts check-scenes as soon as serve answers, before the game is up."""
    serve.start(env={"SPACETIME_SIM_START_DELAY": "3"})

    done = check_scenes(serve, "scenes/*")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 0 failed" in done.stdout


def test_no_game_is_one_line_after_the_timeout(serve: Serve) -> None:
    serve.start("--no-game")

    done = check_scenes(serve, "--timeout", "2")

    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith(
        f"spacetime-panel: no telemetry from ws://127.0.0.1:{serve.telemetry_port} within 2 s"
    ), done.stderr
    assert last.endswith("is the game running under the panel?")


def test_an_https_address_is_a_usage_error(tmp_path: Path, project: Path) -> None:
    nobody = Serve(tmp=tmp_path, project=project)

    done = check_scenes(nobody, "--host", "https://panel.example:8090", timeout=60)

    assert done.returncode == 2
    assert done.stderr.startswith("spacetime-panel: argument --host: https://panel.example:8090:")
    assert len(done.stderr.splitlines()) == 1
