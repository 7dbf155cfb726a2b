"""`spacetime-panel check-scenes`: load every scene of the project in the running game.

Each scene is loaded through the running panel's management API and judged by
the game's telemetry (`scene_loaded`, `error`): see
`spacetime_panel.godot.scene_check`. One line per scene, a summary, and with
`--junit FILE` a JUnit report. Exit 0 when every scene passed, 1 when one
failed or no panel answers, 2 for usage and configuration errors. The scene
the game had before is asked for again at the end (`--no-restore`: not).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from spacetime_panel.commands.arguments import positive_seconds
from spacetime_panel.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    Subcommands,
    check_project,
    fail,
    read_management_keys,
    settings_from,
    where_flags,
)
from spacetime_panel.config import ConfigError, Settings

DEFAULT_TIMEOUT = 60.0


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "check-scenes",
        help="load every scene of the project in the running game; JUnit report",
        description="Load each scene of the project (every .tscn and .scn, except under "
        "dot folders, folders with a .gdignore and res://addons/) through the running "
        "panel, wait for its scene_loaded and collect the game's errors meanwhile. A scene "
        "fails when it does not load or logs an error. Exit 0 when all pass, 1 when one "
        "fails or no panel answers, 2 for usage errors. Start the panel first: "
        "`spacetime-panel serve --project-path . &`.",
    )
    parser.add_argument(
        "scenes",
        nargs="*",
        metavar="SCENE",
        help="only these scenes: res:// paths or globs (res:// optional), e.g. 'levels/*'",
    )
    where_flags(parser)
    check = parser.add_argument_group("the check")
    check.add_argument(
        "--project-path",
        type=Path,
        help="the Godot project whose scenes are checked (default: the configured one, "
        "else the current folder; --demo: the demo project)",
    )
    check.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    check.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each scene may take to load ({DEFAULT_TIMEOUT:g})",
    )
    check.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip the scenes matching GLOB (repeatable)",
    )
    check.add_argument(
        "--include-addons", action="store_true", help="check res://addons/ scenes too"
    )
    check.add_argument(
        "--no-restore",
        action="store_true",
        help="leave the last checked scene loaded (default: load the one from before again)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spacetime_panel.godot.commands import demo_project
    from spacetime_panel.godot.scene_check import DEFAULT_EXCLUDES, find_scenes

    if args.host and "://" in args.host:
        return fail(
            f"argument --host: {args.host}: give a name or address (check-scenes speaks "
            "plain HTTP to the panel; run it beside serve)",
            EXIT_USAGE,
        )
    try:
        settings = settings_from(args, launching=False)
    except ConfigError as error:
        return fail(str(error), EXIT_USAGE)
    except FileNotFoundError as error:
        return fail(str(error), EXIT_USAGE)
    if args.demo and args.project_path is None:
        project = demo_project()
    else:
        if (complaint := check_project(settings)) is not None:
            return fail(complaint, EXIT_USAGE)
        project = settings.godot.project_path or Path.cwd()
    if args.junit is not None and not args.junit.parent.is_dir():
        return fail(
            f"argument --junit: folder {args.junit.parent} does not exist (create it first)",
            EXIT_USAGE,
        )
    excludes = [*(() if args.include_addons else DEFAULT_EXCLUDES), *args.exclude]
    scenes = find_scenes(project, patterns=args.scenes, excludes=excludes)
    if not scenes:
        which = f" matching {' '.join(args.scenes)}" if args.scenes else ""
        return fail(f"no scenes{which} in {project}", EXIT_USAGE)
    from spacetime_panel.secrets import SecretStore

    keys = read_management_keys(SecretStore())
    if isinstance(keys, int):
        return keys
    return asyncio.run(
        check_scenes(
            settings,
            scenes,
            api_key=keys.control,
            timeout=args.timeout,
            junit=args.junit,
            restore=not args.no_restore,
        )
    )


def _say(line: str) -> None:
    print(line, flush=True)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def check_scenes(
    settings: Settings,
    scenes: list[str],
    *,
    api_key: str | None,
    timeout: float,
    junit: Path | None,
    restore: bool = True,
) -> int:
    """Check `scenes` one by one against the panel of `settings`; print and report."""
    from spacetime_panel.godot.scene_check import (
        PanelUnreachable,
        SceneChecker,
        SceneResult,
        TelemetryUnreachable,
        write_junit,
    )

    host = settings.api.host
    api_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{settings.api.port}"
    telemetry_url = f"ws://127.0.0.1:{settings.ports.telemetry}"
    started = datetime.now(UTC)
    results: list[SceneResult] = []
    checker = SceneChecker(
        api_url, telemetry_url, api_key=api_key, timeout=timeout, progress=_progress
    )
    async with checker:
        try:
            before = await checker.current_scene()
            await checker.connect(timeout)
            _progress(f"checking {len(scenes)} scene(s) through {api_url}")
            for scene in scenes:
                result = await checker.check(scene)
                results.append(result)
                if result.passed:
                    _say(f"PASS {scene} {result.seconds:.2f} s")
                else:
                    _say(f"FAIL {scene}: {result.reason}")
                    for line in result.errors:
                        _say(f"     {line}")
            if restore and before is not None and before != scenes[-1]:
                await checker.load(before)
        except PanelUnreachable as error:
            return fail(str(error), EXIT_ERROR)
        except TelemetryUnreachable as error:
            return fail(str(error), EXIT_ERROR)
    failed = [result for result in results if not result.passed]
    total = sum(result.seconds for result in results)
    _say(f"{len(results) - len(failed)} passed, {len(failed)} failed ({total:.1f} s)")
    if junit is not None:
        try:
            write_junit(results, junit, started=started)
        except OSError as error:
            return fail(f"cannot write {junit}: {error.strerror or error}", EXIT_ERROR)
        _progress(f"JUnit report: {junit}")
    return EXIT_ERROR if failed else EXIT_OK
