"""The bridge addon's GDScript in a real Godot 4.6 engine (web template, headless Chromium).

Three runs (tests/godot/README.md): the GDScript suite, the idle game with the bridge
enabled (it cannot listen on the web and must say so once) and the idle game in a
release build without the opt-in (inert). Plus generated projects that prove the
harness catches what it must: a parse error, an engine error, a crash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from spacetime_panel import protocol
from tests.conftest import TIME_SCALE
from tests.godot_web.checks import (
    MIN_SUITE_PASSES,
    document_problems,
    engine_problems,
    error_reports,
    game_problems,
    inert_problems,
    read_suite,
    suite_problems,
    suite_result_problems,
)
from tests.godot_web.pack import build_pack, with_engine_caches
from tests.godot_web.project import (
    DEMO_DIR,
    GDSCRIPT_TESTS_DIR,
    PROTOCOL_DIR,
    ProjectError,
    Run,
    project_godot,
    run_pack_bytes,
)
from tests.godot_web.runner import EngineRun, find_chromium, run_pack
from tests.godot_web.template import DEFAULT_CACHE, ENV_DIR, REPO_ROOT

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = find_chromium()
TEMPLATE_REACHABLE = bool(
    os.environ.get(ENV_DIR)
    or (DEFAULT_CACHE / "package" / "godot" / "index.wasm").is_file()
    or shutil.which("npm")
)
RUN_TIMEOUT = 60.0 * TIME_SCALE
# The idle game stays this long (README default 3): the bridge says its line at start, and
# a second of frames runs its per-frame work.
GAME_SECONDS = 1

# Outside CI a machine without Chromium (or npm to fetch the engine) skips these; in CI
# they run and fail, saying what to install.
pytestmark = pytest.mark.skipif(
    not IN_CI and (CHROMIUM is None or not TEMPLATE_REACHABLE),
    reason="needs chromium (apt-get install chromium) and npm (fetches the Godot web template)",
)


def _require_chromium() -> None:
    assert CHROMIUM is not None, "chromium is not installed: apt-get install chromium"


def _run(run: Run, args: list[str]) -> EngineRun:
    _require_chromium()
    try:
        pack = run_pack_bytes(run)
    except ProjectError as error:
        pytest.fail(f"cannot build the {run.value} pack: {error}")
    return run_pack(pack, args=args, timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def suite_run() -> EngineRun:
    return _run(Run.SUITE, [])


@pytest.fixture(scope="module")
def game_run() -> EngineRun:
    return _run(Run.GAME, [f"--seconds={GAME_SECONDS}"])


@pytest.fixture(scope="module")
def inert_run() -> EngineRun:
    return _run(Run.INERT, [f"--seconds={GAME_SECONDS}"])


def _problems_text(problems: list[str], run: EngineRun) -> str:
    # Passed tests and documents are many and say nothing about a failure; the problems
    # name the documents that fail.
    output = run.transcript(omit=("STB-TEST PASS", "STB-JSON"))
    return "\n".join(problems) + "\n--- engine output ---\n" + output


def test_suite_runs_without_script_or_engine_errors(suite_run: EngineRun) -> None:
    problems = engine_problems(suite_run)
    assert not problems, _problems_text(problems, suite_run)
    assert suite_run.exit_code == 0, _problems_text(["non-zero exit"], suite_run)


def test_suite_every_gdscript_test_passes(suite_run: EngineRun) -> None:
    problems = suite_result_problems(suite_run, min_passes=MIN_SUITE_PASSES)
    assert not problems, _problems_text(problems, suite_run)


def test_suite_documents_match_the_protocol_schemas(suite_run: EngineRun) -> None:
    documents = read_suite(suite_run).documents
    assert documents, _problems_text(["the suite printed no STB-JSON document"], suite_run)
    problems = document_problems(documents)
    assert not problems, _problems_text(problems, suite_run)


def test_suite_documents_cover_every_schema_and_telemetry_event(suite_run: EngineRun) -> None:
    """Each document kind the addon builds is checked: none silently drops out."""
    documents = read_suite(suite_run).documents
    schemas = {path.stem for path in (REPO_ROOT / PROTOCOL_DIR / "schemas").glob("*.json")}
    assert schemas, "no protocol schemas found"
    missing = schemas - {name for name, _ in documents}
    assert not missing, f"no STB-JSON document for the schemas {sorted(missing)}"
    events = set(protocol.schema("telemetry_frame")["properties"]["event"]["enum"])
    printed = {
        json.loads(text).get("event") for name, text in documents if name == "telemetry_frame"
    }
    assert events <= printed, f"no telemetry_frame document for {sorted(events - printed)}"


def test_game_run_bridge_says_once_it_cannot_listen(game_run: EngineRun) -> None:
    problems = game_problems(game_run)
    assert not problems, _problems_text(problems, game_run)


def test_inert_run_bridge_says_once_it_is_inert(inert_run: EngineRun) -> None:
    problems = inert_problems(inert_run)
    assert not problems, _problems_text(problems, inert_run)


# --- the harness itself, on generated projects -------------------------------------------

MAIN_SCENE = b"""[gd_scene load_steps=2 format=3]

