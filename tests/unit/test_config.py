"""Settings loading: the guide's defaults, the layer order, both file shapes, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import platformdirs
import pytest

from spacetime_panel.config import (
    ConfigError,
    Override,
    Settings,
    default_config_path,
    load_settings,
)


def load(**kwargs: object) -> Settings:
    """load_settings with nothing from the developer's machine unless a test asks."""
    kwargs.setdefault("environ", {})
    kwargs.setdefault("use_default_file", False)
    return load_settings(**kwargs)  # type: ignore[arg-type]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config_error(**kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert "Traceback" not in message and "pydantic" not in message
    return info.value


# --- defaults -------------------------------------------------------------------------


def test_defaults_are_the_deployment_guides_values() -> None:
    settings = load()
    assert settings.api.port == 8090
    assert settings.ports.http == 8080
    assert settings.ports.telemetry == 8081
    assert settings.ports.dap == 6006
    assert settings.ports.lsp == 6005
    assert settings.ports.discovery == 8087
    assert settings.supervisor.player_timeout == 30
    assert settings.supervisor.max_restart_attempts == 3
    assert settings.supervisor.check_interval == 30
    assert settings.api.metrics_enabled is True
    assert settings.logging.level == "INFO"
    assert settings == Settings()


# --- precedence -----------------------------------------------------------------------


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", "[ports]\nhttp = 9001\n")
    environ = {"SPACETIME_HTTP_PORT": "9002"}
    flag = Override(key="ports.http", value=9003, flag="--http-port")

    assert load().ports.http == 8080
    assert load(config_file=config).ports.http == 9001
    assert load(config_file=config, environ=environ).ports.http == 9002
    assert load(config_file=config, environ=environ, overrides=[flag]).ports.http == 9003


def test_layers_only_touch_the_keys_they_set(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", "[api]\nport = 9100\n")
    settings = load(
        config_file=config,
        environ={"SPACETIME_CHECK_INTERVAL": "5"},
        overrides=[Override(key="godot.headless", value=True, flag="--headless")],
    )
    assert settings.api.port == 9100
    assert settings.api.host == "127.0.0.1"
    assert settings.supervisor.check_interval == 5.0
    assert settings.supervisor.player_timeout == 30
    assert settings.godot.headless is True


def test_string_flag_values_are_converted() -> None:
    settings = load(overrides=[Override(key="api.port", value="9200", flag="--port")])
    assert settings.api.port == 9200


# --- config files ---------------------------------------------------------------------


def test_toml_file_in_our_own_shape(tmp_path: Path) -> None:
    config = write(
        tmp_path / "config.toml",
        """
state_dir = "state"

[godot]
executable = "bin/godot"
project_path = "game"
scene_path = "res://other.tscn"
extra_args = ["--verbose"]

[ports]
http_fallbacks = [9084, 9085]

[supervisor]
failure_window = 60

[telemetry]
refresh_rate_hz = 120

[logging]
level = "warning"
directory = "/var/log/spacetime"
""",
    )
    settings = load(config_file=config)
    assert settings.godot.executable == str(tmp_path / "bin" / "godot")
    assert settings.godot.project_path == tmp_path / "game"
    assert settings.godot.scene_path == "res://other.tscn"
    assert settings.godot.extra_args == ("--verbose",)
    assert settings.ports.http_fallbacks == (9084, 9085)
    assert settings.supervisor.failure_window == 60
    assert settings.telemetry.refresh_rate_hz == 120
    assert settings.logging.level == "WARNING"
    assert settings.logging.directory == Path("/var/log/spacetime")
    assert settings.state_dir == tmp_path / "state"


def test_bare_executable_name_is_left_for_path_lookup(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", '[godot]\nexecutable = "godot4"\n')
    assert load(config_file=config).godot.executable == "godot4"


def test_json_file_in_our_own_shape(tmp_path: Path) -> None:
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"api": {"port": 9300}, "godot": {"project_path": "proj"}}))
    settings = load(config_file=config)
    assert settings.api.port == 9300
    assert settings.godot.project_path == tmp_path / "proj"


