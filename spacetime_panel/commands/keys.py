"""`spacetime-panel keys`: put the API keys in the OS keyring from a terminal.

    keys generate NAME [--force]     a random key, stored, printed once on stdout
    keys set NAME [--from-env VAR]   read from stdin without echo (or from VAR)
    keys delete NAME                 remove from the keyring
    keys where [NAME]                environment, keyring or none; never the key
    keys token [--scope S] [--ttl T] a signed, expiring bearer token

NAME is `panel` (the management API's control key, which also signs tokens),
`panel-read` (its read-only key) or `bridge` (the Godot bridge's key).

A key is printed only by `generate` (once, on stdout, so it can be piped)
and a token only by `token`; everything else goes to stderr in one line.
With no usable keyring (none, a refused file backend, locked, or silent past
`--keyring-timeout`) the command says so in one line, names the environment
variable to use instead, and exits 1. It never asks for a keyring password
on the terminal: a locked keyring is the desktop's business.

Exit codes: 0 done, 1 error (no keyring, nothing to sign with), 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from spacetime_panel.commands.arguments import positive_seconds
from spacetime_panel.commands.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, Subcommands
from spacetime_panel.secrets import (
    BRIDGE_API_KEY,
    PANEL_API_KEY,
    PANEL_READ_KEY,
    KeyringUnavailable,
    Secret,
    SecretStore,
)
from spacetime_panel.secrets.store import DEFAULT_TIMEOUT
from spacetime_panel.secrets.tokens import SCOPES, Scope, issue_token

#: The names users type, in the order `keys where` lists them.
KEY_NAMES: dict[str, Secret] = {
    "panel": PANEL_API_KEY,
    "panel-read": PANEL_READ_KEY,
    "bridge": BRIDGE_API_KEY,
}

DEFAULT_TTL = "8h"
MAX_TTL_DAYS = 366
_TTL = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """`30m`, `8h`, `2d`, `90s` or plain seconds, as seconds (argparse type)."""
    match = _TTL.fullmatch(text.strip().lower())
    if match is None or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a lifetime: use seconds or a number with s, m, h or d (30m, 8h, 2d)"
        )
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    if seconds > MAX_TTL_DAYS * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is too long: at most {MAX_TTL_DAYS}d")
    return seconds


def add_parser(commands: Subcommands) -> None:
    """Register `keys` and its actions under the main parser's subcommands."""
    keys = commands.add_parser(
        "keys",
        help="put the API keys in the OS keyring; issue bearer tokens",
        description="Manage the API keys in the OS keyring (an environment variable, when "
        "set, wins over it): panel = the management API's control key, panel-read = its "
        "read-only key (health, services, logs, telemetry, metrics), bridge = the Godot "
        "bridge's key. No key is ever printed except by `generate`, once.",
    )
    keys.add_argument(
        "--keyring-timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on a keyring that does not answer (default {DEFAULT_TIMEOUT:g})",
    )
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    names = tuple(KEY_NAMES)

    generate = actions.add_parser(
        "generate",
        help="store a new random key in the keyring and print it once",
        description="Store a random key in the OS keyring and print it once on stdout.",
    )
    generate.add_argument("name", choices=names, metavar="NAME", help=" | ".join(names))
    generate.add_argument(
        "--force", action="store_true", help="replace a key already in the keyring"
    )

    set_ = actions.add_parser(
        "set",
        help="store a key read from stdin (no echo) or from an environment variable",
        description="Store a key in the OS keyring: typed without echo on a terminal, the "
        "first line of stdin when piped, or the value of --from-env VARIABLE.",
    )
    set_.add_argument("name", choices=names, metavar="NAME", help=" | ".join(names))
    set_.add_argument("--from-env", metavar="VARIABLE", help="take the key from this variable")

    delete = actions.add_parser("delete", help="remove a key from the keyring")
    delete.add_argument("name", choices=names, metavar="NAME", help=" | ".join(names))

    where = actions.add_parser(
        "where", help="say where each key comes from (environment, keyring or none)"
    )
    where.add_argument(
        "name", nargs="?", choices=names, metavar="NAME", help=" | ".join(names) + " (all)"
    )

    token = actions.add_parser(
        "token",
        help="print a signed bearer token that expires (signed with the panel key)",
        description="Print a JWT for the management API (Authorization: Bearer TOKEN), "
        "signed with the panel (control) key; replacing that key revokes every token.",
    )
    token.add_argument("--scope", choices=SCOPES, default="read", help="what it allows (read)")
    token.add_argument(
        "--ttl",
        type=parse_ttl,
        default=parse_ttl(DEFAULT_TTL),
        metavar="LIFETIME",
        help=f"how long it is valid: 30m, 8h, 2d or seconds (default {DEFAULT_TTL})",
    )
    keys.set_defaults(run=run)


