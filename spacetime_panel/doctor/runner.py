"""All the doctor's checks, in the order a user fixes things."""

from __future__ import annotations

from collections.abc import Callable

from spacetime_panel.doctor import display, ports, qt_libraries
from spacetime_panel.doctor.checks import (
    DoctorInputs,
    config_check,
    godot_check,
    keyring_check,
    log_folder_check,
    packages_check,
    project_checks,
    pyside_check,
    python_check,
)
from spacetime_panel.doctor.report import Check


def run_checks(inputs: DoctorInputs) -> list[Check]:
    """Every check, in the order a user fixes things: Python, Qt, display, Godot, project,
    ports, keyring, files. A check that raises is reported as an error, not a crash."""
    steps: list[tuple[str, Callable[[], list[Check] | Check]]] = [
        ("python", python_check),
        ("pyside6", pyside_check),
        ("packages", packages_check),
        ("qt-platform", lambda: qt_libraries.qt_platform_check(inputs.environ)),
        ("display", lambda: display.display_check(inputs.environ, xvfb=inputs.settings.godot.xvfb)),
        ("godot", lambda: godot_check(inputs)),
        ("project", lambda: project_checks(inputs)),
        ("ports", lambda: ports.port_checks(inputs.settings)),
        ("keyring", keyring_check),
        ("config", lambda: config_check(inputs)),
        ("logs", lambda: log_folder_check(inputs.settings)),
    ]
    found: list[Check] = []
    for name, step in steps:
        try:
            result = step()
        except Exception as error:  # a broken check must not hide the others
            result = Check(name, "error", f"the check itself failed: {error!r}", "report this")
        found += result if isinstance(result, list) else [result]
    return found
