"""The SpaceTime bridge addon in a Godot project: is it declared, install it, remove it.

Installing copies the addon shipped inside this package (so it works from a wheel) to
PROJECT/addons/spacetime_bridge and makes three edits to project.godot, as text, leaving
every other byte alone: the `SpaceTimeBridge` autoload, the plugin in
[editor_plugins] `enabled`, and `run/flush_stdout_on_print=true` (Godot buffers stdout
otherwise, and the panel reads the game's log from it). The original project.godot is
copied to project.godot.spacetime-backup first, and what was changed is recorded in
addons/spacetime_bridge/.install.json so that uninstalling reverses exactly those edits
and keeps anything the user changed since.

Every refusal is an `AddonInstallError` with a one-line message, raised before anything
is changed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from spacetime_panel.godot.project_file import (
    Edit,
    ProjectFile,
    packed_append,
    packed_remove,
    packed_strings,
    read_entry,
    unquote,
)

AUTOLOAD_NAME = "SpaceTimeBridge"
AUTOLOAD_PATH = "res://addons/spacetime_bridge/bridge.gd"
PLUGIN_CFG = "res://addons/spacetime_bridge/plugin.cfg"

ADDON_FOLDER = Path("addons", "spacetime_bridge")
BACKUP_NAME = "project.godot.spacetime-backup"
MANIFEST_NAME = ".install.json"
AUTOLOAD_VALUE = f'"*{AUTOLOAD_PATH}"'
FLUSH_KEY = "run/flush_stdout_on_print"
_SKIPPED = {"__pycache__", MANIFEST_NAME}


class AddonInstallError(Exception):
    """Installing or removing the addon was refused or failed; the message is one line
    saying what happened and what to do."""


@dataclass(frozen=True)
class InstallResult:
    project: Path
    version: str
    addon_dir: Path
    files_copied: int
    changes: tuple[str, ...]
    backup: Path | None
    replaced_version: str | None = None

    @property
    def already_installed(self) -> bool:
        return self.files_copied == 0 and not self.changes

    def report(self) -> list[str]:
        """What was done, in a few lines for the terminal."""
        if self.already_installed:
            return [
                f"The SpaceTime bridge addon is already installed (version {self.version}) "
                f"in {self.project}; nothing changed."
            ]
        replaced = f" (replaced {self.replaced_version})" if self.replaced_version else ""
        lines = [f"Installed the SpaceTime bridge addon {self.version}{replaced} in {self.project}"]
        if self.files_copied:
            lines.append(f"  copied {self.files_copied} files to {self.addon_dir}")
        lines += [f"  project.godot: {change}" for change in self.changes]
        if self.backup is not None:
            lines.append(f"  backup of the original project.godot: {self.backup}")
        if self.changes:
            # The editor keeps project settings in memory and would save them over ours.
            lines.append("  Godot editor open on it? Project > Reload Current Project first")
        return lines


@dataclass(frozen=True)
class UninstallResult:
    project: Path
    version: str | None
    removed_dir: Path | None
    changes: tuple[str, ...]
    restored_exactly: bool
    backup: Path | None  # the backup that was kept, None when it was removed or absent

    @property
    def nothing_to_do(self) -> bool:
        return self.removed_dir is None and not self.changes

    def report(self) -> list[str]:
        if self.nothing_to_do:
            return [f"Nothing to uninstall: the SpaceTime bridge addon is not in {self.project}."]
        version = f" {self.version}" if self.version else ""
        lines = [f"Removed the SpaceTime bridge addon{version} from {self.project}"]
        if self.removed_dir is not None:
            lines.append(f"  deleted {self.removed_dir}")
        lines += [f"  project.godot: {change}" for change in self.changes]
        if self.restored_exactly:
            lines.append("  project.godot is the original again, byte for byte; backup removed")
        elif self.backup is not None:
            lines.append(
                f"  project.godot keeps your own edits made since the install; "
                f"the original is still at {self.backup}"
            )
        return lines


@dataclass
class _Manifest:
    version: str = ""
    files: list[str] = field(default_factory=list)
    created_addons_folder: bool = False
    edits: dict[str, Edit] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> _Manifest | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        edits = {}
        for kind, raw in (data.get("edits") or {}).items():
            if (edit := Edit.from_json(raw)) is not None:
                edits[str(kind)] = edit
        files = [f for f in data.get("files") or [] if _inside(f)]
        return cls(
            str(data.get("version", "")), files, bool(data.get("created_addons_folder")), edits
        )

    def to_bytes(self) -> bytes:
        data = {
            "written_by": "spacetime-panel install-addon",
            "version": self.version,
            "files": self.files,
            "created_addons_folder": self.created_addons_folder,
            "edits": {kind: vars(edit) for kind, edit in self.edits.items()},
        }
        return (json.dumps(data, indent=2) + "\n").encode()


def bridge_autoload_declared(project: Path) -> bool:
    """True when PROJECT/project.godot declares the SpaceTimeBridge autoload.

    False when there is no project.godot, no such entry, or the file cannot be read:
    the supervisor only uses this to decide whether to wait for the bridge.
    """
    try:
        return read_entry(project, "autoload", AUTOLOAD_NAME) is not None
    except Exception:  # an odd file must never stop a launch
        return False


def install_command(project: Path) -> str:
    """The command a user runs to install the addon into `project`."""
    return f"spacetime-panel install-addon {shlex.quote(str(project))}"


def packaged_addon() -> Traversable:
    """The addon folder shipped inside this package."""
    return resources.files("spacetime_panel") / "addons" / "spacetime_bridge"


def version_key(version: str) -> tuple[int, ...]:
    """`1.10.2` -> (1, 10, 2), so versions compare as numbers; no digits -> ()."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def plugin_version(text: str) -> str:
    """The `version` of a plugin.cfg's [plugin] section ("" when missing)."""
    entry = ProjectFile(text).entry("plugin", "version")
    return "" if entry is None else unquote(entry.value)


