"""Service definitions: systemd (system and user), supervisord, NSSM (Windows)."""

from __future__ import annotations

import shlex
from pathlib import PureWindowsPath

from spacetime_panel.deploy.command_line import (
    serve_arguments,
    stop_wait_seconds,
    supervisord_command,
    supervisord_environment,
    supervisord_value,
    systemd_path,
    systemd_word,
)
from spacetime_panel.deploy.context import DeployContext, DeployError, RenderedFile

#: Where the system unit reads the keys from (root-only, KEY=value lines).
ENVIRONMENT_FILE = "/etc/spacetime-panel/panel.env"
#: The file supervisord writes serve's stdout and stderr to, in the log folder
#: (logrotate rotates it; the panel rotates its own logs).
SERVE_OUTPUT_LOG = "serve-output.log"
#: The exit code of a configuration error: restarting would fail the same way.
EXIT_USAGE = 2


def _exec_start(context: DeployContext, *, headless: bool) -> str:
    words = [context.executable.as_posix(), *serve_arguments(context, headless=headless)]
    return " \\\n    ".join(_pairs([systemd_word(w) for w in words]))


def _pairs(words: list[str]) -> list[str]:
    """Words grouped one flag and its value to a line."""
    lines: list[str] = []
    for word in words:
        follows_flag = lines and lines[-1].startswith("-") and " " not in lines[-1]
        if lines and ((follows_flag and not word.startswith("-")) or word == "serve"):
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def render_systemd(context: DeployContext) -> list[RenderedFile]:
    """A system unit (`/etc/systemd/system/`) running `serve` as `context.user`."""
    settings = context.settings
    api, stop = f"{settings.api.host}:{settings.api.port}", f"{settings.supervisor.stop_timeout:g}"
    text = f"""\
# systemd unit for `spacetime-panel serve`, the headless supervisor
# (made by `spacetime-panel deploy systemd`; replaces the guide's spacetime-server.service).
# Install: sudo cp spacetime-panel.service /etc/systemd/system/
#          sudo systemctl daemon-reload && sudo systemctl enable --now spacetime-panel
# A system service has no display, so the game runs --headless (its autoloads and
# the bridge still run), or on serve's own virtual display with `-- --xvfb`.
# For a game with a window on your desktop, use the systemd-user unit instead.
[Unit]
Description=SpaceTime Panel (Godot supervisor and management API on {api})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={context.user}
WorkingDirectory={systemd_path(context.project.as_posix())}
# The keys, never written here: a root-only file (chmod 600) with lines such as
# SPACETIME_API_KEY=... (the bridge's) and SPACETIME_PANEL_API_KEY=... (the API's).
EnvironmentFile=-{ENVIRONMENT_FILE}
ExecStart={_exec_start(context, headless=True)}
# SIGTERM goes to the panel only: it stops Godot (SIGTERM, then SIGKILL after
# {stop} s) and exits 0. Whatever is left when TimeoutStopSec runs out
# (longer than that stop timeout) gets SIGKILL.
KillMode=mixed
TimeoutStopSec={stop_wait_seconds(settings)}
Restart=on-failure
RestartSec=10
# Exit 2 is a configuration error: restarting would fail the same way.
RestartPreventExitStatus={EXIT_USAGE}
# Hardening (checked with systemd-analyze verify). /usr, /boot and /etc are
# read-only; the project, the log folder and the user's home stay writable
# (Godot writes PROJECT/.godot and its user:// data).
NoNewPrivileges=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectSystem=full
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
UMask=0027

[Install]
WantedBy=multi-user.target
"""
    return [RenderedFile("spacetime-panel.service", text)]


def render_systemd_user(context: DeployContext) -> list[RenderedFile]:
    """A `systemctl --user` unit: the panel in a workstation's graphical session."""
    settings = context.settings
    api, stop = f"{settings.api.host}:{settings.api.port}", f"{settings.supervisor.stop_timeout:g}"
    text = f"""\
# systemd user unit for `spacetime-panel serve` in your graphical session
# (made by `spacetime-panel deploy systemd-user`): Godot opens its window on your display.
# Install: cp spacetime-panel.service ~/.config/systemd/user/
#          systemctl --user daemon-reload && systemctl --user enable --now spacetime-panel
# The display comes from the session, never from this file: the unit inherits
# DISPLAY, WAYLAND_DISPLAY and XAUTHORITY from the user manager. Desktop sessions
# import them when they start; if yours does not, run once per login (e.g. in
# your session's autostart):
#   systemctl --user import-environment DISPLAY WAYLAND_DISPLAY XAUTHORITY
# The keys come from your keyring (`spacetime-panel keys generate panel`) or from
# the optional file below (KEY=value lines, chmod 600).
[Unit]
Description=SpaceTime Panel (Godot supervisor and management API on {api})
After=graphical-session.target
PartOf=graphical-session.target

[Service]
Type=simple
WorkingDirectory={systemd_path(context.project.as_posix())}
EnvironmentFile=-%h/.config/spacetime-panel/panel.env
ExecStart={_exec_start(context, headless=False)}
# SIGTERM goes to the panel only: it stops Godot (SIGTERM, then SIGKILL after
# {stop} s) and exits 0; what is left after TimeoutStopSec gets SIGKILL.
KillMode=mixed
TimeoutStopSec={stop_wait_seconds(settings)}
Restart=on-failure
RestartSec=10
RestartPreventExitStatus={EXIT_USAGE}

[Install]
WantedBy=graphical-session.target
"""
    return [RenderedFile("spacetime-panel.service", text)]


