"""The layers of the settings as pydantic-settings sources: config file, environment, flags.

pydantic-settings reads the file (its TOML and JSON sources), the environment
(its env source: prefix, nesting, case) and merges the layers; these
subclasses add only what it does not know: the guide's production.json
sections and variable names, paths relative to the config file, text the way
the guide writes it ("warning", "9001, 9002", "" for off), and for every key
the file, variable or flag that set it, so that an error can name it.
"""

from __future__ import annotations

import errno
import json
import os
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    JsonConfigSettingsSource,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# SPACETIME__AREA__FIELD reaches every field; unlike other SPACETIME_* names,
# a typo here is an error because the name was clearly meant as a setting.
ENV_GENERIC_PREFIX = "SPACETIME__"
# Environment names with a fixed meaning. Any other SPACETIME_* name is ignored
# on purpose: the same environment carries SPACETIME_SIM_* fault switches and
# the SPACETIME_API_KEY secret, neither of which is a setting.
ENV_NAMES: Mapping[str, str] = types.MappingProxyType(
    {
        "SPACETIME_GODOT_PATH": "godot.executable",
        "SPACETIME_PROJECT_PATH": "godot.project_path",
        "SPACETIME_SCENE_PATH": "godot.scene_path",
        "SPACETIME_MANAGER_PORT": "api.port",
        "SPACETIME_HTTP_PORT": "ports.http",
        "SPACETIME_TELEMETRY_PORT": "ports.telemetry",
        "SPACETIME_DAP_PORT": "ports.dap",
        "SPACETIME_LSP_PORT": "ports.lsp",
        "SPACETIME_DISCOVERY_PORT": "ports.discovery",
        "SPACETIME_CHECK_INTERVAL": "supervisor.check_interval",
        "SPACETIME_PLAYER_TIMEOUT": "supervisor.player_timeout",
        "SPACETIME_START_TIMEOUT": "supervisor.start_timeout",
        "SPACETIME_STOP_TIMEOUT": "supervisor.stop_timeout",
        "SPACETIME_LOG_DIR": "logging.directory",
        "SPACETIME_STATE_DIR": "state_dir",
    }
)
# The deployment guide's variables ("Secure Defaults").
GUIDE_ENV_NAMES: Mapping[str, str] = types.MappingProxyType(
    {
        "DEBUG_MODE": "logging.debug_mode",
        "LOG_LEVEL": "logging.level",
        "ENABLE_TELEMETRY": "telemetry.enabled",
        "API_KEY_REQUIRED": "api.require_auth",
    }
)
# The guide's config/production.json sections and where their keys live here.
GUIDE_JSON_KEYS: Mapping[str, Mapping[str, str]] = types.MappingProxyType(
    {
        "security": {
            "require_auth": "api.require_auth",
            "rate_limit_enabled": "api.rate_limit_enabled",
            "rate_limit_per_minute": "api.rate_limit_per_minute",
            "allowed_origins": "api.allowed_origins",
            "max_request_size_mb": "api.max_request_size_mb",
        },
        "monitoring": {
            "telemetry_enabled": "telemetry.enabled",
            "metrics_enabled": "api.metrics_enabled",
            "log_level": "logging.level",
        },
        "features": {
            "auto_restart_on_crash": "supervisor.auto_restart",
            "max_restart_attempts": "supervisor.max_restart_attempts",
            "health_check_interval_seconds": "supervisor.check_interval",
        },
    }
)
# Paths in a config file are relative to the file's folder, not the cwd.
_FILE_RELATIVE_PATHS = ("godot.project_path", "logging.directory", "state_dir")
_BOOL = TypeAdapter(bool)


class ConfigError(Exception):
    """A bad setting, naming where it came from and which key; `str()` is one line.

    `source` is "config file PATH", "environment NAME", "command line --flag" or
    "defaults"; `key` is the dotted settings key ("api.port"), or "" when the
    problem is the source as a whole (a missing or unparsable file).
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = one_line(problem)
        where = f"{source}: {key}" if key else source
        super().__init__(one_line(f"{where}: {self.problem}"))


@dataclass(frozen=True)
class Override:
    """One command-line flag's value for one settings key."""

    key: str
    value: object
    flag: str


