"""The doctor's checks of Python, packages, Godot, the project, the keyring and files.

Each returns a `Check` (report.py), fast, never hanging. Nothing here imports
Qt (see qt_libraries.py) and nothing launches Godot: its `--version` is all
that runs, under a timeout.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from spacetime_panel.config import Settings
from spacetime_panel.config.loading import APP_NAME
from spacetime_panel.doctor.report import Check

#: Seconds `godot --version` may take (a real Godot answers in well under one).
GODOT_VERSION_TIMEOUT = 10.0
#: The oldest Godot the bridge addon runs on.
MINIMUM_GODOT = (4, 5)
MINIMUM_PYTHON = (3, 11)
#: The version the pin keeps out, and why.
PYSIDE_DISTRIBUTION = "PySide6-Essentials"
PYSIDE_CRASH = "PySide6 6.12.0 crashes under qasync after about a thousand socket events"
#: The packages whose versions the doctor reports (the rest are only checked against the pins).
REPORTED_PACKAGES = ("pyqtgraph", "qasync", "fastapi", "keyring")

# "4.5.stable.official.876b29033", "3.2.3.stable.custom_build", "4.5.1.stable.sim"
_GODOT_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?\.[A-Za-z]\w*")


@dataclass(frozen=True)
class DoctorInputs:
    """What the checks look at: the settings and how they came about."""

    settings: Settings
    #: `--demo`: the simulator is the Godot, the bundled demo project the project.
    demo: bool = False
    #: `--godot-path` / `--project-path` were given (they win over --demo).
    godot_given: bool = False
    project_given: bool = False
    #: The config file read (or that would be read), and whether it was named explicitly.
    config_file: Path | None = None
    config_explicit: bool = False
    #: Why the config (file, environment or flags) could not be loaded; None when it loaded.
    config_problem: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


# -- Python and packages --


def python_check() -> Check:
    version = ".".join(str(part) for part in sys.version_info[:3])
    detail = f"Python {version} ({sys.executable})"
    if sys.version_info[:2] < MINIMUM_PYTHON:
        wanted = ".".join(map(str, MINIMUM_PYTHON))
        return Check("python", "error", f"{detail} is too old", f"use Python {wanted} or newer")
    return Check("python", "ok", detail)


def _requirements() -> dict[str, Any]:
    """This package's own requirements, by normalised name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, Any] = {}
    for line in importlib.metadata.requires("spacetime-panel") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            found[canonicalize_name(requirement.name)] = requirement
    return found


def pyside_check() -> Check:
    """PySide6-Essentials installed and inside the pin (6.12 is kept out: it crashes)."""
    from packaging.version import Version

    try:
        version = importlib.metadata.version(PYSIDE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return Check(
            "pyside6",
            "error",
            f"{PYSIDE_DISTRIBUTION} is not installed: the desktop panel cannot open",
            f"pip install '{PYSIDE_DISTRIBUTION}>=6.8,<6.12'",
        )
    requirement = _requirements().get("pyside6-essentials")
    spec = str(requirement.specifier) if requirement is not None else ">=6.8,<6.12"
    if requirement is not None and not requirement.specifier.contains(version, prereleases=True):
        known = f" ({PYSIDE_CRASH})" if Version(version) >= Version("6.12") else ""
        return Check(
            "pyside6",
            "error",
            f"{PYSIDE_DISTRIBUTION} {version} is outside the pin {spec}{known}",
            f"pip install '{PYSIDE_DISTRIBUTION}{spec}'",
        )
    return Check("pyside6", "ok", f"{PYSIDE_DISTRIBUTION} {version} (pin {spec})")


def packages_check() -> Check:
    """Every declared dependency installed within its pin; the GUI's and API's versions shown."""
    from packaging.utils import canonicalize_name

    wrong: list[str] = []
    for name, requirement in _requirements().items():
        if name == "pyside6-essentials":
            continue  # its own line
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{requirement.name} is missing")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement.name} {version} is outside {requirement.specifier}")
    shown: list[str] = []
    for name in REPORTED_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            shown.append(f"{name} {importlib.metadata.version(canonicalize_name(name))}")
    if wrong:
        return Check(
            "packages",
            "error",
            "; ".join(wrong),
            "pip install --upgrade spacetime-panel (or pip install -e . in a checkout)",
        )
    return Check("packages", "ok", ", ".join(shown))


