"""The packs of the three runs in tests/godot/README.md: suite, game and inert.

Each pack holds a generated `project.godot`, the addon, the protocol files, the
GDScript tests, the demo scenes, and the global class and uid caches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path

from tests.godot_web.pack import build_pack, resource_path, with_engine_caches
from tests.godot_web.template import REPO_ROOT

ADDON_DIR = Path("spacetime_panel/addons/spacetime_bridge")
PROTOCOL_DIR = Path("spacetime_panel/protocol")
GDSCRIPT_TESTS_DIR = Path("tests/godot")
DEMO_DIR = Path("spacetime_panel/demo_project")
BRIDGE_AUTOLOAD = ("SpaceTimeBridge", "res://addons/spacetime_bridge/bridge.gd")
# Files that are never part of a Godot project: Python, caches, editor droppings.
_SKIPPED_SUFFIXES = (".py", ".pyc", ".import", ".tmp")
_SKIPPED_PARTS = ("__pycache__", ".godot", ".mypy_cache", ".ruff_cache")
_EXT_RESOURCE_PATH = re.compile(r'\[ext_resource\b[^\]]*?\bpath="([^"]+)"')


SUITE_SCENE = "res://tests/run_tests.tscn"
IDLE_GAME_SCENE = "res://tests/idle_game.tscn"


class Run(Enum):
    """The three engine runs of tests/godot/README.md."""

    SUITE = "suite"
    GAME = "game"
    INERT = "inert"

    @property
    def main_scene(self) -> str:
        return SUITE_SCENE if self is Run.SUITE else IDLE_GAME_SCENE


class ProjectError(RuntimeError):
    """The pack cannot be built from the tree as it is; the message says what is missing."""


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def project_godot(
    *,
    main_scene: str,
    autoloads: Iterable[tuple[str, str]] = (),
    settings: Mapping[str, Mapping[str, str]] | None = None,
    name: str = "SpaceTime bridge tests",
) -> str:
    """A text `project.godot`: the main scene, autoloads (name, path) and raw settings.

    `settings` maps a section to `key -> value` where the value is already in Godot's
    text syntax (`true`, `"text"`, `3`).
    """
    lines = [
        "config_version=5",
        "",
        "[application]",
        "",
        f"config/name={_quoted(name)}",
        f"run/main_scene={_quoted(main_scene)}",
        "run/flush_stdout_on_print=true",
        'config/features=PackedStringArray("4.5")',
        "",
    ]
    autoload_list = list(autoloads)
    if autoload_list:
        lines += ["[autoload]", ""]
        lines += [f"{name}={_quoted('*' + path)}" for name, path in autoload_list]
        lines.append("")
    for section, values in (settings or {}).items():
        lines += [f"[{section}]", ""]
        lines += [f"{key}={value}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def project_text(run: Run) -> str:
    """`project.godot` of one run (see tests/godot/README.md)."""
    if run is Run.SUITE:
        return project_godot(main_scene=run.main_scene)
    settings = {"spacetime_bridge": {"release/enabled": "true"}} if run is Run.GAME else None
    return project_godot(main_scene=run.main_scene, autoloads=[BRIDGE_AUTOLOAD], settings=settings)


def _tree(folder: Path, prefix: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if not folder.is_dir():
        return files
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or path.suffix in _SKIPPED_SUFFIXES:
            continue
        if any(part in _SKIPPED_PARTS for part in relative.parts):
            continue
        files[f"{prefix}{relative.as_posix()}"] = path.read_bytes()
    return files


def missing_references(files: Mapping[str, bytes]) -> list[str]:
    """`scene -> res://path` for every ext_resource a scene names that the pack lacks."""
    present = {resource_path(path) for path in files}
    missing = []
    for path, content in sorted(files.items()):
        if not path.endswith(".tscn"):
            continue
        for target in _EXT_RESOURCE_PATH.findall(content.decode("utf-8", errors="replace")):
            if target.startswith("res://") and resource_path(target) not in present:
                missing.append(f"{path} -> {target}")
    return missing


def project_files(run: Run, *, root: Path = REPO_ROOT) -> dict[str, bytes]:
    """Every file of a run's pack, by resource path, including the class and uid caches."""
    files = {"project.godot": project_text(run).encode("utf-8")}
    files |= _tree(root / ADDON_DIR, "addons/spacetime_bridge/")
    files |= _tree(root / PROTOCOL_DIR, "protocol/")
    files |= _tree(root / GDSCRIPT_TESTS_DIR, "tests/")
    demo = root / DEMO_DIR
    files["vr_main.tscn"] = (demo / "vr_main.tscn").read_bytes()
    files |= {
        f"scenes/{scene.name}": scene.read_bytes() for scene in sorted(demo.glob("scenes/*.tscn"))
    }
    # Whatever the demo scenes load from the demo project (an icon, a material) comes too.
    for reference in missing_references(files):
        target = resource_path(reference.split(" -> ", 1)[1])
        if (demo / target).is_file():
            files[target] = (demo / target).read_bytes()

    main_scene = resource_path(run.main_scene)
    if main_scene not in files:
        raise ProjectError(
            f"{GDSCRIPT_TESTS_DIR / Path(main_scene).relative_to('tests')} does not exist yet: "
            f"the {run.value} run needs it as its main scene"
        )
    if run is not Run.SUITE and resource_path(BRIDGE_AUTOLOAD[1]) not in files:
        raise ProjectError(f"{ADDON_DIR / 'bridge.gd'} does not exist yet: the {run.value} run")
    missing = missing_references(files)
    if missing:
        raise ProjectError("scenes name files the pack lacks: " + "; ".join(missing))
    return with_engine_caches(files)


def run_pack_bytes(run: Run, *, root: Path = REPO_ROOT) -> bytes:
    """The .pck of one run, built from the working tree as it is now."""
    return build_pack(project_files(run, root=root))