def install_addon(
    project: Path, *, force: bool = False, source: Traversable | None = None
) -> InstallResult:
    """Install (or update) the bridge addon in `project` and enable it in project.godot.

    A second install changes nothing. A newer installed addon is kept unless `force`.
    `source` is the addon folder to install (default: the packaged one).
    """
    project = _checked_project(project)
    files = _addon_files(source or packaged_addon())
    version = plugin_version(files["plugin.cfg"].decode("utf-8", "replace")) or "0"
    addon_dir = project / ADDON_FOLDER
    _check_writable(project, addon_dir)

    if addon_dir.is_symlink():
        if not force:
            raise AddonInstallError(
                f"{addon_dir} is a symbolic link (to a checkout of the addon?): leave it, or "
                f"pass --force to replace the link with the packaged addon"
            )
        addon_dir.unlink()

    manifest_path = addon_dir / MANIFEST_NAME
    old_manifest = _Manifest.read(manifest_path)
    installed = _installed_version(addon_dir)
    if installed is not None and version_key(installed) > version_key(version) and not force:
        raise AddonInstallError(
            f"{addon_dir} holds a newer SpaceTime bridge addon ({installed}) than this "
            f"spacetime-panel ships ({version}): upgrade spacetime-panel, or pass --force "
            f"to replace it"
        )

    project_godot = project / "project.godot"
    original = project_godot.read_bytes()
    edited = ProjectFile.from_bytes(original)
    edits, changes = _enable(edited)
    new_text = edited.to_bytes()

    manifest = old_manifest or _Manifest(created_addons_folder=not addon_dir.parent.exists())
    manifest.version = version
    stale = [name for name in manifest.files if name not in files]
    manifest.files = sorted(files)
    for kind, edit in edits.items():
        first = manifest.edits.get(kind)
        manifest.edits[kind] = edit if first is None else first.again(edit)

    backup = project / BACKUP_NAME
    try:
        if new_text != original and not backup.exists():
            _write_atomically(backup, original, like=project_godot)
        copied = _copy_files(files, addon_dir, stale)
        if not manifest_path.is_file() or manifest_path.read_bytes() != manifest.to_bytes():
            _write_atomically(manifest_path, manifest.to_bytes())
        if new_text != original:
            _write_atomically(project_godot.resolve(), new_text, like=project_godot)
    except OSError as error:
        raise AddonInstallError(
            f"installing into {project} failed ({_reason(error)}); project.godot is unchanged: "
            f"fix that and run the install again"
        ) from error
    return InstallResult(
        project,
        version,
        addon_dir,
        copied,
        tuple(changes),
        backup if backup.exists() else None,
        installed if installed is not None and copied and installed != version else None,
    )