def config_file_source(
    settings_cls: type[BaseSettings], path: Path
) -> TomlFileSource | JsonFileSource:
    """The source for a .toml or .json config file; a file it cannot read is a ConfigError."""
    source = f"config file {path}"
    if not path.exists():
        raise ConfigError(source, "", "not found")
    if path.is_dir():
        raise ConfigError(source, "", f"cannot read ({os.strerror(errno.EISDIR)})")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return TomlFileSource(settings_cls, path)
        if suffix == ".json":
            return JsonFileSource(settings_cls, path)
    except UnicodeDecodeError:
        raise ConfigError(source, "", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(source, "", f"not valid TOML: {err}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(source, "", f"not valid JSON: {err}") from None
    except OSError as err:
        raise ConfigError(source, "", f"cannot read ({err.strerror or err})") from None
    raise ConfigError(source, "", "unsupported format (use a .toml or .json file)")


class TomlFileSource(TomlConfigSettingsSource):
    """A TOML config file: our own tables, or the guide's sections."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        return _our_shape(super()._read_file(file_path), self.path)

    def origin(self, key: str) -> str | None:
        return f"config file {self.path}" if _sets(self(), key) else None


class JsonFileSource(JsonConfigSettingsSource):
    """A JSON config file: our own shape, or the guide's config/production.json."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        super().__init__(settings_cls, json_file=path)

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        raw: object = super()._read_file(file_path)
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {self.path}", "", "must hold a JSON object")
        return _our_shape(raw, self.path)

    def origin(self, key: str) -> str | None:
        return f"config file {self.path}" if _sets(self(), key) else None


def _our_shape(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Move the guide's sections' keys to ours, then make paths absolute."""
    data = {top: value for top, value in raw.items() if top not in GUIDE_JSON_KEYS}
    for top, section in raw.items():
        mapping = GUIDE_JSON_KEYS.get(top)
        if mapping is None:
            continue
        if not isinstance(section, dict):
            problem = f"must be an object of settings (got {show(section)})"
            raise ConfigError(f"config file {path}", top, problem)
        for name, value in section.items():
            if name not in mapping:
                raise ConfigError(f"config file {path}", f"{top}.{name}", "unknown setting")
            _set(data, mapping[name], value)
    level = _get(data, "logging.level")
    if isinstance(level, str):
        _set(data, "logging.level", level.strip().upper())
    keys = list(_FILE_RELATIVE_PATHS)
    executable = _get(data, "godot.executable")
    if isinstance(executable, str) and ("/" in executable or os.sep in executable):
        keys.append("godot.executable")  # a bare name ("godot") is looked up on PATH
    for key in keys:
        value = _get(data, key)
        if isinstance(value, str) and value:
            _set(data, key, str(path.absolute().parent / Path(value).expanduser()))
    return data


class EnvironmentSource(EnvSettingsSource):
    """SPACETIME__AREA__FIELD for every field, the short SPACETIME_* names and the guide's.

    The named variables are handed to pydantic-settings in their
    SPACETIME__AREA__FIELD spelling, so its nesting does the rest. Guide names
    come first, then the short names, then the generic form: the more specific
    spelling wins when two name the same key.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.names: dict[str, str] = {}  # lower-case SPACETIME__ spelling -> the variable set
        super().__init__(
            settings_cls,
            case_sensitive=False,
            env_prefix=ENV_GENERIC_PREFIX,
            env_nested_delimiter="__",
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        spelled: dict[str, str] = {}
        named = [*GUIDE_ENV_NAMES.items(), *ENV_NAMES.items()]
        named += [(n, self._generic_key(n)) for n in sorted(self.environ) if _is_generic(n)]
        for name, key in named:
            if name in self.environ:
                spelled[_spelling(key)] = self.environ[name]
                self.names[_spelling(key)] = name
        debug, level = _spelling("logging.debug_mode"), _spelling("logging.level")
        if debug in spelled and level not in spelled and _is_true(spelled[debug]):
            spelled[level] = "DEBUG"  # DEBUG_MODE implies it when LOG_LEVEL is unset
            self.names[level] = self.names[debug]
        return spelled

    def _generic_key(self, name: str) -> str:
        key = ".".join(name[len(ENV_GENERIC_PREFIX) :].lower().split("__"))
        return check_key(self.settings_cls, key, f"environment {name}")

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """Lists are written "9001, 9002" here, not as JSON: `from_text` splits them."""
        if field is not None and get_origin(field.annotation) is tuple:
            return value
        return super().decode_complex_value(field_name, field, value)

    def __call__(self) -> dict[str, Any]:
        return from_text(super().__call__(), self.settings_cls)

    def origin(self, key: str) -> str | None:
        spelled = _spelling(key)
        for generic, name in self.names.items():
            if generic == spelled or generic.startswith(spelled + "__"):
                return f"environment {name}"
        return None


class FlagSource(InitSettingsSource):
    """Command-line flags, the top layer; string values are read like the environment's."""

    def __init__(self, settings_cls: type[BaseSettings], overrides: Sequence[Override]) -> None:
        self.flags = {override.key: override.flag for override in overrides}
        data: dict[str, Any] = {}
        for override in overrides:
            check_key(settings_cls, override.key, f"command line {override.flag}")
            _set(data, override.key, override.value)
        super().__init__(settings_cls, from_text(data, settings_cls))

    def origin(self, key: str) -> str | None:
        for set_key, flag in self.flags.items():
            if set_key == key or set_key.startswith(key + "."):
                return f"command line {flag}"
        return None


def check_key(settings_cls: type[BaseModel], key: str, source: str) -> str:
    """`key` if it names one setting; a ConfigError naming `source` if not."""
    model: type[BaseModel] | None = settings_cls
    for part in key.split("."):
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            raise ConfigError(source, key, "unknown setting")
        model = _area(field.annotation)
    if model is not None:
        raise ConfigError(source, key, "is a group of settings, not one setting")
    return key


def from_text(data: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Text as the guide writes it where pydantic would refuse it: a choice in any case
    ("warning"), a comma list ("9001, 9002"), "" for off, spaces around a value."""
    result: dict[str, Any] = {}
    for name, value in data.items():
        field = model.model_fields.get(name)
        area = _area(field.annotation) if field is not None else None
        if isinstance(value, dict) and area is not None:
            value = from_text(value, area)
        elif isinstance(value, str) and field is not None and area is None:
            value = _text_value(value, field.annotation)
        result[name] = value
    return result


def _text_value(text: str, annotation: Any) -> object:
    if get_origin(annotation) in (Union, types.UnionType):
        if not text.strip():
            return None
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    if get_origin(annotation) is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    if get_origin(annotation) is Literal:
        choices = get_args(annotation)
        return next((c for c in choices if str(c).lower() == text.strip().lower()), text.strip())
    return text if annotation in (str, Path) else text.strip()


def _area(annotation: Any) -> type[BaseModel] | None:
    is_area = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation if is_area else None


def _is_generic(name: str) -> bool:
    return name.upper().startswith(ENV_GENERIC_PREFIX)


def _spelling(key: str) -> str:
    return (ENV_GENERIC_PREFIX + key.replace(".", "__")).lower()


def _is_true(text: str) -> bool:
    try:
        return _BOOL.validate_python(text.strip())
    except ValidationError:
        return False  # reported when the settings are validated


def _sets(data: Mapping[str, Any], key: str) -> bool:
    """Whether `data` sets `key`, or a part of it, or something where it belongs."""
    node: object = data
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _get(data: Mapping[str, Any], key: str) -> object:
    node: object = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set(data: dict[str, Any], key: str, value: object) -> None:
    *areas, field = key.split(".")
    node = data
    for area in areas:
        child = node.setdefault(area, {})
        if not isinstance(child, dict):
            return  # a non-table where a table belongs; validation reports it
        node = child
    node[field] = value


def show(value: object, *, quote: bool = True) -> str:
    """A value as an error message shows it: short, on one line."""
    shown = repr(value) if isinstance(value, str) and quote else str(value)
    shown = one_line(shown)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
