"""Loading `Settings` from its four layers: defaults < config file < environment < flags.

Each layer is merged into a plain nested dict and the whole is validated right
after that layer, so a bad value is reported against the layer (and the
variable or flag) that brought it. Every problem becomes one `ConfigError`
whose text is a single line a user can act on::

    config file ~/.config/spacetime-panel/config.toml: api.port: must be at most 65535 (got 70000)
    environment SPACETIME_HTTP_PORT: ports.http: not a whole number (got 'abc')
"""

from __future__ import annotations

import json
import os
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import platformdirs
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from spacetime_panel.config.settings import Settings

APP_NAME = "spacetime-panel"

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
# SPACETIME__AREA__FIELD reaches every field; unlike other SPACETIME_* names,
# a typo here is an error because the name was clearly meant as a setting.
ENV_GENERIC_PREFIX = "SPACETIME__"
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

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class ConfigError(Exception):
    """A bad setting, naming where it came from and which key; `str()` is one line.

    `source` is "config file PATH", "environment NAME", "command line --flag" or
    "defaults"; `key` is the dotted settings key ("api.port"), or "" when the
    problem is the source as a whole (a missing or unparsable file).
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = _one_line(problem)
        where = f"{source}: {key}" if key else source
        super().__init__(_one_line(f"{where}: {self.problem}"))


@dataclass(frozen=True)
class Override:
    """One command-line flag's value for one settings key."""

    key: str
    value: object
    flag: str


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
    data: dict[str, Any] = {}
    _validate(data, {}, "defaults")

    path = config_file
    if path is None and use_default_file:
        default = default_config_path()
        path = default if default.is_file() else None
    if path is not None:
        source = f"config file {path}"
        _merge(data, _read_config_file(path, source))
        _validate(data, {}, source)

    env = os.environ if environ is None else environ
    env_values, env_origins, env_text = _environment_values(env)
    for key, value in env_values.items():
        _set(data, key, value)
    settings = _validate(data, env_origins, "environment", env_text)

    if overrides:
        flag_origins: dict[str, str] = {}
        flag_text: dict[str, str] = {}
        for override in overrides:
            source = f"command line {override.flag}"
            annotation = _annotation(override.key, source)
            value = override.value
            if isinstance(value, str):
                flag_text[override.key] = value
                value = _from_text(value, annotation, source, override.key)
            _set(data, override.key, value)
            flag_origins[override.key] = source
        settings = _validate(data, flag_origins, "command line", flag_text)
    return settings


def _read_config_file(path: Path, source: str) -> dict[str, Any]:
    """Parse a .toml or .json file into our own nested shape, paths made absolute."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "not found") from None
    except UnicodeDecodeError:
        raise ConfigError(source, "", "not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(source, "", f"cannot read ({err.strerror or err})") from None

    suffix = path.suffix.lower()
    raw: object
    if suffix == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(source, "", f"not valid TOML: {err}") from None
    elif suffix == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(source, "", f"not valid JSON: {err}") from None
        if not isinstance(raw, dict):
            raise ConfigError(source, "", "must hold a JSON object")
    else:
        raise ConfigError(source, "", "unsupported format (use a .toml or .json file)")

    assert isinstance(raw, dict)
    data = _map_guide_sections(raw, source)
    level = _get(data, "logging.level")
    if isinstance(level, str):
        _set(data, "logging.level", level.strip().upper())
    _resolve_file_paths(data, path.absolute().parent)
    return data


def _map_guide_sections(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Move the guide's security/monitoring/features keys to ours; keep everything else."""
    data: dict[str, Any] = {}
    for top, value in raw.items():
        mapping = GUIDE_JSON_KEYS.get(top)
        if mapping is None:
            _merge(data, {top: value})
            continue
        if not isinstance(value, dict):
            raise ConfigError(source, top, f"must be an object of settings (got {_show(value)})")
        for name, inner in value.items():
            if name not in mapping:
                raise ConfigError(source, f"{top}.{name}", "unknown setting")
            _set(data, mapping[name], inner)
    return data


def _resolve_file_paths(data: dict[str, Any], folder: Path) -> None:
    keys = list(_FILE_RELATIVE_PATHS)
    executable = _get(data, "godot.executable")
    if isinstance(executable, str) and ("/" in executable or os.sep in executable):
        keys.append("godot.executable")
    for key in keys:
        value = _get(data, key)
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            resolved = path if path.is_absolute() else folder / path
            _set(data, key, str(resolved))