GUIDE_PRODUCTION_JSON = {
    "security": {
        "require_auth": True,
        "rate_limit_enabled": True,
        "rate_limit_per_minute": 60,
        "allowed_origins": ["https://spacetime.example.com"],
        "max_request_size_mb": 10,
    },
    "monitoring": {"telemetry_enabled": True, "metrics_enabled": False, "log_level": "INFO"},
    "features": {
        "auto_restart_on_crash": False,
        "max_restart_attempts": 5,
        "health_check_interval_seconds": 15,
    },
}


def test_json_file_in_the_guides_production_shape(tmp_path: Path) -> None:
    config = tmp_path / "production.json"
    config.write_text(json.dumps(GUIDE_PRODUCTION_JSON))
    settings = load(config_file=config)
    assert settings.api.require_auth is True
    assert settings.api.rate_limit_enabled is True
    assert settings.api.rate_limit_per_minute == 60
    assert settings.api.allowed_origins == ("https://spacetime.example.com",)
    assert settings.api.max_request_size_mb == 10
    assert settings.api.metrics_enabled is False
    assert settings.telemetry.enabled is True
    assert settings.logging.level == "INFO"
    assert settings.supervisor.auto_restart is False
    assert settings.supervisor.max_restart_attempts == 5
    assert settings.supervisor.check_interval == 15


def test_unknown_key_in_the_guides_shape_is_named(tmp_path: Path) -> None:
    config = tmp_path / "production.json"
    config.write_text(json.dumps({"security": {"require_authentication": True}}))
    err = config_error(config_file=config)
    assert err.key == "security.require_authentication"
    assert str(err) == f"config file {config}: security.require_authentication: unknown setting"


def test_default_file_is_read_from_the_user_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda *a, **k: str(tmp_path))
    assert default_config_path() == tmp_path / "config.toml"
    assert load(use_default_file=True).api.port == 8090  # no file yet: defaults

    write(tmp_path / "config.toml", "[api]\nport = 9400\n")
    assert load(use_default_file=True).api.port == 9400
    assert load(use_default_file=False).api.port == 8090


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG is Linux's convention")
def test_default_config_path_follows_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "spacetime-panel" / "config.toml"


# --- environment ----------------------------------------------------------------------


def test_spacetime_variables_set_their_keys() -> None:
    settings = load(
        environ={
            "SPACETIME_GODOT_PATH": "/opt/godot/godot",
            "SPACETIME_PROJECT_PATH": "/games/spacetime",
            "SPACETIME_SCENE_PATH": "res://vr_test.tscn",
            "SPACETIME_MANAGER_PORT": "9500",
            "SPACETIME_TELEMETRY_PORT": "9501",
            "SPACETIME_DAP_PORT": "9502",
            "SPACETIME_LSP_PORT": "9503",
            "SPACETIME_DISCOVERY_PORT": "9504",
            "SPACETIME_PLAYER_TIMEOUT": "12.5",
            "SPACETIME_START_TIMEOUT": "90",
            "SPACETIME_STOP_TIMEOUT": "4",
            "SPACETIME_LOG_DIR": "/tmp/logs",
            "SPACETIME_STATE_DIR": "/tmp/state",
        }
    )
    assert settings.godot.executable == "/opt/godot/godot"
    assert settings.godot.project_path == Path("/games/spacetime")
    assert settings.godot.scene_path == "res://vr_test.tscn"
    assert settings.api.port == 9500
    assert (settings.ports.telemetry, settings.ports.dap) == (9501, 9502)
    assert (settings.ports.lsp, settings.ports.discovery) == (9503, 9504)
    assert settings.supervisor.player_timeout == 12.5
    assert settings.supervisor.start_timeout == 90
    assert settings.supervisor.stop_timeout == 4
    assert settings.logging.directory == Path("/tmp/logs")
    assert settings.state_dir == Path("/tmp/state")


def test_generic_variables_reach_every_field() -> None:
    settings = load(
        environ={
            "SPACETIME__SUPERVISOR__FAILURE_WINDOW": "60",
            "SPACETIME__PORTS__HTTP_FALLBACKS": "9001, 9002",
            "SPACETIME__API__ALLOWED_ORIGINS": "https://a.example,https://b.example",
            "SPACETIME__GODOT__HEADLESS": "yes",
            "SPACETIME__TELEMETRY__REFRESH_RATE_HZ": "144",
        }
    )
    assert settings.supervisor.failure_window == 60
    assert settings.ports.http_fallbacks == (9001, 9002)
    assert settings.api.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.godot.headless is True
    assert settings.telemetry.refresh_rate_hz == 144