def uninstall_addon(project: Path) -> UninstallResult:
    """Remove the addon folder and reverse our project.godot edits.

    With no edits by the user in between, project.godot is the original byte for byte
    (checked against the backup, which is then deleted). A project without the addon is
    left alone: the result says there was nothing to do.
    """
    project = _checked_project(project)
    addon_dir = project / ADDON_FOLDER
    _check_writable(project, addon_dir)
    manifest = _Manifest.read(addon_dir / MANIFEST_NAME) or _Manifest()
    version = _installed_version(addon_dir)

    project_godot = project / "project.godot"
    original = project_godot.read_bytes()
    edited = ProjectFile.from_bytes(original)
    changes = _disable(edited, manifest.edits)
    new_text = edited.to_bytes()
    removed_dir = addon_dir if addon_dir.exists() or addon_dir.is_symlink() else None
    if removed_dir is None and not changes:
        return UninstallResult(project, None, None, (), False, None)

    backup = project / BACKUP_NAME
    try:
        if new_text != original:
            _write_atomically(project_godot.resolve(), new_text, like=project_godot)
        if removed_dir is not None:
            if addon_dir.is_symlink() or addon_dir.is_file():
                addon_dir.unlink()
            else:
                shutil.rmtree(addon_dir)
            addons = addon_dir.parent
            if manifest.created_addons_folder and not any(addons.iterdir()):
                addons.rmdir()
        restored = backup.is_file() and backup.read_bytes() == new_text
        if restored:
            backup.unlink()
    except OSError as error:
        raise AddonInstallError(
            f"removing the addon from {project} failed ({_reason(error)}): fix that and run "
            f"the uninstall again"
        ) from error
    return UninstallResult(
        project,
        version or manifest.version or None,
        removed_dir,
        tuple(changes),
        restored,
        backup if backup.exists() else None,
    )


# -- checks --


def _checked_project(project: Path) -> Path:
    project = project.expanduser().absolute()
    if not project.exists():
        raise AddonInstallError(f"{project} does not exist: pass a Godot project folder")
    if not project.is_dir():
        raise AddonInstallError(f"{project} is not a folder: pass a Godot project folder")
    if not (project / "project.godot").is_file():
        raise AddonInstallError(
            f"{project} is not a Godot project: no project.godot (pass the folder that holds it)"
        )
    return project


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _check_writable(project: Path, addon_dir: Path) -> None:
    """Refuse up front when anything we would change is read-only. Tries for real (a
    temporary file, an open for writing): permission bits say nothing to root, and
    nothing about read-only mounts or immutable files."""
    ours = (addon_dir.parent, addon_dir)
    folders = [project, *(p for p in ours if p.is_dir() and not p.is_symlink())]
    for folder in folders:
        try:
            handle, name = tempfile.mkstemp(dir=folder, prefix=".spacetime-write-check-")
        except OSError as error:
            raise AddonInstallError(
                f"cannot write in {folder} ({_reason(error)}): make the project writable and "
                f"try again"
            ) from error
        os.close(handle)
        os.unlink(name)
    project_godot = project / "project.godot"
    try:
        with project_godot.open("r+b"):
            pass
    except OSError as error:
        raise AddonInstallError(
            f"cannot write {project_godot} ({_reason(error)}): make it writable and try again"
        ) from error


def _addon_files(source: Traversable) -> dict[str, bytes]:
    """Relative POSIX path -> contents of every file of the packaged addon."""
    files: dict[str, bytes] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for item in folder.iterdir():
            if item.name in _SKIPPED:
                continue
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
            else:
                files[prefix + item.name] = item.read_bytes()

    try:
        if source.is_dir():
            walk(source, "")
    except OSError:
        files.clear()
    if "plugin.cfg" not in files:
        raise AddonInstallError(
            f"this spacetime-panel installation is broken: the bridge addon is missing "
            f"(no plugin.cfg in {source}); reinstall spacetime-panel"
        )
    return files