def _environment_values(
    env: Mapping[str, str],
) -> tuple[dict[str, object], dict[str, str], dict[str, str]]:
    """The settings the environment sets, which variable set each, and its text.

    Guide names first, then SPACETIME_* names, then the generic form, so the
    more specific spelling wins when two name the same key.
    """
    named: list[tuple[str, str]] = [(n, k) for n, k in GUIDE_ENV_NAMES.items() if n in env]
    named += [(n, k) for n, k in ENV_NAMES.items() if n in env]
    for name in sorted(env):
        if name.upper().startswith(ENV_GENERIC_PREFIX):
            parts = name[len(ENV_GENERIC_PREFIX) :].lower().split("__")
            named.append((name, ".".join(parts)))

    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    texts: dict[str, str] = {}
    for name, key in named:
        source = f"environment {name}"
        text = env[name]
        values[key] = _from_text(text, _annotation(key, source), source, key)
        origins[key] = source
        texts[key] = text
        if key == "logging.debug_mode" and values[key] is True and "LOG_LEVEL" not in env:
            values["logging.level"] = "DEBUG"
            origins["logging.level"] = source
    return values, origins, texts


def _annotation(key: str, source: str) -> Any:
    """The type of a dotted settings key; unknown keys are a ConfigError."""
    parts = key.split(".")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None or not part:
            raise ConfigError(source, key, "unknown setting")
        annotation = field.annotation
        is_area = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if i == len(parts) - 1:
            if is_area:
                raise ConfigError(source, key, "is a group of settings, not one setting")
            return annotation
        if not is_area:
            raise ConfigError(source, key, "unknown setting")
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation
    raise ConfigError(source, key, "unknown setting")  # pragma: no cover - empty key


def _from_text(text: str, annotation: Any, source: str, key: str) -> object:
    """Turn an environment (or string flag) value into what the field holds.

    Values that do not convert are returned as they are, except where our own
    phrase is clearer than pydantic's (booleans, numbers).
    """
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        if text.strip() == "":
            return None
        annotation = options[0] if len(options) == 1 else str
        origin = get_origin(annotation)
    stripped = text.strip()
    if annotation is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise ConfigError(source, key, f"not true or false (got {_show(text)})")
    if annotation is int:
        try:
            return int(stripped)
        except ValueError:
            raise ConfigError(source, key, f"not a whole number (got {_show(text)})") from None
    if annotation is float:
        try:
            return float(stripped)
        except ValueError:
            raise ConfigError(source, key, f"not a number (got {_show(text)})") from None
    if origin is tuple:
        item_type = get_args(annotation)[0]
        items = [item.strip() for item in text.split(",") if item.strip()]
        return tuple(_from_text(item, _base_type(item_type), source, key) for item in items)
    if origin is Literal:
        for choice in get_args(annotation):
            if str(choice).lower() == stripped.lower():
                return choice
        try:
            return int(stripped)  # so the error shows 100, not '100'
        except ValueError:
            return stripped
    return text


def _base_type(annotation: Any) -> Any:
    """`Annotated[int, ...]` -> `int` (tuple items keep their constraints in the args)."""
    args = get_args(annotation)
    return args[0] if args and hasattr(annotation, "__metadata__") else annotation


def _validate(
    data: dict[str, Any],
    origins: Mapping[str, str],
    layer_source: str,
    texts: Mapping[str, str] | None = None,
) -> Settings:
    """Validate everything so far; blame the first problem on whoever set that key.

    `texts` holds what the user typed for keys that came in as text, so the
    message echoes "-1" rather than the converted -1.0.
    """
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"] if isinstance(part, str))
        source = origins.get(key, layer_source)
        typed = (texts or {}).get(key)
        value = first["input"]
        converted = typed is not None and not isinstance(value, str) and len(first["loc"]) <= 2
        shown = _show(typed.strip(), quote=False) if converted and typed else _show(value)
        raise ConfigError(source, key, _describe(first, shown)) from None


def _describe(error: ErrorDetails, shown: str) -> str:
    """A short human phrase for one pydantic error."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = f"(got {shown})"
    bounds = {
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be less than", "lt"),
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be greater than", "gt"),
    }
    if kind in bounds:
        phrase, name = bounds[kind]
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


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: object, *, quote: bool = True) -> str:
    shown = repr(value) if isinstance(value, str) and quote else str(value)
    shown = _one_line(shown)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


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


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for name, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        else:
            into[name] = dict(value) if isinstance(value, Mapping) else value
