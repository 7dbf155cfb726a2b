"""Run one of the addon's engine runs and print what Godot printed, then the verdict.

    python -m tests.godot_web suite
    python -m tests.godot_web game --seconds 2
    python -m tests.godot_web inert -- --some-engine-user-arg

Exit status: 0 when the run passes the same checks as tests/integration/
test_addon_in_godot.py, 1 when it does not, 2 when the harness cannot run at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.godot_web.checks import (
    MIN_SUITE_PASSES,
    game_problems,
    inert_problems,
    read_suite,
    suite_problems,
)
from tests.godot_web.project import ProjectError, Run, run_pack_bytes
from tests.godot_web.runner import DEFAULT_TIMEOUT, EngineRun, HarnessError, Stream, run_pack
from tests.godot_web.template import REPO_ROOT, TemplateError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.godot_web",
        description="Run the bridge addon's GDScript in a real Godot 4.6 (web template, "
        "headless Chromium).",
    )
    parser.add_argument("run", choices=[run.value for run in Run], help="which run (README)")
    parser.add_argument(
        "--seconds", type=float, help="game/inert: how long the idle game stays (--seconds=N)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="give up after this many seconds"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the verdict")
    parser.add_argument("--save-pack", metavar="PATH", help="also write the .pck there")
    parser.add_argument(
        "--min-passes",
        type=int,
        default=MIN_SUITE_PASSES,
        help=f"suite: fewest passed tests that count as a pass (default {MIN_SUITE_PASSES})",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        help="the checkout to pack (default: this one)",
    )
    parser.add_argument(
        "engine_args", nargs="*", help="after --: more user arguments for the engine"
    )
    return parser


def _print_line(stream: Stream, line: str) -> None:
    if stream is Stream.OUT:
        print(line, flush=True)
    elif stream is Stream.ERR:
        print(line, file=sys.stderr, flush=True)
    else:
        print(f"[browser] {line}", file=sys.stderr, flush=True)


def _problems(run: Run, result: EngineRun, *, min_passes: int) -> list[str]:
    if run is Run.SUITE:
        return suite_problems(result, min_passes=min_passes)
    if run is Run.GAME:
        return game_problems(result)
    return inert_problems(result)


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    run = Run(options.run)
    engine_args = list(options.engine_args)
    if options.seconds is not None:
        engine_args.insert(0, f"--seconds={options.seconds:g}")
    try:
        pack = run_pack_bytes(run, root=options.root)
        if options.save_pack:
            Path(options.save_pack).write_bytes(pack)
        result = run_pack(
            pack,
            args=engine_args,
            timeout=options.timeout,
            on_line=None if options.quiet else _print_line,
        )
    except (ProjectError, HarnessError, TemplateError) as error:
        print(f"godot-web: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    problems = _problems(run, result, min_passes=options.min_passes)
    summary = f"{run.value}: exit code {result.exit_code}, {result.elapsed:.2f} s"
    if run is Run.SUITE:
        report = read_suite(result)
        summary += f", {len(report.passed)} passed, {len(report.failed)} failed"
        summary += f", {len(report.documents)} STB-JSON"
    print(f"\n{summary}", file=sys.stderr)
    if problems:
        print("FAILED:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("OK", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
