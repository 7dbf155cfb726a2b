"""What the Godot web harness calls a failed run, on transcripts written by hand."""

from __future__ import annotations

import json

from tests.godot_web.checks import (
    document_problems,
    engine_problems,
    error_reports,
    game_problems,
    inert_problems,
    read_suite,
    suite_problems,
)
from tests.godot_web.project import Run, project_text
from tests.godot_web.runner import EngineRun, Stream, page_html


def _run(*lines: tuple[Stream, str], exit_code: int | None = 0) -> EngineRun:
    run = EngineRun(exit_code=exit_code)
    for stream, line in lines:
        {Stream.OUT: run.stdout, Stream.ERR: run.stderr, Stream.BROWSER: run.browser}[
            stream
        ].append(line)
        run.lines.append((stream, line))
    return run


OUT, ERR, BROWSER = Stream.OUT, Stream.ERR, Stream.BROWSER
ERROR_DOC = json.dumps({"error": "NotFound", "message": "No such route"})


def _suite(*extra: tuple[Stream, str], exit_code: int = 0) -> EngineRun:
    return _run(
        (OUT, "STB-TEST PASS first"),
        (OUT, "STB-TEST PASS second"),
        (OUT, f"STB-JSON error {ERROR_DOC}"),
        *extra,
        (OUT, "STB-DONE passed=2 failed=0"),
        exit_code=exit_code,
    )


def test_a_clean_suite_has_no_problems() -> None:
    run = _suite()
    assert suite_problems(run, min_passes=2) == []
    report = read_suite(run)
    assert report.passed == ["first", "second"] and report.done == (2, 0)
    assert report.documents == [("error", ERROR_DOC)]


def test_errors_are_reported_with_their_location_and_warnings_are_not() -> None:
    run = _suite(
        (ERR, "WARNING: something odd"),
        (ERR, "   at: push_warning (core/variant/variant_utility.cpp:1034)"),
        (ERR, 'SCRIPT ERROR: Parse Error: Identifier "x" not declared in the current scope.'),
        (ERR, "   at: GDScript::reload (res://tests/test_http.gd:12)"),
        (ERR, "USER ERROR: from a user"),
        (OUT, "   at: not a continuation of anything on stdout"),
    )
    assert error_reports(run) == [
        'SCRIPT ERROR: Parse Error: Identifier "x" not declared in the current scope. '
        "(at: GDScript::reload (res://tests/test_http.gd:12))",
        "USER ERROR: from a user",
    ]
    assert len(suite_problems(run, min_passes=2)) == 2


def test_a_failed_test_a_missing_done_too_few_passes_and_exit_code_fail_the_suite() -> None:
    failing = _run((OUT, "STB-TEST FAIL status: expected 200, got 401"), exit_code=1)
    problems = suite_problems(failing, min_passes=1)
    assert "test failed: status: expected 200, got 401" in problems
    assert any("STB-DONE" in problem for problem in problems)
    assert any("0 tests passed, at least 1" in problem for problem in problems)
    assert any("exit code 1" in problem for problem in problems)


def test_done_counts_must_match_the_lines() -> None:
    run = _run((OUT, "STB-TEST PASS only"), (OUT, "STB-DONE passed=5 failed=0"))
    assert any("passed=5" in problem for problem in suite_problems(run, min_passes=1))


def test_documents_must_be_json_and_match_their_schema() -> None:
    problems = document_problems(
        [
            ("error", ERROR_DOC),
            ("error", json.dumps({"message": "no error field"})),
            ("error", "{not json"),
            ("no_such_schema", "{}"),
        ]
    )
    assert len(problems) == 3
    assert "error" in problems[0] and "not JSON" in problems[1]
    assert "no_such_schema" in problems[2]


def test_a_crash_a_timeout_and_no_exit_are_problems() -> None:
    crashed = _run((BROWSER, "startGame failed"), exit_code=None)
    crashed.crash = "RuntimeError: divide by zero"
    assert any("crashed" in problem for problem in engine_problems(crashed))
    slow = _run(exit_code=None)
    slow.timed_out = True
    assert any("did not quit" in problem for problem in engine_problems(slow))
    assert engine_problems(_run(exit_code=None)) == ["the engine reported no exit code"]


def test_browser_console_lines_are_not_engine_errors() -> None:
    assert error_reports(_run((BROWSER, "console.error: ERROR: not the engine"))) == []


def test_game_needs_exactly_one_bridge_line_saying_it_cannot_listen() -> None:
    ok = _run((OUT, "SpaceTime bridge: cannot listen on the web platform (no TCP server there)"))
    assert game_problems(ok) == []
    warned = _run((ERR, "WARNING: SpaceTime bridge: cannot listen on 127.0.0.1:8080"))
    assert any("not on stdout" in problem for problem in game_problems(warned))
    twice = _run(
        (OUT, "SpaceTime bridge: cannot listen on 127.0.0.1:8080"),
        (OUT, "SpaceTime bridge: cannot listen on 127.0.0.1:8081"),
    )
    assert any("exactly one" in problem for problem in game_problems(twice))
    wrong = _run((OUT, "SpaceTime bridge: listening on 127.0.0.1:8080"))
    assert any("cannot listen" in problem for problem in game_problems(wrong))
    assert any("exactly one" in problem for problem in game_problems(_run()))


def test_inert_needs_exactly_one_bridge_line_saying_inert() -> None:
    assert inert_problems(_run((OUT, "SpaceTime bridge: inert in a release build"))) == []
    assert inert_problems(_run((OUT, "SpaceTime bridge: cannot listen"))) != []
    failed = _run((OUT, "SpaceTime bridge: inert in a release build"), exit_code=3)
    assert any("exit code 3" in problem for problem in inert_problems(failed))


def test_each_run_gets_its_project_settings() -> None:
    suite, game, inert = (project_text(run) for run in Run)
    assert 'run/main_scene="res://tests/run_tests.tscn"' in suite
    assert "[autoload]" not in suite
    for text in (game, inert):
        assert 'run/main_scene="res://tests/idle_game.tscn"' in text
        assert 'SpaceTimeBridge="*res://addons/spacetime_bridge/bridge.gd"' in text
    assert "[spacetime_bridge]\n\nrelease/enabled=true" in game
    assert "release/enabled" not in inert
    assert all(text.startswith("config_version=5\n") for text in (suite, game, inert))


def test_the_page_starts_headless_on_a_zero_canvas_with_user_args_after_dashes() -> None:
    page = page_html(["--seconds=2"])
    assert '["--headless", "--", "--seconds=2"]' in page
    assert "canvasResizePolicy: 0" in page
    assert 'width="0" height="0"' in page
