"""Scene paths: validation before anything reaches Godot, and the project's scene list."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

SCENE_SUFFIXES = (".tscn", ".scn")
#: The longest file or folder name, in UTF-8 bytes (NAME_MAX on Linux and macOS).
MAX_NAME_BYTES = 255
#: The longest scene path, `res://` included, in UTF-8 bytes (PATH_MAX on macOS).
MAX_PATH_BYTES = 1024


class InvalidScenePath(ValueError):
    """A scene path the bridge would refuse; the message says why, in one line."""


def validate_scene_path(path: str) -> str:
    """Return `path` if it is a `res://` scene path without `..`, else raise InvalidScenePath.

    The same rule as the bridge (and the deployment guide): `res://` prefix,
    no directory traversal, a `.tscn` or `.scn` file; and no name (file or
    folder) over 255 bytes, no path over 1024 bytes, in UTF-8 (a file system
    would refuse them: `protocol/README.md`).
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
    size = len(path.encode("utf-8", "surrogatepass"))
    if size > MAX_PATH_BYTES:
        raise InvalidScenePath(
            f"scene path is {size} bytes long, over {MAX_PATH_BYTES} (got {_shown(path)})"
        )
    for name in path[len("res://") :].split("/"):
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_BYTES:
            raise InvalidScenePath(
                f"scene path has a name of {size} bytes, over {MAX_NAME_BYTES} (got {_shown(name)})"
            )
    return path


def _shown(text: str) -> str:
    """`text` quoted for a one-line message, its middle cut when it is long."""
    return repr(text) if len(text) <= 60 else f"{text[:30]!r}...{text[-20:]!r}"


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
