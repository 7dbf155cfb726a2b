"""Saving `Settings` back to the TOML config file that `load_settings` reads.

Only the values that differ from the built-in defaults are written, so a
default that changes in a later release reaches every user who never touched
it. The layout is the loader's: one table per area, top-level keys (such as
`state_dir`) first::

    # SpaceTime Panel settings ...
    state_dir = "/home/me/.local/state/spacetime"

    [godot]
    project_path = "/home/me/game"

    [ports]
    telemetry = 9081

The file is replaced atomically (a temporary file in the same folder, then
`os.replace`), so a crash or a full disk never leaves half a config behind.
The model holds no secrets, so nothing secret can reach the file: API keys
live in the OS keyring (`spacetime_panel.secrets`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel

from spacetime_panel.config.loading import ConfigError
from spacetime_panel.config.settings import Settings

HEADER = (
    "# SpaceTime Panel settings, written by the panel.\n"
    "# Only values that differ from the defaults are listed; delete a line to go back\n"
    "# to the default. API keys are never stored here: they live in the OS keyring.\n\n"
)


def settings_document(settings: Settings) -> dict[str, Any]:
    """The TOML document for `settings`: only the values that differ from the defaults.

    `None` ("off") is left out because TOML has no null; every optional field
    defaults to `None`, so leaving it out restores exactly that. Paths become
    absolute strings: the loader reads relative paths against the config
    file's folder, which is not what a relative path in the model meant.
    """
    defaults = Settings()
    document: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        default = getattr(defaults, name)
        if isinstance(value, BaseModel):
            table = _changed(value, default, prefix=name)
            if table:
                tables[name] = table
        elif value != default and value is not None:
            document[name] = _toml_value(name, value)
    # Plain keys before tables: in TOML a key after a [table] belongs to that table.
    document.update(tables)
    return document


def save_settings(settings: Settings, path: Path) -> None:
    """Write `settings` to the TOML file `path`, atomically, creating its folder.

    Raises `ConfigError` (source "config file PATH", one line) when the file
    cannot be written. A symlinked config file is written through the link.
    """
    source = f"config file {path}"
    if path.suffix.lower() != ".toml":
        raise ConfigError(source, "", "the panel writes only .toml files; choose a .toml path")
    text = HEADER + tomli_w.dumps(settings_document(settings))
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise ConfigError(source, "", _cannot_write(error)) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ConfigError(source, "", _cannot_write(error)) from None


def _changed(area: BaseModel, default: BaseModel, *, prefix: str) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for field in type(area).model_fields:
        value = getattr(area, field)
        if value != getattr(default, field) and value is not None:
            table[field] = _toml_value(f"{prefix}.{field}", value)
    return table


def _toml_value(key: str, value: object) -> object:
    """A model value as TOML can hold it: paths as absolute text, tuples as arrays."""
    if isinstance(value, Path):
        return str(value.expanduser().absolute())
    if isinstance(value, tuple):
        return [_toml_value(key, item) for item in value]
    if key == "godot.executable" and isinstance(value, str) and ("/" in value or os.sep in value):
        # A bare name ("godot") is looked up on PATH; only a path is made absolute.
        return str(Path(value).expanduser().absolute())
    return value


def _cannot_write(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"cannot write ({reason}); choose a folder you can write to"
