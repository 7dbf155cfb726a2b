"""The NSSM script: Windows paths quoted for PowerShell, only what serve supports there.

No PowerShell on this machine (nor in the registries it reaches): the script's
PowerShell is checked by reading it, the values that go into it by these tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from spacetime_panel.deploy.context import DeployContext, DeployError
from spacetime_panel.deploy.services import render_nssm


def windows_context() -> DeployContext:
    return dataclasses.replace(
        DeployContext.reference(),
        executable=Path(r"C:\Program Files\SpaceTime\.venv\Scripts\spacetime-panel.exe"),
        project=Path(r"C:\Users\o'neil\My Game"),
        godot=r"C:\Godot\Godot 4.5.exe",
        log_dir=Path(r"C:\Users\o'neil\AppData\Local\spacetime-panel\Logs"),
        user="o'neil",
        serve_args=("--auto-load-scene", "--scene-path", "res://it's here.tscn"),
    )


def test_windows_paths_are_single_quoted() -> None:
    script = render_nssm(windows_context())[0].text
    assert (
        r"[string]$Executable = 'C:\Program Files\SpaceTime\.venv\Scripts\spacetime-panel.exe'"
        in script
    )
    assert r"[string]$Project = 'C:\Users\o''neil\My Game'" in script
    assert r"[string]$Godot = 'C:\Godot\Godot 4.5.exe'" in script
    assert "'--scene-path', 'res://it''s here.tscn'" in script
    assert "Defaults: this machine's paths." in script


def test_only_what_serve_supports_on_windows() -> None:
    script = render_nssm(windows_context())[0].text
    assert "'--headless'" in script
    for unix_only in ("--xvfb", "systemd", "DISPLAY", "/etc/", "/opt/"):
        assert unix_only not in script
    with pytest.raises(DeployError, match="--xvfb"):
        render_nssm(dataclasses.replace(windows_context(), serve_args=("--xvfb",)))


def test_keys_never_go_into_the_service() -> None:
    script = render_nssm(windows_context())[0].text
    assert "Credential Manager" in script
    assert "API_KEY" not in script
    commands = [line for line in script.splitlines() if line.startswith("& $nssm set")]
    assert not any("AppEnvironment" in line for line in commands)


def test_the_stop_waits_longer_than_the_panels_stop_timeout() -> None:
    script = render_nssm(windows_context())[0].text
    line = next(line for line in script.splitlines() if "AppStopMethodConsole" in line)
    assert int(line.split()[-1]) > 1000 * windows_context().settings.supervisor.stop_timeout


def test_rendered_off_windows_the_paths_are_examples() -> None:
    script = render_nssm(DeployContext.reference())[0].text
    assert "rendered off Windows" in script
    assert r"[string]$Executable = 'C:\spacetime-panel\.venv\Scripts\spacetime-panel.exe'" in script
