"""The CI kit for the game's repository: each file accepted by its own validator (and a
broken variant refused, so the validator is really looking), and the scene job's shell
steps run for real here against the simulated game (serve --xvfb, /health, check-scenes,
stop), in the GitHub workflow and the GitLab file alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from spacetime_panel.config import Settings
from spacetime_panel.config.settings import ApiSettings, PortSettings
from spacetime_panel.deploy.ci_kit import (
    GITHUB_WORKFLOW,
    GITLAB_CI,
    GODOT_URL,
    PRE_COMMIT_CONFIG,
    render_github_actions,
    render_gitlab_ci,
    render_pre_commit,
)
from spacetime_panel.deploy.context import DeployContext, RenderedFile
from spacetime_panel.godot.commands import simulator_executable
from tests.actionlint import require_actionlint
from tests.conftest import TIME_SCALE, free_port
from tests.deploy.conftest import EXECUTABLE, run_tool, tool

DEMO_SCENES = ["res://scenes/menu.tscn", "res://scenes/test_room.tscn", "res://vr_main.tscn"]


def write(folder: Path, files: list[RenderedFile]) -> Path:
    for file in files:
        target = folder / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.text, encoding="utf-8")
    return folder / files[0].name


def broken(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}"
    target = path.with_name("broken-" + path.name)
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


# -- each file and its validator --------------------------------------------------


def test_actionlint_accepts_the_workflow_and_refuses_a_broken_one(tmp_path: Path) -> None:
    workflow = write(tmp_path, render_github_actions(DeployContext.reference()))

    done = require_actionlint(workflow)
    assert done.returncode == 0, done.stdout + done.stderr

    wrong = broken(workflow, "${{ env.GODOT_VERSION }}", "${{ env.GODOT_VERSION.nope( }}")
    done = require_actionlint(wrong)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[expression]" in done.stdout


def test_the_workflow_fits_githubs_schema(tmp_path: Path) -> None:
    workflow = write(tmp_path, render_github_actions(DeployContext.reference()))
    check = tool("check-jsonschema")

    done = run_tool(check, "--builtin-schema", "vendor.github-workflows", workflow)
    assert done.returncode == 0, done.stdout + done.stderr

    wrong = broken(workflow, "runs-on: ubuntu-latest", "runs-on: [[]]\n    runs-off: 1")
    assert run_tool(check, "--builtin-schema", "vendor.github-workflows", wrong).returncode == 1


def test_gitlab_accepts_its_file_and_refuses_a_broken_one(tmp_path: Path) -> None:
    gitlab = write(tmp_path, render_gitlab_ci(DeployContext.reference()))
    check = tool("check-jsonschema")

    done = run_tool(check, "--builtin-schema", "vendor.gitlab-ci", gitlab)
    assert done.returncode == 0, done.stdout + done.stderr

    wrong = broken(gitlab, "    when: always\n", "    when: sometimes\n")
    done = run_tool(check, "--builtin-schema", "vendor.gitlab-ci", wrong)
    assert done.returncode == 1, done.stdout + done.stderr


def test_pre_commit_accepts_its_config_and_refuses_a_broken_one(tmp_path: Path) -> None:
    config = write(tmp_path, render_pre_commit(DeployContext.reference()))
    pre_commit = tool("pre-commit")

    done = run_tool(pre_commit, "validate-config", config)
    assert done.returncode == 0, done.stdout + done.stderr

    wrong = broken(config, "    rev: ", "    revision: ")
    done = run_tool(pre_commit, "validate-config", wrong)
    assert done.returncode != 0
    assert "rev" in done.stdout + done.stderr


def test_the_files_name_the_real_tools() -> None:
    context = DeployContext.reference()
    hooks = yaml.safe_load(render_pre_commit(context)[0].text)["repos"][0]
    assert hooks["repo"] == "https://github.com/Scony/godot-gdscript-toolkit"
    assert [hook["id"] for hook in hooks["hooks"]] == ["gdlint", "gdformat"]
    url = GODOT_URL.replace("${GODOT_VERSION}", "4.5")
    assert url == (
        "https://github.com/godotengine/godot/releases/download/4.5-stable/"
        "Godot_v4.5-stable_linux.x86_64.zip"
    )
    for render in (render_github_actions, render_gitlab_ci):
        text = render(context)[0].text
        assert GODOT_URL in text
        assert "spacetime-panel serve --xvfb" in text
        assert "spacetime-panel check-scenes" in text
        assert "--junit reports/scenes.xml" in text
        assert "gdformat --check" in text
        assert "--auto-load-scene" not in text  # check-scenes loads the scenes itself
    assert [f.name for f in render_github_actions(context)] == [GITHUB_WORKFLOW]
    assert [f.name for f in render_gitlab_ci(context)] == [GITLAB_CI]
    assert [f.name for f in render_pre_commit(context)] == [PRE_COMMIT_CONFIG]


def test_the_lint_commands_fail_on_badly_formatted_gdscript(tmp_path: Path) -> None:
    """The lint job's own lines, run here: a clean file passes, a messy one fails, addons/
    are left alone."""
    workflow = yaml.safe_load(render_github_actions(DeployContext.reference())[0].text)
    steps = {step.get("name"): step for step in workflow["jobs"]["gdscript"]["steps"]}
    lint, check = steps["gdlint"]["run"], steps["gdformat --check"]["run"]
    project = tmp_path / "game"
    (project / "addons" / "other").mkdir(parents=True)
    (project / "player.gd").write_text("extends Node\n\n\nfunc _ready() -> void:\n\tpass\n")
    (project / "addons" / "other" / "messy.gd").write_text("extends Node\nfunc  x( ):\n  pass\n")
    env = {
        "PROJECT_PATH": str(project),
        "PATH": f"{EXECUTABLE.parent}{os.pathsep}{os.environ['PATH']}",
    }

    assert bash(lint, env).returncode == 0
    assert bash(check, env).returncode == 0
    (project / "player.gd").write_text("extends Node\nfunc _ready():\n\tvar x=1\n")
    assert bash(check, env).returncode != 0


def bash(
    script: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A step as GitHub runs it (`bash --noprofile --norc -eo pipefail`)."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300 * TIME_SCALE,
        check=False,
    )


# -- the scene job, run here ----------------------------------------------------


@pytest.fixture
def game_repository(tmp_path: Path, project: Path) -> Iterator[tuple[Path, DeployContext]]:
    """A game's checkout (the demo project) and a context with free ports.

    Whatever the steps leave running is ended afterwards."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed (.ci/run installs it)")
    settings = Settings(
        api=ApiSettings(port=free_port()),
        ports=PortSettings(
            http=free_port(),
            telemetry=free_port(),
            lsp=free_port(),
            dap=free_port(),
            discovery=free_port(),
        ),
    )
    context = DeployContext(
        executable=EXECUTABLE,
        project=project,
        godot=simulator_executable(),
        log_dir=tmp_path / "logs",
        user="ci",
        serve_args=("--auto-load-scene",),
        settings=settings,
    )
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield project, context
    pid_file = project / "reports" / "serve.pid"
    if pid_file.is_file():
        pid = int(pid_file.read_text().strip() or 0)
        if pid and psutil.pid_exists(pid):
            for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
                if process.pid not in before:
                    process.kill()


