# Windows service with NSSM (as in the deployment guide), running the panel headless.
param(
  [string]$Venv = "C:\spacetime\.venv",
  [string]$Godot = "C:\Godot\Godot_v4.5.1-stable_win64.exe",
  [string]$Project = "C:\spacetime\project"
)
nssm install SpaceTimePanel "$Venv\Scripts\spacetime-panel.exe" `
  "serve" "--port" "8090" "--godot-path" "$Godot" "--project-path" "$Project" "--auto-load-scene"
nssm set SpaceTimePanel DisplayName "SpaceTime Panel"
nssm set SpaceTimePanel Description "Godot supervisor and management API for SpaceTime VR"
nssm set SpaceTimePanel Start SERVICE_AUTO_START
nssm set SpaceTimePanel AppStopMethodConsole 30000
nssm start SpaceTimePanel
