"""The typed settings model. Defaults are the deployment guide's values.

One model per area, keyword-only, frozen; unknown keys are errors so that a
typo in a config file is reported instead of silently ignored. Secrets never
live here: the bridge API key comes from the environment (or, later, the OS
keyring) and is passed to Godot at launch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0)]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class _Area(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class GodotSettings(_Area):
    """What to launch and where."""

    executable: str = "godot"
    project_path: Path | None = None
    scene_path: str = "res://vr_main.tscn"
    auto_load_scene: bool = False
    launch_game: bool = True
    launch_editor: bool = False
    headless: bool = False
    #: Start a virtual X display (Xvfb) for Godot when DISPLAY is unset (Linux).
    xvfb: bool = False
    extra_args: tuple[str, ...] = ()
    #: Hosts besides loopback that may receive the bridge key (a game on another
    #: machine the user approved); the key is never sent anywhere else.
    bridge_key_hosts: tuple[str, ...] = ()


class PortSettings(_Area):
    """The service ports of DESIGN.md's port table (the management API's is in `api`)."""

    http: Port = 8080
    http_fallbacks: tuple[Port, ...] = (8083, 8084, 8085)
    telemetry: Port = 8081
    dap: Port = 6006
    lsp: Port = 6005
    discovery: Port = 8087


class SupervisorSettings(_Area):
    """Timeouts and the restart policy (DESIGN.md, Supervisor)."""

    start_timeout: Seconds = 60.0
    stop_timeout: Seconds = 10.0
    check_interval: Seconds = 30.0
    unhealthy_threshold: Annotated[int, Field(ge=1)] = 3
    max_restart_attempts: Annotated[int, Field(ge=1)] = 3
    failure_window: Seconds = 300.0
    #: The wait before restarting after the first failure in `failure_window`
    #: (systemd's `RestartSec` default); later failures wait `backoff_initial`,
    #: doubling up to `backoff_max`: 0.1 s, 1 s, 2 s, 4 s ...
    first_backoff: Seconds = 0.1
    backoff_initial: Seconds = 1.0
    backoff_max: Seconds = 30.0
    auto_restart: bool = True
    player_timeout: Seconds = 30.0
    request_timeout: Seconds = 10.0
    stop_godot_on_exit: bool = True
    log_tail_lines: Annotated[int, Field(ge=10)] = 2000


class ProbeSettings(_Area):
    """How often the port table is checked (issue: observability)."""

    check_interval: Seconds = 2.0
    #: Full LSP handshakes open a client session inside the Godot editor: at most this often.
    handshake_interval: Seconds = 30.0
    timeout: Seconds = 2.0
    #: A Godot editor that has just opened can take seconds to answer its first LSP
    #: `initialize`; a shorter wait would show it as degraded.
    lsp_timeout: Seconds = 10.0
    #: A degraded row (accepted but no valid answer) is handshaken again this soon,
    #: not at the next `handshake_interval`.
    degraded_recheck: Seconds = 5.0
    #: A DAP `initialize` clears the editor's breakpoints (unless it syncs them): off.
    dap_handshake: bool = False


class ApiSettings(_Area):
    """The management API (this product's own HTTP server)."""

    host: str = "127.0.0.1"
    port: Port = 8090
    require_auth: bool = False
    rate_limit_enabled: bool = True
    rate_limit_per_minute: Annotated[int, Field(ge=1)] = 60
    max_request_size_mb: Annotated[float, Field(gt=0)] = 10.0
    allowed_origins: tuple[str, ...] = ()
    #: Host header names accepted besides the loopback ones while bound to loopback
    #: (DNS-rebinding defence); e.g. the name a reverse proxy forwards.
    allowed_hosts: tuple[str, ...] = ()
    #: Peers (IP addresses or networks) whose X-Forwarded-For is believed; none by default.
    trusted_proxies: tuple[str, ...] = ()
    #: Serve HTTPS directly with this certificate and private key (PEM); None: plain HTTP.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: One line per mutating call (who, what, result; never a key) to audit.log.
    audit_log: bool = True
    #: Seconds a client has to send a whole request (head and body), counted from
    #: connecting or from the previous answer; a slower one is disconnected.
    request_timeout: Seconds = 20.0
    metrics_enabled: bool = True


class TelemetrySettings(_Area):
    enabled: bool = True
    refresh_rate_hz: Literal[72, 90, 120, 144] = 90


class LoggingSettings(_Area):
    level: LogLevel = "INFO"
    debug_mode: bool = False
    directory: Path | None = None
    max_bytes: Annotated[int, Field(ge=1024)] = 50 * 1024 * 1024
    backup_count: Annotated[int, Field(ge=0)] = 10


class Settings(_Area):
    """Everything the supervisor needs, one area per concern."""

    godot: GodotSettings = GodotSettings()
    ports: PortSettings = PortSettings()
    supervisor: SupervisorSettings = SupervisorSettings()
    probes: ProbeSettings = ProbeSettings()
    api: ApiSettings = ApiSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    logging: LoggingSettings = LoggingSettings()
    state_dir: Path | None = None
