# Installs `spacetime-panel serve` as a Windows service with NSSM (https://nssm.cc)
# (made by `spacetime-panel deploy nssm`; replaces the guide's NSSM steps).
# Run in an elevated PowerShell:  .\install-service.ps1
# Defaults: example paths (rendered off Windows): pass -Executable, -Project, -Godot, -LogDir.
# A service has no desktop, so the game runs --headless.
# Keys: from the environment or the Windows Credential Manager (keyring). The service
# runs as LocalSystem unless you set an account; to use the keys you stored with
# `spacetime-panel keys generate panel`, run it as that user:
#   nssm set SpaceTimePanel ObjectName .\spacetime PASSWORD
# Never put a key in AppEnvironmentExtra: it would sit in the registry in clear.
param(
  [string]$Executable = 'C:\spacetime-panel\.venv\Scripts\spacetime-panel.exe',
  [string]$Project = 'C:\spacetime-panel\project',
  [string]$Godot = 'C:\Godot\Godot_v4.5.1-stable_win64.exe',
  [string]$LogDir = 'C:\spacetime-panel\logs',
  [string]$ServiceName = 'SpaceTimePanel'
)
$ErrorActionPreference = 'Stop'
$nssm = (Get-Command nssm).Source

# One command-line argument, quoted the way Windows programs split them.
function ConvertTo-Argument([string]$Value) {
  if ($Value -ne '' -and $Value -notmatch '[\s"]') { return $Value }
  $escaped = ($Value -replace '(\\*)"', '$1$1\"') -replace '(\\+)$', '$1$1'
  return '"' + $escaped + '"'
}

$arguments = @(
  'serve', '--port', '8090',
  '--godot-path', $Godot,
  '--project-path', $Project,
  '--log-dir', $LogDir, '--headless', '--auto-load-scene'
)
$parameters = ($arguments | ForEach-Object { ConvertTo-Argument $_ }) -join ' '

New-Item -ItemType Directory -Force -Path $LogDir | Out-Null
& $nssm install $ServiceName $Executable
# NSSM keeps the arguments in the registry; writing them there avoids PowerShell's
# re-quoting of arguments that contain quotes.
Set-ItemProperty -Path "HKLM:\SYSTEM\CurrentControlSet\Services\$ServiceName\Parameters" `
  -Name AppParameters -Value $parameters
& $nssm set $ServiceName AppDirectory $Project
& $nssm set $ServiceName DisplayName 'SpaceTime Panel'
& $nssm set $ServiceName Description 'Godot supervisor and management API on 127.0.0.1:8090'
& $nssm set $ServiceName Start SERVICE_AUTO_START
# Stopping: Ctrl+C first; the panel stops Godot (after at most 10 s) and exits.
& $nssm set $ServiceName AppStopMethodConsole 30000
& $nssm set $ServiceName AppStopMethodWindow 5000
& $nssm set $ServiceName AppStopMethodThreads 5000
& $nssm set $ServiceName AppKillProcessTree 1
# Exit 0 is a stop, exit 2 a configuration error: only other exits restart.
& $nssm set $ServiceName AppExit Default Restart
& $nssm set $ServiceName AppExit 0 Exit
& $nssm set $ServiceName AppExit 2 Exit
& $nssm set $ServiceName AppRestartDelay 10000
# serve's output; the panel writes and rotates spacetime-panel.log and game.log itself.
& $nssm set $ServiceName AppStdout (Join-Path $LogDir 'serve-output.log')
& $nssm set $ServiceName AppStderr (Join-Path $LogDir 'serve-output.log')
& $nssm set $ServiceName AppRotateFiles 1
& $nssm set $ServiceName AppRotateOnline 1
& $nssm set $ServiceName AppRotateBytes 52428800
& $nssm start $ServiceName