def render_supervisord(context: DeployContext) -> list[RenderedFile]:
    """A supervisord `[program:spacetime-panel]`."""
    settings = context.settings
    stop = f"{settings.supervisor.stop_timeout:g}"
    command = supervisord_command(
        [context.executable.as_posix(), *serve_arguments(context, headless=True)]
    )
    output = supervisord_value((context.log_dir / SERVE_OUTPUT_LOG).as_posix())
    user, log_dir = context.user, supervisord_value(shlex.quote(context.log_dir.as_posix()))
    text = f"""\
; supervisord program for `spacetime-panel serve`, the headless supervisor
; (made by `spacetime-panel deploy supervisord`; replaces the guide's spacetime-server).
; Install: create the log folder (supervisord refuses a missing one), copy this file to
; /etc/supervisor/conf.d/, then: supervisorctl reread && supervisorctl update
;   sudo install -d -o {user} {log_dir}
; No display under supervisord, so the game runs --headless (or `-- --xvfb`). Keys come from
; supervisord's own environment or the keyring, never from an environment= line here.
[program:spacetime-panel]
command={command}
directory={supervisord_value(context.project.as_posix())}
user={context.user}
; supervisord switches the user but keeps its own HOME (root's): Godot's user:// data,
; the panel's state folder and the keyring belong in the service user's home.
environment={supervisord_environment(HOME=context.user_home.as_posix(), USER=context.user)}
autostart=true
autorestart=unexpected
; exit 0 is a stop, exit 2 a configuration error that a restart would repeat
exitcodes=0,2
startsecs=10
startretries=3
; Stopping: SIGTERM to the panel alone. The panel stops Godot itself (SIGTERM, then
; SIGKILL after {stop} s) and exits 0. Godot runs in its own process group,
; so stopasgroup/killasgroup would never reach it; they are off so that nothing
; else in the panel's group is signalled behind its back. stopwaitsecs is longer
; than the stop timeout, so supervisord's SIGKILL (which would leave Godot running,
; to be adopted by the next start) only comes if the panel hangs.
stopsignal=TERM
stopwaitsecs={stop_wait_seconds(settings)}
stopasgroup=false
killasgroup=false
; serve's output (the panel's lines, tracebacks); the panel also writes and rotates
; spacetime-panel.log, game.log and editor.log in the same folder. logrotate
; rotates this file (copytruncate), so supervisord does not.
redirect_stderr=true
stdout_logfile={output}
stdout_logfile_maxbytes=0
stdout_logfile_backups=0
"""
    return [RenderedFile("spacetime-panel.conf", text)]


# The NSSM script's defaults when rendered on a machine whose paths are not Windows ones.
WINDOWS_EXECUTABLE = r"C:\spacetime-panel\.venv\Scripts\spacetime-panel.exe"
WINDOWS_PROJECT = r"C:\spacetime-panel\project"
WINDOWS_GODOT = r"C:\Godot\Godot_v4.5.1-stable_win64.exe"
WINDOWS_LOG_DIR = r"C:\spacetime-panel\logs"


def _powershell(text: str) -> str:
    """A PowerShell single-quoted string: nothing inside is expanded; ' is doubled."""
    return "'" + text.replace("'", "''") + "'"