def ci_env(project: Path) -> dict[str, str]:
    environment = {
        "PROJECT_PATH": ".",
        "GODOT": simulator_executable(),
        "PATH": f"{EXECUTABLE.parent}{os.pathsep}{os.environ['PATH']}",
        "SPACETIME__API__RATE_LIMIT_PER_MINUTE": "100000",
    }
    for name in [n for n in os.environ if n.startswith("SPACETIME_") and n not in environment]:
        environment[name] = ""
    return environment


def run_steps(scripts: list[str], project: Path) -> list[subprocess.CompletedProcess[str]]:
    """The steps in order, stopping at the first that fails, as CI does."""
    results = []
    for script in scripts:
        done = bash(script, ci_env(project), cwd=project)
        results.append(done)
        if done.returncode != 0:
            break
    return results


def assert_report(project: Path, failing: str | None = None) -> None:
    root = ET.parse(project / "reports" / "scenes.xml").getroot()
    cases = {case.attrib["name"]: case for case in root.iter("testcase")}
    expected = sorted([*DEMO_SCENES, *([failing] if failing else [])])
    assert sorted(cases) == expected
    for name, case in cases.items():
        assert (case.find("failure") is not None) == (name == failing), name


def assert_stopped(project: Path) -> None:
    pid = int((project / "reports" / "serve.pid").read_text().strip())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def github_steps(context: DeployContext) -> dict[str, str]:
    workflow: dict[str, Any] = yaml.safe_load(render_github_actions(context)[0].text)
    return {
        step["name"]: step["run"] for step in workflow["jobs"]["scenes"]["steps"] if "run" in step
    }


def test_the_github_scene_job_runs_against_the_simulated_game(
    game_repository: tuple[Path, DeployContext],
) -> None:
    project, context = game_repository
    steps = github_steps(context)
    scripts = [
        steps["Start the game under spacetime-panel serve"],
        steps["Load every scene"],
    ]

    results = run_steps(scripts, project)
    stop = bash(steps["Stop serve"], ci_env(project), cwd=project)

    output = "\n".join(r.stdout + r.stderr for r in results)
    assert [r.returncode for r in results] == [0, 0], output
    for scene in DEMO_SCENES:
        assert f"PASS {scene} " in output
    assert_report(project)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert_stopped(project)
    assert (project / "reports" / "logs").is_dir()


def test_the_gitlab_scene_job_fails_on_a_broken_scene(
    game_repository: tuple[Path, DeployContext],
) -> None:
    project, context = game_repository
    (project / "scenes" / "broken.tscn").write_text(
        "[gd_scene load_steps=2 format=3]\n\n"
        '[ext_resource type="Texture2D" path="res://missing.png" id="1"]\n\n'
        '[node name="Broken" type="Node3D"]\n',
        encoding="utf-8",
    )
    job = yaml.safe_load(render_gitlab_ci(context)[0].text)["scenes"]

    results = run_steps(job["script"], project)
    after = run_steps(job["after_script"], project)

    output = "\n".join(r.stdout + r.stderr for r in results)
    assert [r.returncode for r in results] == [0, 1], output
    assert "FAIL res://scenes/broken.tscn: Failed loading resource: res://missing.png." in output
    assert job["artifacts"]["reports"]["junit"] == "reports/scenes.xml"
    assert_report(project, failing="res://scenes/broken.tscn")
    assert [r.returncode for r in after] == [0]
    assert_stopped(project)


def test_the_install_step_stops_on_the_placeholder_spec(tmp_path: Path) -> None:
    steps = github_steps(DeployContext.reference())

    done = bash(
        steps["Install SpaceTime Panel"],
        {"SPACETIME_PANEL_SPEC": "REPLACE-ME with a pip requirement for spacetime-panel"},
        cwd=tmp_path,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("Set the SPACETIME_PANEL_SPEC variable")