def run(
    args: argparse.Namespace,
    *,
    store: SecretStore | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run `keys ACTION`; the exit code. `store` and `stdin` are for tests."""
    if store is None:
        store = SecretStore(timeout=args.keyring_timeout)
    action = args.keys_action
    try:
        if action == "generate":
            return _generate(store, KEY_NAMES[args.name], force=args.force)
        if action == "set":
            return _set(store, KEY_NAMES[args.name], args.from_env, stdin or sys.stdin)
        if action == "delete":
            return _delete(store, KEY_NAMES[args.name])
        if action == "where":
            return _where(store, args.name)
        if action == "token":
            return _token(store, args.scope, args.ttl)
    except KeyringUnavailable as error:
        return _fail(str(error))
    return _fail(f"unknown keys action {action!r}", EXIT_USAGE)


def _generate(store: SecretStore, secret: Secret, *, force: bool) -> int:
    replacing = store.stored(secret) is not None
    if replacing and not force:
        return _fail(
            f"a {secret.label} is already in the OS keyring ({store.backend_label}); "
            "pass --force to replace it"
        )
    value = secrets.token_urlsafe(32)
    store.set(secret, value)
    print(value, flush=True)
    line = _stored_line(store, secret)
    if replacing and secret is PANEL_API_KEY:
        line += "; tokens signed with the earlier panel key no longer work"
    _say(line)
    return EXIT_OK


def _set(store: SecretStore, secret: Secret, variable: str | None, stdin: TextIO) -> int:
    store.require(secret)  # say "no keyring" before anyone types a key
    if variable is not None:
        value = os.environ.get(variable, "").strip()
        if not value:
            return _fail(f"{variable} is not set or empty: nothing to store")
    else:
        try:
            value = _read_key(secret, stdin)
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return _fail("cancelled: nothing stored")
        if not value:
            return _fail(f"the {secret.label} read from standard input is empty: nothing stored")
    store.set(secret, value)
    _say(_stored_line(store, secret))
    return EXIT_OK


def _read_key(secret: Secret, stdin: TextIO) -> str:
    """The key without echo on a terminal; the first line when piped."""
    if stdin.isatty():
        return getpass.getpass(f"{secret.label} (not shown): ", stream=sys.stderr).strip()
    return stdin.readline().strip()


def _delete(store: SecretStore, secret: Secret) -> int:
    where = f"the OS keyring ({store.backend_label})"
    if store.delete(secret):
        line = f"removed the {secret.label} from {where}"
    else:
        line = f"no {secret.label} was stored in {where}"
    if os.environ.get(secret.variable):
        line += f"; {secret.variable} is set in this environment and still provides one"
    _say(line)
    return EXIT_OK


def _where(store: SecretStore, name: str | None) -> int:
    chosen = [name] if name is not None else list(KEY_NAMES)
    code = EXIT_OK
    for each in chosen:
        secret = KEY_NAMES[each]
        try:
            answer = _source(store, secret)
        except KeyringUnavailable as error:
            if name is not None:
                raise
            _fail(f"{each}: {error}")
            code = EXIT_ERROR
            continue
        print(answer if name is not None else f"{each}: {answer}", flush=True)
    return code


def _source(store: SecretStore, secret: Secret) -> str:
    _value, source = store.lookup(secret)
    if source == "environment":
        return f"environment ({secret.variable})"
    if source == "keyring":
        return f"keyring ({store.backend_label})"
    return "none"


def _token(store: SecretStore, scope: Scope, ttl: float) -> int:
    key, _source = store.lookup(PANEL_API_KEY)
    if key is None:
        return _fail(
            f"no {PANEL_API_KEY.label} to sign the token with: run `spacetime-panel keys "
            f"generate panel`, or set {PANEL_API_KEY.variable}"
        )
    now = time.time()
    try:
        token = issue_token(key, scope, ttl, now=now)
    except ValueError as error:
        return _fail(str(error))
    print(token, flush=True)
    until = datetime.fromtimestamp(now + ttl, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _say(f"a {scope} token, valid until about {until}; send it as Authorization: Bearer TOKEN")
    return EXIT_OK


def _stored_line(store: SecretStore, secret: Secret) -> str:
    line = (
        f"stored the {secret.label} in the OS keyring ({store.backend_label}); "
        f"where there is no keyring, set {secret.variable} instead"
    )
    if os.environ.get(secret.variable):
        line += f" ({secret.variable} is set in this environment and wins over the keyring)"
    return line


def _say(line: str) -> None:
    print(f"spacetime-panel: {line}", file=sys.stderr, flush=True)


def _fail(line: str, code: int = EXIT_ERROR) -> int:
    _say(line)
    return code


__all__ = ["KEY_NAMES", "add_parser", "parse_ttl", "run"]
