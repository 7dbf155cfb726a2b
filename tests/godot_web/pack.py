"""Godot resource packs (.pck, format version 3) and the global script class cache.

The layout follows Godot's `core/io/file_access_pack.cpp` / `core/io/pck_packer.cpp`
(see /work/shared/GODOT-WEB.md): a 0x70-byte header, the file data from the file
base with every file padded to 16 bytes, then the directory.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAGIC = b"GDPC"
FORMAT_VERSION = 3
ENGINE_VERSION = (4, 6, 0)
# PACK_REL_FILEBASE: file offsets in the directory count from the file base.
FLAG_REL_FILEBASE = 2
FILE_BASE = 0x70
ALIGNMENT = 16
RESERVED_WORDS = 16
# Where a release build looks for the `class_name` list, and for uid:// -> path.
CLASS_CACHE_PATH = ".godot/global_script_class_cache.cfg"
UID_CACHE_PATH = ".godot/uid_cache.bin"


def _padding(size: int, alignment: int) -> int:
    return (alignment - size % alignment) % alignment


def resource_path(path: str) -> str:
    """The path as the directory stores it: no `res://`, forward slashes, no leading `/`."""
    path = path.removeprefix("res://").replace("\\", "/").lstrip("/")
    if not path or ".." in path.split("/"):
        raise ValueError(f"not a path inside the pack: {path!r}")
    return path


def build_pack(
    files: Mapping[str, bytes], *, engine: tuple[int, int, int] = ENGINE_VERSION
) -> bytes:
    """The bytes of a .pck holding `files` (resource path -> content), in sorted path order."""
    entries = sorted((resource_path(path), content) for path, content in files.items())
    names = [path for path, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError("two files map to the same resource path")

    header = bytearray(FILE_BASE)
    struct.pack_into("<4sI3II", header, 0, MAGIC, FORMAT_VERSION, *engine, FLAG_REL_FILEBASE)
    struct.pack_into("<Q", header, 0x18, FILE_BASE)

    data = bytearray()
    directory = bytearray(struct.pack("<I", len(entries)))
    for path, content in entries:
        offset = len(data)
        data += content
        data += bytes(_padding(len(content), ALIGNMENT))
        encoded = path.encode("utf-8")
        encoded += bytes(_padding(len(encoded), 4))
        directory += struct.pack("<I", len(encoded)) + encoded
        directory += struct.pack("<QQ", offset, len(content))
        directory += hashlib.md5(content).digest()
        directory += struct.pack("<I", 0)

    struct.pack_into("<Q", header, 0x20, FILE_BASE + len(data))
    return bytes(header + data + directory)


@dataclass(frozen=True, kw_only=True)
class GlobalClass:
    """One `class_name` script as the engine's global class list records it."""

    name: str
    base: str
    path: str
    is_abstract: bool = False
    is_tool: bool = False


_CLASS_NAME = re.compile(r"^class_name\s+([A-Za-z_]\w*)(?:\s+extends\s+(\S+))?", re.MULTILINE)
_EXTENDS = re.compile(r"^extends\s+(\S+)", re.MULTILINE)
_ABSTRACT = re.compile(r"^@abstract\b", re.MULTILINE)
_TOOL = re.compile(r"^@tool\b", re.MULTILINE)


def global_class_of(path: str, source: str) -> GlobalClass | None:
    """The global class a GDScript file declares, or None without a top-level `class_name`.

    The base is what `extends` names (a class name, or a quoted script path that the
    engine resolves itself); a script without `extends` extends RefCounted.
    """
    found = _CLASS_NAME.search(source)
    if found is None:
        return None
    extends = found.group(2) or _group(_EXTENDS.search(source))
    base = extends.strip("\"'") if extends else "RefCounted"
    return GlobalClass(
        name=found.group(1),
        base=base,
        path="res://" + resource_path(path),
        is_abstract=_ABSTRACT.search(source) is not None,
        is_tool=_TOOL.search(source) is not None,
    )


def _group(match: re.Match[str] | None) -> str | None:
    return match.group(1) if match else None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def class_cache_text(classes: Iterable[GlobalClass]) -> str:
    """`global_script_class_cache.cfg` as Godot's ConfigFile writes it.

    One key `list` in the unnamed section (see `ProjectSettings::store_global_class_list`);
    the engine needs `class`, `base`, `language`, `path`, `is_abstract` and `is_tool`
    in each entry (`ScriptServer::init_languages`), keys sorted as Godot writes them.
    """
    items = []
    for cls in sorted(classes, key=lambda c: c.name):
        fields = [
            f'"base": &{_quoted(cls.base)}',
            f'"class": &{_quoted(cls.name)}',
            '"icon": ""',
            f'"is_abstract": {str(cls.is_abstract).lower()}',
            f'"is_tool": {str(cls.is_tool).lower()}',
            '"language": &"GDScript"',
            f'"path": {_quoted(cls.path)}',
        ]
        items.append("{\n" + ",\n".join(fields) + "\n}")
    return "list=Array[Dictionary]([" + ", ".join(items) + "])\n"


