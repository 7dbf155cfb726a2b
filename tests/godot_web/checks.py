"""Verdicts on an engine run: what the pytest tests and the CLI call a failure.

Godot reports problems on its error stream as `ERROR: ...`, `SCRIPT ERROR: ...`,
`USER ERROR: ...` (and `WARNING: ...` variants), each followed by a
`   at: <function> (<file>:<line>)` continuation line. Warnings are not failures.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from tests.godot_web.runner import ERROR_LINE, EngineRun, Stream
from tests.godot_web.template import REPO_ROOT

SCHEMA_DIR = REPO_ROOT / "spacetime_panel" / "protocol" / "schemas"
CONTINUATION = re.compile(r"^\s+at: ")
BRIDGE_MARK = "SpaceTime bridge:"
CANNOT_LISTEN = re.compile(
    r"\b(?:cannot|can't|could not|couldn't|unable to|failed to|not able to|no)\s+"
    r"(?:listen|bind|open|sockets?)",
    re.IGNORECASE,
)
INERT = re.compile(r"\binert\b", re.IGNORECASE)
STB_TEST = re.compile(r"^STB-TEST (PASS|FAIL) (.*)$")
STB_DONE = re.compile(r"^STB-DONE passed=(\d+) failed=(\d+)\s*$")
STB_JSON = re.compile(r"^STB-JSON (\S+) (.*)$")
# The suite must pass at least this many tests, so a test script that silently drops out
# (a preload removed, a loop over vectors that finds none) fails the run. 212 passed when
# this was set; http.json alone has 96 cases, scene_paths.json 29.
MIN_SUITE_PASSES = 200


@dataclass
class SuiteReport:
    """The STB-* lines of a suite run, read."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)
    done: tuple[int, int] | None = None


def read_suite(run: EngineRun) -> SuiteReport:
    """The tests, documents and final count the suite printed on stdout."""
    report = SuiteReport()
    for line in run.stdout:
        if found := STB_TEST.match(line):
            (report.passed if found.group(1) == "PASS" else report.failed).append(found.group(2))
        elif found := STB_DONE.match(line):
            report.done = (int(found.group(1)), int(found.group(2)))
        elif found := STB_JSON.match(line):
            report.documents.append((found.group(1), found.group(2)))
    return report


def error_reports(run: EngineRun) -> list[str]:
    """Each engine error (with its `at:` line), from both streams."""
    reports: list[str] = []
    # The stream of the error an `at:` line may still complete (its own stream only).
    attach: Stream | None = None
    for stream, line in run.lines:
        if stream is Stream.BROWSER:
            continue
        if ERROR_LINE.match(line):
            reports.append(line.strip())
            attach = stream
        elif attach is stream and CONTINUATION.match(line):
            reports[-1] += f" ({line.strip()})"
            attach = None
        else:
            attach = None
    return reports


def engine_problems(run: EngineRun) -> list[str]:
    """What makes any run a failure: no exit, a crash, a timeout, an engine error."""
    problems = []
    if run.timed_out:
        problems.append(f"the engine did not quit within {run.elapsed:.0f} s")
    if run.crash:
        problems.append(f"the engine crashed: {run.crash}")
    if run.stopped_after_error:
        problems.append("the engine did not quit after its first error (stopped waiting)")
    if run.exit_code is None and not (run.timed_out or run.crash or run.stopped_after_error):
        problems.append("the engine reported no exit code")
    problems += [f"engine error: {report}" for report in error_reports(run)]
    return problems


def _schema_validator() -> Callable[[str, Any], list[str]]:
    """`spacetime_panel.protocol.validate` when it exists, else jsonschema on the files."""
    try:
        protocol = importlib.import_module("spacetime_panel.protocol")
    except ImportError:
        protocol = None
    project_validate = getattr(protocol, "validate", None)
    if callable(project_validate):
        return cast(Callable[[str, Any], list[str]], project_validate)

    def validate(schema_name: str, document: Any) -> list[str]:
        import jsonschema

        path = SCHEMA_DIR / f"{schema_name}.json"
        if not path.is_file():
            return [f"no schema {path.relative_to(REPO_ROOT)}"]
        schema = json.loads(path.read_text(encoding="utf-8"))
        validator_class = jsonschema.validators.validator_for(schema)
        validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in validator.iter_errors(document)
        ]

    return validate


def document_problems(documents: Sequence[tuple[str, str]]) -> list[str]:
    """Each `STB-JSON <schema> <json>` document that is not JSON or fails its schema."""
    validate = _schema_validator()
    problems = []
    for schema_name, text in documents:
        if not re.fullmatch(r"[a-z0-9_]+", schema_name):
            problems.append(f"STB-JSON names no schema file: {schema_name!r}")
            continue
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            problems.append(f"STB-JSON {schema_name} is not JSON ({error}): {text[:200]}")
            continue
        try:
            reasons = validate(schema_name, document)
        except (OSError, ValueError) as error:
            reasons = [f"no such schema ({error})"]
        problems += [f"STB-JSON {schema_name}: {why}  in {text[:200]}" for why in reasons]
    return problems


def suite_result_problems(run: EngineRun, *, min_passes: int) -> list[str]:
    """The suite's own verdict: STB-DONE, no failed test, enough passes, exit code 0."""
    problems = []
    report = read_suite(run)
    problems += [f"test failed: {failure}" for failure in report.failed]
    if report.done is None:
        problems.append("no STB-DONE line: the suite did not finish")
    else:
        passed, failed = report.done
        if (passed, failed) != (len(report.passed), len(report.failed)):
            problems.append(
                f"STB-DONE says passed={passed} failed={failed} but the lines say "
                f"passed={len(report.passed)} failed={len(report.failed)}"
            )
    if len(report.passed) < min_passes:
        problems.append(f"only {len(report.passed)} tests passed, at least {min_passes} expected")
    if run.exit_code not in (None, 0):
        problems.append(f"exit code {run.exit_code} (the number of failures)")
    return problems


def suite_problems(run: EngineRun, *, min_passes: int) -> list[str]:
    """Everything that fails the suite run (tests/godot/README.md)."""
    return (
        engine_problems(run)
        + suite_result_problems(run, min_passes=min_passes)
        + document_problems(read_suite(run).documents)
    )


def bridge_lines(run: EngineRun) -> list[str]:
    """The lines the bridge addon printed about itself, from both streams."""
    return [
        line for stream, line in run.lines if stream is not Stream.BROWSER and BRIDGE_MARK in line
    ]


def idle_game_problems(run: EngineRun, *, expect: re.Pattern[str], what: str) -> list[str]:
    """The game and inert runs: exit 0, no error, exactly one bridge line matching `expect`."""
    problems = engine_problems(run)
    if run.exit_code not in (None, 0):
        problems.append(f"exit code {run.exit_code}, expected 0")
    said = bridge_lines(run)
    if len(said) != 1:
        problems.append(f"expected exactly one {BRIDGE_MARK!r} line, got {len(said)}: {said}")
    elif not expect.search(said[0]):
        problems.append(f"the bridge line does not say {what}: {said[0]!r}")
    elif said[0] not in run.stdout:
        # tests/godot/README.md: the bridge speaks with print(), never push_warning/printerr.
        problems.append(f"the bridge line is not on stdout (print()): {said[0]!r}")
    return problems


def game_problems(run: EngineRun) -> list[str]:
    return idle_game_problems(run, expect=CANNOT_LISTEN, what="that it cannot listen")


def inert_problems(run: EngineRun) -> list[str]:
    return idle_game_problems(run, expect=INERT, what="that it is inert")