def render_nssm(context: DeployContext) -> list[RenderedFile]:
    """`install-service.ps1`: `serve` as a Windows service with NSSM."""
    settings = context.settings
    if "--xvfb" in context.serve_args or settings.godot.xvfb:
        raise DeployError("--xvfb (godot.xvfb) is for Linux: a Windows service runs --headless")
    api, stop = f"{settings.api.host}:{settings.api.port}", f"{settings.supervisor.stop_timeout:g}"
    on_windows = bool(PureWindowsPath(str(context.executable)).drive)
    if on_windows:
        executable, project, godot, log_dir = (
            str(context.executable),
            str(context.project),
            context.godot,
            str(context.log_dir),
        )
        origin = "this machine's paths"
    else:
        executable, project, godot, log_dir = (
            WINDOWS_EXECUTABLE,
            WINDOWS_PROJECT,
            WINDOWS_GODOT,
            WINDOWS_LOG_DIR,
        )
        origin = "example paths (rendered off Windows): pass -Executable, -Project, -Godot, -LogDir"
    # serve's arguments other than the four paths, which the script's parameters give.
    fixed = serve_arguments(context, headless=True)
    head, tail = fixed[: fixed.index("--godot-path")], fixed[fixed.index("--log-dir") + 2 :]
    stop_ms = stop_wait_seconds(settings) * 1000
    text = f"""\
# Installs `spacetime-panel serve` as a Windows service with NSSM (https://nssm.cc)
# (made by `spacetime-panel deploy nssm`; replaces the guide's NSSM steps).
# Run in an elevated PowerShell:  .\\install-service.ps1
# Defaults: {origin}.
# A service has no desktop, so the game runs --headless.
# Keys: from the environment or the Windows Credential Manager (keyring). The service
# runs as LocalSystem unless you set an account; to use the keys you stored with
# `spacetime-panel keys generate panel`, run it as that user:
#   nssm set SpaceTimePanel ObjectName .\\{context.user} PASSWORD
# Never put a key in AppEnvironmentExtra: it would sit in the registry in clear.
param(
  [string]$Executable = {_powershell(executable)},
  [string]$Project = {_powershell(project)},
  [string]$Godot = {_powershell(godot)},
  [string]$LogDir = {_powershell(log_dir)},
  [string]$ServiceName = 'SpaceTimePanel'
)
$ErrorActionPreference = 'Stop'
$nssm = (Get-Command nssm).Source

# One command-line argument, quoted the way Windows programs split them.
function ConvertTo-Argument([string]$Value) {{
  if ($Value -ne '' -and $Value -notmatch '[\\s"]') {{ return $Value }}
  $escaped = ($Value -replace '(\\\\*)"', '$1$1\\"') -replace '(\\\\+)$', '$1$1'
  return '"' + $escaped + '"'
}}

$arguments = @(
  {", ".join(_powershell(a) for a in head)},
  '--godot-path', $Godot,
  '--project-path', $Project,
  '--log-dir', $LogDir{"".join(", " + _powershell(a) for a in tail)}
)
$parameters = ($arguments | ForEach-Object {{ ConvertTo-Argument $_ }}) -join ' '

New-Item -ItemType Directory -Force -Path $LogDir | Out-Null
& $nssm install $ServiceName $Executable
# NSSM keeps the arguments in the registry; writing them there avoids PowerShell's
# re-quoting of arguments that contain quotes.
Set-ItemProperty -Path "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\$ServiceName\\Parameters" `
  -Name AppParameters -Value $parameters
& $nssm set $ServiceName AppDirectory $Project
& $nssm set $ServiceName DisplayName 'SpaceTime Panel'
& $nssm set $ServiceName Description 'Godot supervisor and management API on {api}'
& $nssm set $ServiceName Start SERVICE_AUTO_START
# Stopping: Ctrl+C first; the panel stops Godot (after at most {stop} s) and exits.
& $nssm set $ServiceName AppStopMethodConsole {stop_ms}
& $nssm set $ServiceName AppStopMethodWindow 5000
& $nssm set $ServiceName AppStopMethodThreads 5000
& $nssm set $ServiceName AppKillProcessTree 1
# Exit 0 is a stop, exit 2 a configuration error: only other exits restart.
& $nssm set $ServiceName AppExit Default Restart
& $nssm set $ServiceName AppExit 0 Exit
& $nssm set $ServiceName AppExit {EXIT_USAGE} Exit
& $nssm set $ServiceName AppRestartDelay 10000
# serve's output; the panel writes and rotates spacetime-panel.log and game.log itself.
& $nssm set $ServiceName AppStdout (Join-Path $LogDir '{SERVE_OUTPUT_LOG}')
& $nssm set $ServiceName AppStderr (Join-Path $LogDir '{SERVE_OUTPUT_LOG}')
& $nssm set $ServiceName AppRotateFiles 1
& $nssm set $ServiceName AppRotateOnline 1
& $nssm set $ServiceName AppRotateBytes 52428800
& $nssm start $ServiceName
"""
    return [RenderedFile("install-service.ps1", text)]