def _installed_version(addon_dir: Path) -> str | None:
    """The version of the addon in the project, "" when unreadable, None when absent."""
    if not addon_dir.exists():
        return None
    try:
        return plugin_version((addon_dir / "plugin.cfg").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""


# -- project.godot edits --


def _is_ours(value: str) -> bool:
    return unquote(value).lstrip("*") == AUTOLOAD_PATH


def _enable(pf: ProjectFile) -> tuple[dict[str, Edit], list[str]]:
    """Make the three edits that are missing; return them and what to tell the user."""
    plugins = pf.entry("editor_plugins", "enabled")
    if plugins is None:
        enabled = f'PackedStringArray("{PLUGIN_CFG}")'
    elif (items := packed_strings(plugins.value)) is None:
        raise AddonInstallError(
            "cannot read [editor_plugins] enabled= in project.godot (not a "
            "PackedStringArray): fix it in Godot's Project Settings > Plugins and try again"
        )
    else:
        enabled = plugins.value if PLUGIN_CFG in items else packed_append(plugins.value, PLUGIN_CFG)

    edits: dict[str, Edit] = {}
    changes: list[str] = []
    added = f"added {AUTOLOAD_NAME}={AUTOLOAD_VALUE} to"
    for kind, section, key, value, what in (
        ("autoload", "autoload", AUTOLOAD_NAME, AUTOLOAD_VALUE, added),
        ("plugin", "editor_plugins", "enabled", enabled, f"enabled {PLUGIN_CFG} in"),
        ("flush", "application", FLUSH_KEY, "true", f"set {FLUSH_KEY}=true in"),
    ):  # fmt: skip
        edit = pf.set_value(section, key, value)
        if edit is None:
            continue
        edits[kind] = edit
        if edit.created_section:
            what += f" [{section}] (new section)"
        elif edit.before is not None and kind != "plugin":
            what += f" [{section}] (was {edit.before})"
        else:
            what += f" [{section}]"
        changes.append(what)
    return edits, changes


def _disable(pf: ProjectFile, edits: dict[str, Edit]) -> list[str]:
    """Reverse our edits. A value we set and the user has not touched gets its original
    back; our autoload and plugin entry go whatever happened; the rest stays theirs."""
    changes: list[str] = []
    autoload, plugin, flush = (edits.get(kind) for kind in ("autoload", "plugin", "flush"))

    if autoload is not None and pf.undo(autoload):
        changes.append(_undone(autoload))
    elif (entry := pf.entry("autoload", AUTOLOAD_NAME)) is not None and _is_ours(entry.value):
        pf.delete_entry(entry)
        changes.append(f"removed {AUTOLOAD_NAME} from [autoload]")

    entry = pf.entry("editor_plugins", "enabled")
    if entry is not None and PLUGIN_CFG in (packed_strings(entry.value) or []):
        if plugin is None or not pf.undo(plugin):
            remaining = packed_remove(entry.value, PLUGIN_CFG)
            if packed_strings(remaining) == [] and (plugin is None or plugin.before is None):
                pf.delete_entry(entry)
            else:
                pf.replace_entry(entry, remaining)
        changes.append(f"disabled {PLUGIN_CFG} in [editor_plugins]")

    if flush is not None and pf.undo(flush):
        changes.append(_undone(flush))

    for edit in (autoload, plugin, flush):
        if edit is not None:
            pf.drop_created_section(edit)
    return changes


def _undone(edit: Edit) -> str:
    if edit.before is None:
        return f"removed {edit.key} from [{edit.section}]"
    return f"{edit.key} in [{edit.section}] is {edit.before} again"


# -- files --


def _inside(name: object) -> bool:
    """A relative path that stays inside the addon folder: the manifest is a file in the
    user's project, and we delete what it names."""
    if not isinstance(name, str) or not name or name.startswith(("/", "\\")):
        return False
    parts = name.replace("\\", "/").split("/")
    return all(part not in ("", ".", "..") for part in parts) and ":" not in parts[0]


def _copy_files(files: dict[str, bytes], addon_dir: Path, stale: list[str]) -> int:
    """Write the files that differ; delete the ones an older version had and this lacks.
    Files Godot generated next to ours (.uid, .import) stay."""
    copied = 0
    for name, data in files.items():
        target = addon_dir.joinpath(*name.split("/"))
        try:
            if target.is_file() and target.read_bytes() == data:
                continue
        except OSError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, data)
        copied += 1
    for name in stale:
        addon_dir.joinpath(*name.split("/")).unlink(missing_ok=True)
    return copied


def _write_atomically(path: Path, data: bytes, *, like: Path | None = None) -> None:
    """Write through a temporary file and a rename, so a reader (or a crash) never sees
    half a file; `like` lends its permission bits."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if like is not None and like.exists():
            shutil.copymode(like, name)
        else:
            os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
