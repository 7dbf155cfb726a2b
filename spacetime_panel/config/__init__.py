"""Settings: the typed model and its loading from defaults, file, environment and flags."""

from spacetime_panel.config.loading import (
    ConfigError,
    Override,
    default_config_path,
    load_settings,
)
from spacetime_panel.config.settings import (
    ApiSettings,
    GodotSettings,
    LoggingSettings,
    PortSettings,
    ProbeSettings,
    Settings,
    SupervisorSettings,
    TelemetrySettings,
)
from spacetime_panel.config.writing import save_settings

__all__ = [
    "ApiSettings",
    "ConfigError",
    "GodotSettings",
    "LoggingSettings",
    "Override",
    "PortSettings",
    "ProbeSettings",
    "Settings",
    "SupervisorSettings",
    "TelemetrySettings",
    "default_config_path",
    "load_settings",
    "save_settings",
]