def _resolve_path_bases(
    classes: list[GlobalClass], files: Mapping[str, bytes]
) -> list[GlobalClass]:
    """Replace `extends "res://x.gd"` bases by what the editor records: x's class name,
    or else x's own base, followed until a name is found."""
    by_path = {"res://" + resource_path(path): content for path, content in files.items()}

    def base_of(base: str, seen: frozenset[str]) -> str:
        if not base.startswith("res://") or base in seen or base not in by_path:
            return base
        source = by_path[base].decode("utf-8", errors="replace")
        named = global_class_of(base, source)
        if named is not None:
            return named.name
        parent = _group(_EXTENDS.search(source))
        return base_of(parent.strip("\"'"), seen | {base}) if parent else "RefCounted"

    return [
        GlobalClass(
            name=cls.name,
            base=base_of(cls.base, frozenset()),
            path=cls.path,
            is_abstract=cls.is_abstract,
            is_tool=cls.is_tool,
        )
        for cls in classes
    ]


def with_class_cache(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """`files` plus the class cache built from the `class_name` lines of its `.gd` files."""
    classes = []
    for path, content in files.items():
        if path.endswith(".gd"):
            found = global_class_of(path, content.decode("utf-8", errors="replace"))
            if found is not None:
                classes.append(found)
    classes = _resolve_path_bases(classes, files)
    names = [cls.name for cls in classes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"class_name declared twice: {', '.join(duplicates)}")
    result = dict(files)
    result[CLASS_CACHE_PATH] = class_cache_text(classes).encode("utf-8")
    return result


# `ResourceUID::text_to_id` (core/io/resource_uid.cpp): base 34, 'a'.. then '0'.. (its
# constants are off by one, so 'z' and '9' are never written but still decode).
_UID_BASE = (ord("z") - ord("a")) + (ord("9") - ord("0"))
_UID_TEXT = re.compile(r"uid://([a-z0-9]+)")
_RESOURCE_HEADER_UID = re.compile(r'^\[gd_(?:scene|resource)\b[^\]]*?\buid="(uid://[a-z0-9]+)"')


def uid_to_id(text: str) -> int:
    """The 63-bit id of `uid://...` text, as the engine decodes it."""
    found = _UID_TEXT.fullmatch(text)
    if found is None:
        raise ValueError(f"not a resource uid: {text!r}")
    value = 0
    for char in found.group(1):
        digit = ord(char) - ord("a") if char.isalpha() else ord(char) - ord("0") + 25
        value = (value * _UID_BASE + digit) & 0xFFFFFFFFFFFFFFFF
    return value & 0x7FFFFFFFFFFFFFFF


def resource_uids(files: Mapping[str, bytes]) -> dict[int, str]:
    """id -> res:// path, from `<file>.uid` files and the `uid=` of scene/resource headers."""
    found: dict[int, str] = {}
    for path, content in sorted(files.items()):
        text = content.decode("utf-8", errors="replace")
        if path.endswith(".uid"):
            uid, owner = text.strip(), path.removesuffix(".uid")
        elif path.endswith((".tscn", ".tres")):
            header = _RESOURCE_HEADER_UID.search(text)
            if header is None:
                continue
            uid, owner = header.group(1), path
        else:
            continue
        if _UID_TEXT.fullmatch(uid):
            found[uid_to_id(uid)] = "res://" + resource_path(owner)
    return found


def uid_cache_bytes(uids: Mapping[int, str]) -> bytes:
    """`uid_cache.bin` as `ResourceUID::save_to_cache` writes it: u32 count, then per entry
    u64 id, u32 length and the UTF-8 path (no terminator)."""
    out = bytearray(struct.pack("<I", len(uids)))
    for uid, path in sorted(uids.items()):
        encoded = path.encode("utf-8")
        out += struct.pack("<QI", uid, len(encoded)) + encoded
    return bytes(out)


def with_engine_caches(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """`files` plus what an export adds under `.godot/`: the class cache and the uid cache,
    so `class_name` globals and `uid://` references resolve as in an exported game."""
    result = with_class_cache(files)
    result[UID_CACHE_PATH] = uid_cache_bytes(resource_uids(files))
    return result
