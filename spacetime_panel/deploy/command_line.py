"""The `serve` command line a deployment file runs, and the quoting each format needs."""

from __future__ import annotations

import math
import shlex

from spacetime_panel.config import GodotSettings, PortSettings, Settings
from spacetime_panel.deploy.context import DeployContext, DeployError

#: Seconds a service manager waits beyond `supervisor.stop_timeout` before it kills
#: the panel: the panel needs the stop timeout for Godot, then a moment to exit.
STOP_MARGIN_SECONDS = 20

_DEFAULT_PORTS = PortSettings()
_DEFAULT_GODOT = GodotSettings()


def stop_wait_seconds(settings: Settings) -> int:
    """How long a service manager waits from SIGTERM to SIGKILL (more than the stop timeout)."""
    return math.ceil(settings.supervisor.stop_timeout) + STOP_MARGIN_SECONDS


def serve_arguments(context: DeployContext, *, headless: bool = False) -> list[str]:
    """`serve`'s arguments: where things are, the ports and Godot settings that differ
    from the defaults (so the file needs no config file elsewhere), then the user's own.
    `headless` adds --headless, for services without a display, unless the game
    already runs headless or on serve's own Xvfb."""
    settings = context.settings
    arguments = ["serve"]
    if context.config is not None:
        arguments += ["--config", str(context.config)]
    if settings.api.host != "127.0.0.1":
        arguments += ["--host", settings.api.host]
    arguments += ["--port", str(settings.api.port)]
    ports = settings.ports
    for flag, value, default in (
        ("--godot-port", ports.http, _DEFAULT_PORTS.http),
        ("--telemetry-port", ports.telemetry, _DEFAULT_PORTS.telemetry),
        ("--lsp-port", ports.lsp, _DEFAULT_PORTS.lsp),
        ("--dap-port", ports.dap, _DEFAULT_PORTS.dap),
        ("--discovery-port", ports.discovery, _DEFAULT_PORTS.discovery),
    ):
        if value != default:
            arguments += [flag, str(value)]
    if ports.http_fallbacks != _DEFAULT_PORTS.http_fallbacks:
        arguments += ["--http-fallback-ports", ",".join(map(str, ports.http_fallbacks))]
    if settings.supervisor.stop_timeout != 10.0:
        arguments += ["--stop-timeout", f"{settings.supervisor.stop_timeout:g}"]
    arguments += [
        "--godot-path",
        context.godot,
        "--project-path",
        str(context.project),
        "--log-dir",
        str(context.log_dir),
    ]
    godot = settings.godot
    if godot.scene_path != _DEFAULT_GODOT.scene_path and "--scene-path" not in context.serve_args:
        arguments += ["--scene-path", godot.scene_path]
    for flag, wanted in (
        ("--auto-load-scene", godot.auto_load_scene),
        ("--editor", godot.launch_editor),
        ("--no-game", not godot.launch_game),
        ("--headless", godot.headless),
        ("--xvfb", godot.xvfb),
    ):
        if wanted and flag not in context.serve_args:
            arguments.append(flag)
    display = godot.headless or godot.xvfb
    if headless and not display and not {"--headless", "--xvfb"} & set(context.serve_args):
        arguments.append("--headless")
    arguments += context.serve_args
    return arguments


def systemd_word(word: str) -> str:
    """One word of a systemd command line (`ExecStart=`): quoted when it has to be,
    with `%` (specifiers) and `$` (variables) made literal."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c.isspace() or c in "\"'\\;" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_path(path: str) -> str:
    """A path setting (`WorkingDirectory=`): the rest of the line, specifiers made literal."""
    return path.replace("%", "%%")


def supervisord_value(text: str) -> str:
    """A supervisord value: `%` starts an expansion there, so it is doubled."""
    return text.replace("%", "%%")


def supervisord_command(words: list[str]) -> str:
    """A supervisord `command=`: split with shlex, so quoted the shell's way."""
    return supervisord_value(shlex.join(words))


def supervisord_environment(**variables: str) -> str:
    """A supervisord `environment=`: KEY="value" pairs. supervisord keeps the quotes'
    insides as they are (no escapes), so a value takes the quote it does not contain."""
    pairs = []
    for key, value in variables.items():
        quote = '"' if '"' not in value else "'"
        if quote in value:
            raise DeployError(f"{key} {value!r} has both quote marks; supervisord cannot take it")
        pairs.append(f"{key}={quote}{supervisord_value(value)}{quote}")
    return ",".join(pairs)