# -- Godot --


def parse_godot_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) from `godot --version`'s output (its first version-like line)."""
    for line in text.splitlines():
        match = _GODOT_VERSION.match(line.strip())
        if match:
            return int(match[1]), int(match[2]), int(match[3] or 0)
    return None


def godot_version_output(executable: str, timeout: float = GODOT_VERSION_TIMEOUT) -> str:
    """What `EXECUTABLE --version` prints (stdout, then stderr). Raises OSError, or
    subprocess.TimeoutExpired after killing it and anything it started (its own
    process group, so a child holding the pipes cannot make this wait)."""
    process = subprocess.Popen(
        [executable, "--version"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=os.name == "posix",
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if os.name == "posix":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        process.kill()
        process.communicate()
        raise
    return f"{stdout}\n{stderr}"


def godot_check(inputs: DoctorInputs) -> Check:
    """The Godot executable (or the simulator under --demo) exists and is 4.5+."""
    from spacetime_panel.godot.commands import SIMULATOR_SCRIPT, simulator_executable

    configured = inputs.settings.godot.executable
    simulated = inputs.demo and not inputs.godot_given
    if simulated:
        try:
            configured = simulator_executable()
        except FileNotFoundError as error:
            return Check("godot", "error", str(error), "pip install spacetime-panel")
    found = shutil.which(configured)
    if found is None:
        where = "not found" if os.sep in configured else "not on PATH"
        return Check(
            "godot",
            "error",
            f"Godot {configured!r} {where}",
            "install Godot 4.5+ and pass --godot-path PATH (or set godot.executable "
            "in the config), or try --demo (the simulated Godot)",
        )
    what = f"simulator {SIMULATOR_SCRIPT}" if simulated else "Godot"
    try:
        output = godot_version_output(found, GODOT_VERSION_TIMEOUT)
    except subprocess.TimeoutExpired:
        return Check(
            "godot",
            "warning",
            f"{found} --version did not answer within {GODOT_VERSION_TIMEOUT:g} s",
            "check that it is Godot (run it by hand with --version)",
        )
    except OSError as error:
        return Check(
            "godot", "error", f"cannot run {found}: {error.strerror or error}", "--godot-path"
        )
    version = parse_godot_version(output)
    first_line = next((line for line in output.splitlines() if line.strip()), "").strip()
    if version is None:
        return Check(
            "godot",
            "warning",
            f"{found} --version printed {first_line[:80]!r}, not a Godot version",
            "check --godot-path points at Godot 4.5+",
        )
    if version[:2] < MINIMUM_GODOT:
        minimum = ".".join(map(str, MINIMUM_GODOT))
        return Check(
            "godot",
            "error",
            f"Godot {version[0]}.{version[1]} is too old: the bridge addon needs {minimum}+ "
            f"({found}: {first_line})",
            f"install Godot {minimum}+ (godotengine.org/download) and pass --godot-path PATH",
        )
    note = " (the simulated Godot of --demo)" if simulated else ""
    return Check("godot", "ok", f"{what} {first_line} at {found}{note}")


# -- the project and the addon --


def project_checks(inputs: DoctorInputs) -> list[Check]:
    """The project folder (a project.godot that parses), then the addon in it."""
    from spacetime_panel.godot.addon import packaged_addon, plugin_version
    from spacetime_panel.godot.commands import demo_project

    project = inputs.settings.godot.project_path
    if inputs.demo and not inputs.project_given:
        version = plugin_version((packaged_addon() / "plugin.cfg").read_text(encoding="utf-8"))
        return [
            Check("project", "ok", f"the bundled demo project ({demo_project()}), copied at start"),
            Check("addon", "ok", f"the packaged bridge addon {version}, installed at start"),
        ]
    if project is None:
        project = Path.cwd()
    fix = "pass --project-path FOLDER (the folder with project.godot), or try --demo"
    if not project.is_dir():
        return [Check("project", "error", f"project folder {project} does not exist", fix)]
    project_godot = project / "project.godot"
    if not project_godot.is_file():
        return [
            Check("project", "error", f"{project} is not a Godot project: no project.godot", fix)
        ]
    from spacetime_panel.godot.project_file import ProjectFile, packed_strings, unquote

    try:
        parsed = ProjectFile.read(project_godot)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return [Check("project", "error", f"cannot read {project_godot}: {error}", fix)]
    name_entry = parsed.entry("application", "config/name")
    features_entry = parsed.entry("application", "config/features")
    name = unquote(name_entry.value) if name_entry is not None else project.name
    features = packed_strings(features_entry.value) if features_entry is not None else None
    godot_feature = next((f for f in features or [] if re.fullmatch(r"\d+\.\d+", f)), None)
    detail = f"{name!r} at {project}" + (f" (Godot {godot_feature})" if godot_feature else "")
    found = [Check("project", "ok", detail)]
    if godot_feature is not None and tuple(map(int, godot_feature.split("."))) < MINIMUM_GODOT:
        found = [
            Check(
                "project",
                "warning",
                f"{detail} was saved by an older Godot",
                "open it once in Godot 4.5+ to convert it",
            )
        ]
    return [*found, addon_check(project, parsed)]


def addon_check(project: Path, parsed: Any) -> Check:
    """The bridge addon in `project`: installed, as new as the packaged one, its autoload on."""
    from spacetime_panel.godot.addon import (
        ADDON_FOLDER,
        AUTOLOAD_NAME,
        AUTOLOAD_PATH,
        install_command,
        packaged_addon,
        plugin_version,
        version_key,
    )
    from spacetime_panel.godot.project_file import unquote

    fix = install_command(project)
    packaged = plugin_version((packaged_addon() / "plugin.cfg").read_text(encoding="utf-8"))
    addon_dir = project / ADDON_FOLDER
    if not addon_dir.is_dir():
        return Check(
            "addon",
            "warning",
            f"the bridge addon is not installed in {project}: Godot runs, but the panel "
            f"cannot see inside the game (no scene control, no telemetry)",
            fix,
        )
    try:
        installed = plugin_version((addon_dir / "plugin.cfg").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        installed = ""
    if not installed:
        return Check("addon", "warning", f"{addon_dir} has no readable plugin.cfg version", fix)
    if version_key(installed) < version_key(packaged):
        return Check(
            "addon",
            "warning",
            f"the bridge addon {installed} is older than this panel's {packaged}",
            fix,
        )
    if version_key(installed) > version_key(packaged):
        return Check(
            "addon",
            "warning",
            f"the bridge addon {installed} is newer than this panel's {packaged}",
            "pip install --upgrade spacetime-panel",
        )
    autoload = parsed.entry("autoload", AUTOLOAD_NAME)
    if autoload is None or unquote(autoload.value).lstrip("*") != AUTOLOAD_PATH:
        return Check(
            "addon",
            "warning",
            f"the bridge addon {installed} is installed but the {AUTOLOAD_NAME} autoload "
            "is not declared in project.godot",
            fix,
        )
    if not unquote(autoload.value).startswith("*"):
        return Check(
            "addon",
            "warning",
            f"the {AUTOLOAD_NAME} autoload is disabled in project.godot",
            fix,
        )
    return Check("addon", "ok", f"the bridge addon {installed} (current), autoload enabled")


# -- keyring, config, logs --


def keyring_check() -> Check:
    """The keyring backend and whether it is usable; never reads a secret (no prompt)."""
    from spacetime_panel.secrets import SECRETS, SecretStore

    try:
        store = SecretStore(timeout=5.0)
    except Exception as error:  # a broken backend module raises on selection
        return Check("keyring", "warning", f"the keyring could not be opened: {error}", "")
    reason = store.unavailable_reason()
    from_environment = [s.variable for s in SECRETS if os.environ.get(s.variable)]
    if reason is not None:
        variables = ", ".join(s.variable for s in SECRETS)
        given = (
            f" ({', '.join(from_environment)} set in the environment)" if from_environment else ""
        )
        return Check(
            "keyring",
            "warning",
            f"{reason} [{store.backend_name}]{given}",
            "Debian: sudo apt install gnome-keyring (in a desktop session), or export "
            f"the keys instead ({variables})",
        )
    extra = f"; {', '.join(from_environment)} from the environment" if from_environment else ""
    detail = f"{store.backend_label} ({store.backend_name}){extra}"
    if store.backend_label == "SecretService":
        state = secret_service_state()
        if state == "locked":
            return Check(
                "keyring",
                "warning",
                f"{detail}: the default keyring is locked; reading a key asks for its "
                "password, and serve stops when nobody can answer",
                "unlock it (log in to the desktop, or open Passwords and Keys), or export "
                "the keys instead",
            )
        if state == "missing":
            return Check(
                "keyring",
                "warning",
                f"{detail}: there is no default keyring yet; storing a key asks to create one",
                "create it in a desktop session (Passwords and Keys), or export the keys instead",
            )
        if state is not None:
            return Check("keyring", "warning", f"{detail}: {state}", "")
    return Check("keyring", "ok", detail)


def secret_service_state(timeout: float = 5.0) -> str | None:
    """The Secret Service's default collection: None when unlocked, "locked", "missing",
    or what went wrong. Asks D-Bus without unlocking or creating anything (no prompt)."""
    import threading

    outcome: list[str | None] = []

    def ask() -> None:
        try:
            import secretstorage
            from secretstorage.exceptions import ItemNotFoundException

            connection = secretstorage.dbus_init()
            try:
                collection = secretstorage.Collection(connection)  # the "default" alias
                outcome.append("locked" if collection.is_locked() else None)
            except ItemNotFoundException:
                outcome.append("missing")
            finally:
                connection.close()
        except Exception as error:  # any D-Bus trouble is reported, not raised
            outcome.append(f"could not ask the Secret Service ({error})")

    worker = threading.Thread(target=ask, name="doctor keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"the Secret Service did not answer within {timeout:g} s"
    return outcome[0]


def config_check(inputs: DoctorInputs) -> Check:
    path = inputs.config_file
    if inputs.config_problem is not None:
        if inputs.config_explicit and path is not None and not path.is_file():
            fix = "check the path given to --config"
        else:
            where = f"{path}, " if path is not None and path.is_file() else ""
            fix = f"correct the value it names (in {where}the environment or the flags)"
        return Check("config", "error", inputs.config_problem, fix)
    if path is None or not path.is_file():
        return Check("config", "ok", f"no config file ({path}): the defaults apply")
    return Check("config", "ok", f"{path} read")


def log_folder(settings: Settings) -> Path:
    """Where the panel writes its log (the same rule as the service's `Paths`)."""
    return settings.logging.directory or Path(platformdirs.user_log_dir(APP_NAME))


def log_folder_check(settings: Settings) -> Check:
    """The log folder can be written (a file created and deleted), or could be created."""
    folder = log_folder(settings)
    fix = f"make {folder} writable, or pass --log-dir FOLDER"
    if folder.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
                pass
        except OSError as error:
            return Check("logs", "error", f"{folder} is not writable ({error.strerror})", fix)
        return Check("logs", "ok", f"{folder} (writable)")
    if folder.exists():
        return Check("logs", "error", f"{folder} exists and is not a folder", fix)
    parent = _existing_parent(folder)
    if not os.access(parent, os.W_OK | os.X_OK):
        return Check("logs", "error", f"{folder} cannot be created: {parent} is not writable", fix)
    return Check("logs", "ok", f"{folder} (created at start)")


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path(path.absolute().anchor)
