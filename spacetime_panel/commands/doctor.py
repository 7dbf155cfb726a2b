"""`spacetime-panel doctor [--json]`: what this machine lacks, one line per check, and the fix.

Exit 0 when every check is fine, 1 with warnings, 2 with errors. It takes
every flag `serve` does, so it checks what that `serve` would use. It never
imports Qt and never launches Godot (only `godot --version`, under a timeout).
"""

from __future__ import annotations

import argparse
import json

from spacetime_panel.commands.common import (
    EXIT_OK,
    Subcommands,
    overrides_from,
    serve_flags,
    settings_from,
)

#: The exit code of each overall verdict.
EXIT_CODES = {"ok": EXIT_OK, "warning": 1, "error": 2}


def add_parser(commands: Subcommands) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check this machine: Python, Qt's libraries, display, Godot, project, ports, keyring",
        description="One line per check: ok, warn or FAIL, what was found and the fix. "
        "Give it the flags you give serve (--godot-path, --project-path, --demo, ports, "
        "--config, --log-dir ...) to check exactly that. Exit 0: all fine; 1: warnings; "
        "2: errors. It never launches Godot (it runs `godot --version`).",
    )
    doctor.add_argument("--json", action="store_true", help="one JSON document instead")
    serve_flags(doctor)
    doctor.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spacetime_panel.config import ConfigError, Settings, load_settings
    from spacetime_panel.config.loading import default_config_path
    from spacetime_panel.doctor.checks import DoctorInputs
    from spacetime_panel.doctor.report import format_lines, overall
    from spacetime_panel.doctor.runner import run_checks

    problem: str | None = None
    try:
        settings = settings_from(args, launching=False)
    except (ConfigError, FileNotFoundError) as error:
        problem = str(error)
        try:  # the flags alone, so the other checks still see the user's ports and paths
            settings = load_settings(overrides=overrides_from(args), use_default_file=False)
        except ConfigError:
            settings = Settings()
    config_file = args.config if args.config is not None else default_config_path()
    inputs = DoctorInputs(
        settings=settings,
        demo=args.demo,
        godot_given=args.godot_path is not None,
        project_given=args.project_path is not None,
        config_file=config_file,
        config_explicit=args.config is not None,
        config_problem=problem,
    )
    checks = run_checks(inputs)
    verdict = overall(checks)
    if args.json:
        document = {
            "verdict": verdict,
            "exit_code": EXIT_CODES[verdict],
            "checks": [check.to_json() for check in checks],
        }
        print(json.dumps(document, indent=2))
    else:
        print("\n".join(format_lines(checks)))
        summary = {"ok": "all fine", "warning": "warnings", "error": "errors"}[verdict]
        counts = {v: sum(c.verdict == v for c in checks) for v in ("warning", "error")}
        errors, warnings = counts["error"], counts["warning"]
        print(
            f"doctor: {summary} ({errors} error{'' if errors == 1 else 's'}, "
            f"{warnings} warning{'' if warnings == 1 else 's'})"
        )
    return EXIT_CODES[verdict]