def test_guide_production_variables() -> None:
    settings = load(
        environ={
            "DEBUG_MODE": "false",
            "LOG_LEVEL": "INFO",
            "ENABLE_TELEMETRY": "true",
            "API_KEY_REQUIRED": "true",
        }
    )
    assert settings.logging.debug_mode is False
    assert settings.logging.level == "INFO"
    assert settings.telemetry.enabled is True
    assert settings.api.require_auth is True


def test_guide_development_variables() -> None:
    settings = load(environ={"DEBUG_MODE": "true", "ENABLE_TELEMETRY": "0"})
    assert settings.logging.debug_mode is True
    assert settings.logging.level == "DEBUG"  # DEBUG_MODE implies it when LOG_LEVEL is unset
    assert settings.telemetry.enabled is False

    settings = load(environ={"DEBUG_MODE": "on", "LOG_LEVEL": "warning"})
    assert settings.logging.level == "WARNING"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("FALSE", False), ("1", True), ("0", False), ("Yes", True), ("off", False)],
)
def test_boolean_spellings(text: str, expected: bool) -> None:
    assert load(environ={"API_KEY_REQUIRED": text}).api.require_auth is expected


def test_simulator_switches_and_the_api_key_are_not_settings() -> None:
    settings = load(
        environ={
            "SPACETIME_API_KEY": "s3cret",
            "SPACETIME_SIM_CRASH_AFTER": "banana",
            "SPACETIME_SIM_HANG": "1",
            "SPACETIME_TEST_TIME_SCALE": "3",
        }
    )
    assert settings == Settings()
    assert "s3cret" not in settings.model_dump_json()


# --- errors ---------------------------------------------------------------------------


def test_port_out_of_range_in_file(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", "[api]\nport = 70000\n")
    err = config_error(config_file=config)
    assert (err.source, err.key) == (f"config file {config}", "api.port")
    assert str(err) == f"config file {config}: api.port: must be at most 65535 (got 70000)"


def test_negative_timeout_from_a_flag() -> None:
    flag = Override(key="supervisor.check_interval", value=-1.0, flag="--check-interval")
    err = config_error(overrides=[flag])
    assert str(err) == (
        "command line --check-interval: supervisor.check_interval: "
        "must be greater than 0 (got -1.0)"
    )


def test_bad_flag_is_blamed_on_the_flag_not_on_a_good_one() -> None:
    flags = [
        Override(key="api.port", value=9000, flag="--port"),
        Override(key="ports.http", value=0, flag="--http-port"),
    ]
    err = config_error(overrides=flags)
    assert err.source == "command line --http-port"
    assert err.key == "ports.http"


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = write(tmp_path / "x.toml", '[godot]\nexectuable = "godot"\n')
    err = config_error(config_file=config)
    assert str(err) == f"config file {config}: godot.exectuable: unknown setting"


def test_bad_boolean_in_environment() -> None:
    err = config_error(environ={"ENABLE_TELEMETRY": "maybe"})
    assert (
        str(err)
        == "environment ENABLE_TELEMETRY: telemetry.enabled: not true or false (got 'maybe')"
    )


def test_non_number_port_in_environment() -> None:
    err = config_error(environ={"SPACETIME_HTTP_PORT": "abc"})
    assert str(err) == "environment SPACETIME_HTTP_PORT: ports.http: not a whole number (got 'abc')"


def test_bad_value_in_environment_names_the_variable() -> None:
    err = config_error(environ={"SPACETIME_CHECK_INTERVAL": "5", "SPACETIME_PLAYER_TIMEOUT": "-1"})
    assert str(err) == (
        "environment SPACETIME_PLAYER_TIMEOUT: supervisor.player_timeout: "
        "must be greater than 0 (got -1)"
    )


def test_refresh_rate_must_be_a_supported_one() -> None:
    err = config_error(environ={"SPACETIME__TELEMETRY__REFRESH_RATE_HZ": "100"})
    assert err.problem == "must be one of 72, 90, 120, 144 (got 100)"


def test_unknown_generic_variable_is_an_error() -> None:
    err = config_error(environ={"SPACETIME__SUPERVISOR__FAILURE_WINDOWS": "60"})
    assert err.source == "environment SPACETIME__SUPERVISOR__FAILURE_WINDOWS"
    assert str(err).endswith("supervisor.failure_windows: unknown setting")


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", '[api]\nport = 8090\nhost = "127.0.0.1\n')
    err = config_error(config_file=config)
    assert str(err).startswith(f"config file {config}: not valid TOML:")
    assert "line 3" in str(err)


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "production.json", '{\n  "security": {\n    "require_auth": ,\n')
    err = config_error(config_file=config)
    assert str(err).startswith(f"config file {config}: not valid JSON:")
    assert "line 3" in str(err)


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    err = config_error(config_file=missing)
    assert str(err) == f"config file {missing}: not found"


