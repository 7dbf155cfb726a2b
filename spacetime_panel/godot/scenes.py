"""Scene paths: validation before anything reaches Godot, and the project's scene list."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

SCENE_SUFFIXES = (".tscn", ".scn")


class InvalidScenePath(ValueError):
    """A scene path the bridge would refuse; the message says why, in one line."""


def validate_scene_path(path: str) -> str:
    """Return `path` if it is a `res://` scene path without `..`, else raise InvalidScenePath.

    The same rule as the bridge (and the deployment guide): `res://` prefix,
    no directory traversal, a `.tscn` or `.scn` file.
    """
    if not isinstance(path, str) or not path:
        raise InvalidScenePath("scene path is empty")
    if not path.startswith("res://"):
        raise InvalidScenePath(f"scene path must start with res:// (got {path!r})")
    if ".." in path:
        raise InvalidScenePath(f"scene path must not contain '..' (got {path!r})")
    if path[len("res://") :].startswith("/") or ":" in path[len("res://") :]:
        raise InvalidScenePath(f"scene path must stay inside the project (got {path!r})")
    if "\\" in path or "\x00" in path:
        raise InvalidScenePath(f"scene path has a forbidden character (got {path!r})")
    if not path.endswith(SCENE_SUFFIXES):
        raise InvalidScenePath(f"scene path must end in .tscn or .scn (got {path!r})")
    return path


def scene_file(project: Path, path: str) -> Path:
    """The file behind a validated `res://` path inside `project`."""
    relative = PurePosixPath(validate_scene_path(path)[len("res://") :])
    return project.joinpath(*relative.parts)


def scene_name(path: str) -> str:
    """'res://levels/vr_main.tscn' -> 'vr_main', as the guide's /health shows it."""
    return PurePosixPath(path).stem


def list_scenes(project: Path) -> list[str]:
    """Every scene of the project as `res://` paths, sorted; Godot's own folders skipped."""
    scenes: list[str] = []
    for suffix in SCENE_SUFFIXES:
        for file in project.rglob(f"*{suffix}"):
            relative = file.relative_to(project)
            if any(part.startswith(".") for part in relative.parts):
                continue
            scenes.append("res://" + relative.as_posix())
    return sorted(scenes)