[ext_resource type="Script" path="res://main.gd" id="1"]

[node name="Main" type="Node"]
script = ExtResource("1")
"""


def _generated(scripts: Mapping[str, str], args: list[str] | None = None) -> EngineRun:
    """Run a generated project whose main scene has the script `main.gd`."""
    _require_chromium()
    files = {
        "project.godot": project_godot(main_scene="res://main.tscn", name="generated").encode(),
        "main.tscn": MAIN_SCENE,
    }
    files |= {path: source.encode() for path, source in scripts.items()}
    return run_pack(
        build_pack(with_engine_caches(files)),
        args=args or [],
        timeout=RUN_TIMEOUT,
        error_grace=1.0 * TIME_SCALE,
    )


def test_harness_collects_print_printerr_errors_exit_code_and_user_args() -> None:
    run = _generated(
        {
            "main.gd": (
                "extends Node\n\n"
                "func _ready() -> void:\n"
                '\tprint("args ", ",".join(OS.get_cmdline_user_args()))\n'
                '\tprint("helper ", Helper.new().answer())\n'
                '\tprint("by uid ", load("uid://bhelper").resource_path)\n'
                '\tprinterr("on stderr")\n'
                '\tpush_error("deliberate")\n'
                "\tget_tree().quit(7)\n"
            ),
            "lib/helper.gd": (
                "class_name Helper\nextends RefCounted\n\nfunc answer() -> int:\n\treturn 42\n"
            ),
            "lib/helper.gd.uid": "uid://bhelper\n",
        },
        args=["--seconds=1", "--flag"],
    )
    assert run.exit_code == 7, run.transcript()
    assert "args --seconds=1,--flag" in run.stdout, run.transcript()
    # A class_name resolves through the generated global class cache.
    assert "helper 42" in run.stdout, run.transcript()
    # A uid:// resolves through the generated uid cache.
    assert "by uid res://lib/helper.gd" in run.stdout, run.transcript()
    assert "on stderr" in run.stderr and "on stderr" not in run.stdout, run.transcript()
    assert [report.split(" (at: ")[0] for report in error_reports(run)] == ["ERROR: deliberate"], (
        run.transcript()
    )
    assert not any("WARNING" in line or "cache" in line for line in run.stderr), run.transcript()


def test_a_script_with_a_parse_error_fails_the_check() -> None:
    run = _generated(
        {
            "main.gd": (
                "extends Node\n\n"
                "func _ready() -> void:\n"
                '\tvar count: int = "not a number"\n'
                '\tprint("STB-DONE passed=0 failed=0")\n'
                "\tget_tree().quit(0)\n"
            )
        }
    )
    problems = suite_problems(run, min_passes=0)
    assert any("SCRIPT ERROR: Parse Error" in p and "res://main.gd:4" in p for p in problems), (
        _problems_text(problems, run)
    )
    # The broken scene never quits: the harness stops soon after the error, not at the timeout.
    assert run.stopped_after_error and not run.timed_out, run.transcript()


def test_an_engine_crash_is_reported_without_waiting_for_the_timeout() -> None:
    run = _generated(
        {
            "main.gd": (
                "extends Node\n\n"
                "func _ready() -> void:\n"
                "\tvar zero := 0\n"
                '\tprint("before")\n'
                "\tprint(10 / zero)\n"
                "\tget_tree().quit(0)\n"
            )
        }
    )
    assert run.exit_code is None and not run.timed_out, run.transcript()
    assert run.crash is not None and "divide by zero" in run.crash, run.transcript()
    assert any("crashed" in problem for problem in engine_problems(run))
    assert "before" in run.stdout


def test_cli_prints_the_engine_lines_and_fails_on_a_failed_gdscript_test(tmp_path: Path) -> None:
    """`python -m tests.godot_web suite` as the GDScript author runs it, on another tree."""
    _require_chromium()
    shutil.copytree(REPO_ROOT / DEMO_DIR, tmp_path / DEMO_DIR)
    suite_dir = tmp_path / GDSCRIPT_TESTS_DIR
    suite_dir.mkdir(parents=True)
    (suite_dir / "run_tests.tscn").write_bytes(
        MAIN_SCENE.replace(b"res://main.gd", b"res://tests/run_tests.gd")
    )
    (suite_dir / "run_tests.gd").write_text(
        "extends Node\n\n"
        "func _ready() -> void:\n"
        '\tprint("STB-TEST PASS one")\n'
        '\tprint("STB-TEST FAIL two: expected 2, got 3")\n'
        '\tprint("STB-DONE passed=1 failed=1")\n'
        "\tget_tree().quit(1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.godot_web", "suite", "--root", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT + 30,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "STB-TEST FAIL two: expected 2, got 3" in done.stdout.splitlines()
    assert "test failed: two: expected 2, got 3" in done.stderr
    assert "suite: exit code 1" in done.stderr
