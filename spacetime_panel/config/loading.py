"""Loading `Settings` from its four layers: defaults < config file < environment < flags.

pydantic-settings reads and merges the layers (`config.sources` holds them).
What stays here is what it does not do: the stack is validated after each
layer, so a bad value is reported against the layer (and the variable or
flag) that brought it, and every problem becomes one `ConfigError` whose text
is a single line a user can act on::

    config file ~/.config/spacetime-panel/config.toml: api.port: must be at most 65535 (got 70000)
    environment SPACETIME_HTTP_PORT: ports.http: not a whole number (got 'abc')
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from spacetime_panel.config.settings import Settings
from spacetime_panel.config.sources import (
    ConfigError,
    EnvironmentSource,
    FlagSource,
    JsonFileSource,
    Override,
    TomlFileSource,
    config_file_source,
    show,
)

__all__ = [
    "APP_NAME",
    "ConfigError",
    "Override",
    "default_config_path",
    "load_settings",
]

APP_NAME = "spacetime-panel"

_Layer = TomlFileSource | JsonFileSource | EnvironmentSource | FlagSource


class _LayeredSettings(BaseSettings, Settings):
    """`Settings` as pydantic-settings builds it; only ever given its sources explicitly."""

    # Keys in a config file are matched exactly (the environment's source is not).
    model_config = SettingsConfigDict(case_sensitive=True, extra="forbid", frozen=True)


def default_config_path() -> Path:
    """The per-user config file, e.g. ~/.config/spacetime-panel/config.toml on Linux."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[Override] = (),
    use_default_file: bool = True,
) -> Settings:
    """Build the settings from defaults < config file < environment < overrides.

    An explicit `config_file` must exist; otherwise the default file is read
    when `use_default_file` is set and it exists. `environ` defaults to
    `os.environ`. Raises `ConfigError` for the first bad value.
    """
    path = config_file
    if path is None and use_default_file:
        default = default_config_path()
        path = default if default.is_file() else None
    layers: list[_Layer] = []
    if path is not None:
        layers.append(config_file_source(_LayeredSettings, path))
    layers.append(EnvironmentSource(_LayeredSettings, os.environ if environ is None else environ))
    if overrides:
        layers.append(FlagSource(_LayeredSettings, overrides))

    settings = Settings()
    for top in range(1, len(layers) + 1):
        stack = tuple(reversed(layers[:top]))  # highest first, as pydantic-settings wants
        try:
            # `_build_sources` is BaseSettings' own keyword, which mypy's view of the fields hides.
            built = _LayeredSettings(_build_sources=(stack, {}))  # type: ignore[call-arg]
            settings = Settings.model_validate(dict(built))
        except ValidationError as err:
            raise _blame(err.errors()[0], stack) from None
        except SettingsError as err:  # a value pydantic-settings could not decode
            raise ConfigError("environment", "", str(err)) from None
    return settings


def _blame(error: ErrorDetails, stack: Sequence[_Layer]) -> ConfigError:
    """The error as one line, blamed on the highest layer that set its key."""
    key = ".".join(str(part) for part in error["loc"] if isinstance(part, str))
    source = next(filter(None, (layer.origin(key) for layer in stack)), "defaults")
    return ConfigError(source, key, _describe(error))


_BOUNDS = {
    "less_than_equal": ("must be at most", "le"),
    "less_than": ("must be less than", "lt"),
    "greater_than_equal": ("must be at least", "ge"),
    "greater_than": ("must be greater than", "gt"),
}


def _describe(error: ErrorDetails) -> str:
    """A short human phrase for one pydantic error."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error["input"]
    # Text that was read as a number but refused echoes as the number the user typed.
    typed = (kind in _BOUNDS or kind == "literal_error") and _is_number(value)
    got = f"(got {show(value.strip(), quote=False) if typed else show(value)})"
    if kind in _BOUNDS:
        phrase, name = _BOUNDS[kind]
        return f"{phrase} {_number(ctx.get(name))} {got}"
    if kind == "extra_forbidden":
        return "unknown setting"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"not a whole number {got}"
    if kind in ("float_parsing", "float_type"):
        return f"not a number {got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"not true or false {got}"
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")
        return f"must be one of {choices} {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table of settings {got}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list {got}"
    if kind in ("string_type", "path_type"):
        return f"must be text {got}"
    return f"{error['msg']} {got}"


def _is_number(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