def test_area_that_is_not_a_table(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", "api = 5\n")
    err = config_error(config_file=config)
    assert err.key == "api"
    assert "table" in err.problem


def test_probe_intervals_are_settings() -> None:
    settings = load_settings(
        environ={"SPACETIME__PROBES__HANDSHAKE_INTERVAL": "60"}, use_default_file=False
    )
    assert settings.probes.handshake_interval == 60
    assert settings.probes.check_interval == 2.0
    assert settings.probes.dap_handshake is False


# --- layering through pydantic-settings ----------------------------------------------


def test_a_bad_value_in_the_file_is_reported_even_when_a_higher_layer_sets_it(
    tmp_path: Path,
) -> None:
    config = write(tmp_path / "config.toml", "[api]\nport = 70000\n")
    err = config_error(config_file=config, environ={"SPACETIME_MANAGER_PORT": "9000"})
    assert err.source == f"config file {config}"
    assert err.key == "api.port"


def test_the_lower_layer_is_blamed_first_when_two_are_wrong(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", "[api]\nport = 70000\n")
    err = config_error(config_file=config, environ={"SPACETIME_HTTP_PORT": "abc"})
    assert err.source == f"config file {config}"


def test_an_empty_variable_turns_an_optional_setting_off(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", 'state_dir = "state"\n')
    settings = load(config_file=config, environ={"SPACETIME_STATE_DIR": ""})
    assert settings.state_dir is None


def test_debug_mode_outranks_the_files_log_level_but_not_a_flag(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", '[logging]\nlevel = "WARNING"\n')
    assert load(config_file=config, environ={"DEBUG_MODE": "yes"}).logging.level == "DEBUG"
    flag = Override(key="logging.level", value="error", flag="--log-level")
    settings = load(config_file=config, environ={"DEBUG_MODE": "yes"}, overrides=[flag])
    assert settings.logging.level == "ERROR"


def test_a_list_flag_given_as_text_is_split_on_commas() -> None:
    flag = Override(key="ports.http_fallbacks", value="9001, 9002", flag="--http-fallbacks")
    assert load(overrides=[flag]).ports.http_fallbacks == (9001, 9002)


def test_a_variable_naming_a_whole_area_is_an_error() -> None:
    err = config_error(environ={"SPACETIME__API": '{"port": 9000}'})
    assert str(err) == "environment SPACETIME__API: api: is a group of settings, not one setting"


def test_a_variable_reaching_below_a_setting_is_an_unknown_setting() -> None:
    err = config_error(environ={"SPACETIME__API__PORT__NUMBER": "9000"})
    assert str(err) == "environment SPACETIME__API__PORT__NUMBER: api.port.number: unknown setting"


def test_keys_in_the_config_file_are_matched_exactly(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", "[API]\nport = 9000\n")
    assert config_error(config_file=config).key == "API"


def test_a_bad_item_in_a_list_variable_is_blamed_on_the_variable() -> None:
    err = config_error(environ={"SPACETIME__PORTS__HTTP_FALLBACKS": "9001, 99999"})
    assert str(err) == (
        "environment SPACETIME__PORTS__HTTP_FALLBACKS: ports.http_fallbacks: "
        "must be at most 65535 (got 99999)"
    )
