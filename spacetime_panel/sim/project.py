"""The Godot project folder the simulator runs: project.godot and res:// paths."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path

SCENE_SUFFIXES = (".tscn", ".scn")
"""What the bridge accepts as a scene (text and binary scenes)."""
MAX_NAME_BYTES = 255
"""The longest file or folder name in a scene path, in UTF-8 bytes."""
MAX_PATH_BYTES = 1024
"""The longest scene path, ``res://`` included, in UTF-8 bytes."""


#: `[ext_resource type="Texture2D" uid="uid://..." path="res://icon.svg" id="1_x"]`
EXT_RESOURCE = re.compile(r"^\[ext_resource\b(?P<attributes>[^\]]*)\]")
ATTRIBUTE = re.compile(r'(?P<key>\w+)="(?P<value>[^"]*)"')
#: Godot's own words and sources for a resource that will not load (engine 4.5; the
#: line numbers are indicative, the addon's logger sends them as `file:line @ function()`).
FAILED_LOADING = (
    "Failed loading resource: {path}. Make sure resources have been imported by opening "
    "the project in the editor at least once."
)
FAILED_LOADING_SOURCE = "core/io/resource_loader.cpp:343 @ _load()"
PARSE_ERROR = (
    "{scene}:{line} - Parse Error: [ext_resource] referenced non-existent resource at: {path}"
)
PARSE_ERROR_SOURCE = "scene/resources/resource_format_text.cpp:40 @ _printerr()"
#: ResourceLoader.THREAD_LOAD_FAILED, as the addon's scene loader reports it.
THREAD_LOAD_FAILED = 2


class ProjectError(Exception):
    """The folder is not a Godot project the simulator can run."""


class ScenePathError(ValueError):
    """A scene path the bridge refuses (HTTP 400)."""


class SceneNotFoundError(LookupError):
    """A well-formed scene path with no file behind it (HTTP 404)."""


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@dataclass(frozen=True)
class GodotProject:
    """A project folder with its name and main scene, as read from project.godot."""

    root: Path
    name: str
    main_scene: str | None

    @classmethod
    def load(cls, root: Path) -> GodotProject:
        """Read ``root/project.godot``; raises ProjectError like Godot's own message."""
        root = root.resolve()
        config_file = root / "project.godot"
        if not config_file.is_file():
            raise ProjectError(
                f'ERROR: Couldn\'t load project data at path "{root}". Is the .pck file missing?'
            )
        # project.godot is INI-like; values such as PackedStringArray(...) need
        # no parsing here, only two plain strings.
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            text = config_file.read_text(encoding="utf-8", errors="replace")
            # Keys before the first section (config_version) need a header.
            parser.read_string("[__top__]\n" + text)
        except configparser.Error as exc:
            first_line = str(exc).splitlines()[0]
            raise ProjectError(f'ERROR: Couldn\'t parse "{config_file}": {first_line}') from None
        name = _unquote(parser.get("application", "config/name", fallback="")) or root.name
        main_scene = _unquote(parser.get("application", "run/main_scene", fallback="")) or None
        return cls(root=root, name=name, main_scene=main_scene)

    def scene_file(self, res_path: str) -> Path:
        """The file for ``res://...``; raises ScenePathError or SceneNotFoundError.

        The path rule is the protocol's (``protocol/vectors/scene_paths.json``):
        ``res://``, no ``..``, no ``:`` or leading ``/`` after the prefix, no
        backslash or NUL, a case-sensitive ``.tscn``/``.scn`` suffix, no name
        over 255 bytes and no path over 1024 bytes (UTF-8).
        """
        if not res_path.startswith("res://"):
            raise ScenePathError(f"Scene path must start with res:// (got {res_path!r})")
        relative = res_path[len("res://") :]
        if ".." in res_path:
            raise ScenePathError("Scene path must not contain '..'")
        if relative.startswith("/") or ":" in relative:
            raise ScenePathError("Scene path must stay inside the project")
        if "\\" in res_path or "\x00" in res_path:
            raise ScenePathError("Scene path has a backslash or NUL character")
        if not res_path.endswith(SCENE_SUFFIXES):
            raise ScenePathError("Scene path must end with .tscn or .scn")
        if len(res_path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
            raise ScenePathError(f"Scene path is longer than {MAX_PATH_BYTES} bytes")
        if any(
            len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
            for name in relative.split("/")
        ):
            raise ScenePathError(f"Scene path has a name longer than {MAX_NAME_BYTES} bytes")
        try:
            path = (self.root / relative).resolve()
            found = path.is_relative_to(self.root) and path.is_file()
        except (OSError, ValueError) as exc:  # a name the file system refuses is no scene
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise SceneNotFoundError(f"Scene not found: {res_path!r} ({why})") from None
        if not found:
            raise SceneNotFoundError(f"Scene not found: {res_path!r}")
        return path

    def to_res_path(self, arg: str) -> str:
        """Godot accepts ``res://x.tscn`` or a path relative to the project on its command line."""
        if arg.startswith("res://"):
            return arg
        candidate = Path(arg)
        if candidate.is_absolute():
            try:
                candidate = candidate.resolve().relative_to(self.root)
            except ValueError:
                return arg  # outside the project; scene_file() will refuse it
        return "res://" + candidate.as_posix()

    def load_errors(self, res_path: str) -> list[dict[str, str]]:
        """The `error` events Godot's threaded load of ``res_path`` sends, in order.

        Empty when every `[ext_resource]` of the scene (and of the text scenes it
        uses, depth first) names a file that exists; otherwise, for the first
        missing one, what Godot logs (the dependency, the scene's parse error and
        each scene up the chain failing to load), then the bridge's own
        ``Scene res://...: loading failed (status 2)``. Binary ``.scn`` files are
        not read (they load).
        """
        errors = self._dependency_errors(res_path, set())
        if not errors:
            return []
        errors.append(
            {
                "message": f"Scene {res_path}: loading failed (status {THREAD_LOAD_FAILED})",
                "source": "spacetime_bridge",
            }
        )
        return errors

    def _dependency_errors(self, res_path: str, seen: set[str]) -> list[dict[str, str]]:
        seen.add(res_path)
        file = self.root / res_path[len("res://") :]
        if not res_path.endswith(".tscn") or not file.is_file():
            return []
        text = file.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            found = EXT_RESOURCE.match(line)
            if found is None:
                continue
            attributes = dict(ATTRIBUTE.findall(found["attributes"]))
            path = attributes.get("path", "")
            if not path.startswith("res://") or path in seen:
                continue
            target = (self.root / path[len("res://") :]).resolve()
            if not (target.is_relative_to(self.root) and target.is_file()):
                inner = [_engine_error(FAILED_LOADING.format(path=path), FAILED_LOADING_SOURCE)]
            else:
                inner = self._dependency_errors(path, seen)
            if inner:
                parse = PARSE_ERROR.format(scene=res_path, line=number, path=path)
                return [
                    *inner,
                    _engine_error(parse, PARSE_ERROR_SOURCE),
                    _engine_error(FAILED_LOADING.format(path=res_path), FAILED_LOADING_SOURCE),
                ]
        return []


def _engine_error(message: str, source: str) -> dict[str, str]:
    return {"message": message, "source": source, "kind": "error"}
