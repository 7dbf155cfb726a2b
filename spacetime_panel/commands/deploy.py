"""`spacetime-panel deploy TARGET`: a server file (systemd unit, supervisord program,
nginx site, ...) rendered for this machine: the installed executable, the project,
Godot, the log folder and the ports from the user's configuration.

`--reference` renders the documented defaults instead (what packaging/ holds).
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
from pathlib import Path

from spacetime_panel.commands.arguments import positive_seconds
from spacetime_panel.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    Subcommands,
    check_project,
    fail,
    settings_from,
    where_flags,
)
from spacetime_panel.config import ConfigError, Settings
from spacetime_panel.deploy.context import DeployContext, DeployError, RenderedFile
from spacetime_panel.deploy.targets import TARGETS

APP_NAME = "spacetime-panel"


def add_parser(commands: Subcommands) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="print a server file (systemd, supervisord, nginx, ...) for this machine",
        description="Render a deployment file for this machine: the installed spacetime-panel, "
        "the project, Godot, the log folder and the ports of your configuration. "
        "Extra `serve` arguments go after --, e.g. "
        "`spacetime-panel deploy systemd --project-path ~/game -- --auto-load-scene`.",
    )
    deploy.add_argument(
        "target", choices=sorted(TARGETS), metavar="TARGET", help=", ".join(TARGETS)
    )
    where_flags(deploy)
    files = deploy.add_argument_group("the deployment")
    files.add_argument("--godot-path", help="the Godot executable (default: godot on PATH)")
    files.add_argument("--project-path", type=Path, help="the Godot project folder")
    files.add_argument("--log-dir", type=Path, help="folder for the panel's and Godot's logs")
    files.add_argument(
        "--stop-timeout", type=positive_seconds, help="seconds from SIGTERM to SIGKILL (10)"
    )
    files.add_argument("--user", help="the account the service runs as (default: you)")
    files.add_argument(
        "--output", type=Path, metavar="DIR", help="write the file(s) into DIR instead of printing"
    )
    files.add_argument("--force", action="store_true", help="with --output: overwrite files")
    files.add_argument(
        "--reference",
        action="store_true",
        help="the documented defaults (/opt/spacetime-panel/...) that packaging/ holds",
    )
    # Everything after TARGET; its options are parsed again in `run`, the words after
    # `--` go to serve (argparse cannot hand a `*` positional the words after `--`).
    deploy.add_argument("rest", nargs=argparse.REMAINDER, metavar="[OPTIONS] [-- SERVE_ARGS]")
    deploy.set_defaults(run=run, parser=deploy)


def run(args: argparse.Namespace) -> int:
    rest: list[str] = args.rest
    options, serve_args = (
        (rest[: rest.index("--")], rest[rest.index("--") + 1 :]) if "--" in rest else (rest, [])
    )
    if options:
        args.parser.parse_args([*options, args.target], namespace=args)
    if args.reference:
        context = DeployContext.reference()
    else:
        made = _context(args, tuple(serve_args))
        if isinstance(made, int):
            return made
        context = made
    try:
        files = TARGETS[args.target](context)
    except DeployError as error:
        return fail(f"deploy {args.target}: {error}", EXIT_USAGE)
    if args.output is None:
        for file in files:
            if len(files) > 1:
                print(f"==> {file.name} <==")
            sys.stdout.write(file.text)
        return EXIT_OK
    return _write(files, args.output, force=args.force)


def _context(args: argparse.Namespace, serve_args: tuple[str, ...]) -> DeployContext | int:
    try:
        settings = settings_from(args, launching=args.demo)
    except ConfigError as error:
        return fail(str(error), EXIT_USAGE)
    except FileNotFoundError as error:
        return fail(str(error), EXIT_ERROR)
    if (complaint := check_project(settings)) is not None:
        return fail(complaint, EXIT_USAGE)
    project = settings.godot.project_path or Path.cwd()
    godot = _godot(settings)
    if godot is None:
        return fail(
            f"Godot not found: {settings.godot.executable!r} (pass --godot-path)", EXIT_ERROR
        )
    executable = installed_executable()
    if executable is None:
        return fail("cannot find the installed spacetime-panel executable", EXIT_ERROR)
    user = args.user or getpass.getuser()
    return DeployContext(
        executable=executable,
        project=project.resolve(),
        godot=godot,
        log_dir=_log_dir(settings),
        user=user,
        serve_args=serve_args,
        settings=settings,
        config=args.config.expanduser().resolve() if args.config else None,
        group=_group(user),
        home=_home(user),
    )


def installed_executable() -> Path | None:
    """The `spacetime-panel` this command runs as: argv[0], the venv's, or the one on PATH."""
    launched = Path(sys.argv[0])
    if launched.name.startswith(APP_NAME) and launched.is_file():
        return launched.resolve()
    scripts = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")
    for name in (APP_NAME, f"{APP_NAME}.exe"):
        if (scripts / name).is_file():
            return (scripts / name).resolve()
    found = shutil.which(APP_NAME)
    return Path(found).resolve() if found else None


def _godot(settings: Settings) -> str | None:
    """The Godot executable as an absolute path (a service's PATH is not yours)."""
    executable = settings.godot.executable
    path = Path(executable).expanduser()
    if path.is_absolute() or os.sep in executable:
        return str(path.resolve()) if path.is_file() else None
    found = shutil.which(executable)
    return str(Path(found).resolve()) if found else None


def _log_dir(settings: Settings) -> Path:
    if settings.logging.directory is not None:
        return settings.logging.directory
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME))


def _group(user: str) -> str:
    """The user's primary group (empty when the account is not on this machine)."""
    try:
        import grp
        import pwd

        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except (KeyError, ImportError):
        return ""


def _home(user: str) -> Path | None:
    """The user's home folder (None when the account is not on this machine)."""
    try:
        import pwd

        return Path(pwd.getpwnam(user).pw_dir)
    except (KeyError, ImportError):
        return None


def _write(files: list[RenderedFile], folder: Path, *, force: bool) -> int:
    targets = [folder / file.name for file in files]
    if not force:
        for target in targets:
            if target.exists():
                return fail(f"{target} exists; pass --force to overwrite it", EXIT_ERROR)
    try:
        for file, target in zip(files, targets, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.text, encoding="utf-8", newline="\n")
            print(target)
    except OSError as error:
        return fail(f"cannot write {error.filename}: {error.strerror}", EXIT_ERROR)
    return EXIT_OK
