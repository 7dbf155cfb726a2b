"""What the terminal commands accept as arguments, checked before anything runs.

Each checker is an argparse `type=`: it returns the value or raises
`argparse.ArgumentTypeError` with a one-line reason, and `CommandParser`
prints that as one line (`spacetime-panel probe: argument --port: port must
be 1-65535 (got 99999) ...`) and exits 2, instead of argparse's usage block.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Mapping
from typing import NoReturn
from urllib.parse import urlsplit

from spacetime_panel.godot.scenes import InvalidScenePath, validate_scene_path

EXIT_USAGE = 2


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit 2.

    Subcommand parsers are of the same class (argparse makes them from their parent's).
    """

    #: Flag -> the settings key it overrides, named in its errors (`--port (api.port)`);
    #: set on the parsers of the commands whose flags are settings.
    settings_keys: Mapping[str, str] = {}

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        flag = re.match(r"argument (--[\w-]+): ", line)
        if flag is not None and (key := self.settings_keys.get(flag.group(1))) is not None:
            line = line.replace(flag.group(0), f"argument {flag.group(1)} ({key}): ", 1)
        self.exit(EXIT_USAGE, f"{self.prog}: {line} (usage: {self.prog} --help)\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def port(text: str) -> int:
    """A TCP or UDP port: a whole number 1-65535."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be 1-65535 (got {text!r})") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535 (got {value})")
    return value


def port_list(text: str) -> tuple[int, ...]:
    """Ports separated by commas (`8083,8084,8085`); an empty text is no port at all."""
    parts = [part.strip() for part in text.split(",")]
    if parts == [""]:
        return ()
    try:
        return tuple(port(part) for part in parts)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(
            f"{error}; give ports separated by commas, like 8083,8084,8085 (or '' for none)"
        ) from None


def positive_seconds(text: str) -> float:
    """A duration or timeout: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 (got {text!r})"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0 (got {text})")
    return value


def websocket_url(text: str) -> str:
    """A `ws://` or `wss://` URL with a host (and a valid port, when it has one)."""
    example = "like ws://127.0.0.1:8081"
    try:
        parts = urlsplit(text)
        given_port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no valid port: ports are 1-65535 ({example})"
        ) from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ws:// or wss:// URL ({example})")
    if given_port == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: port must be 1-65535 ({example})")
    return text


def scene_path(text: str) -> str:
    """A `res://` scene path by the bridge's rule (`godot.scenes.validate_scene_path`)."""
    try:
        return validate_scene_path(text)
    except InvalidScenePath as error:
        raise argparse.ArgumentTypeError(str(error)) from None
