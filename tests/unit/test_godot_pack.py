"""The .pck writer and the global class cache that the Godot web harness packs."""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import dataclass

import pytest

from tests.godot_web.pack import (
    CLASS_CACHE_PATH,
    FILE_BASE,
    UID_CACHE_PATH,
    build_pack,
    class_cache_text,
    global_class_of,
    resource_path,
    resource_uids,
    uid_cache_bytes,
    uid_to_id,
    with_class_cache,
    with_engine_caches,
)


@dataclass
class Entry:
    path: str
    offset: int
    size: int
    md5: bytes
    flags: int
    padded_path_length: int


@dataclass
class Pack:
    magic: bytes
    format_version: int
    engine: tuple[int, int, int]
    flags: int
    file_base: int
    directory_offset: int
    reserved: tuple[int, ...]
    entries: list[Entry]
    raw: bytes

    def content(self, entry: Entry) -> bytes:
        start = self.file_base + entry.offset
        return self.raw[start : start + entry.size]


def read_pack(raw: bytes) -> Pack:
    """An independent reader of the layout in core/io/file_access_pack.cpp (format 3)."""
    magic, version, major, minor, patch, flags = struct.unpack_from("<4sIIIII", raw, 0)
    file_base, directory_offset = struct.unpack_from("<QQ", raw, 0x18)
    reserved = struct.unpack_from("<16I", raw, 0x28)
    (count,) = struct.unpack_from("<I", raw, directory_offset)
    position = directory_offset + 4
    entries = []
    for _ in range(count):
        (length,) = struct.unpack_from("<I", raw, position)
        position += 4
        path = raw[position : position + length].rstrip(b"\0").decode("utf-8")
        position += length
        offset, size = struct.unpack_from("<QQ", raw, position)
        position += 16
        md5 = raw[position : position + 16]
        position += 16
        (entry_flags,) = struct.unpack_from("<I", raw, position)
        position += 4
        entries.append(Entry(path, offset, size, md5, entry_flags, length))
    assert position == len(raw), "the directory is the end of the pack"
    return Pack(
        magic,
        version,
        (major, minor, patch),
        flags,
        file_base,
        directory_offset,
        reserved,
        entries,
        raw,
    )


FILES = {
    "project.godot": b'config_version=5\n\n[application]\n\nrun/main_scene="res://main.tscn"\n',
    "res://main.tscn": b"[gd_scene format=3]\n\n[node name='Main' type='Node']\n",
    "addons/x/a.gd": b"extends Node\n" * 7,
    "empty.txt": b"",
    "dir/\u00e9t\u00e9.json": '{"saison": "\u00e9t\u00e9"}'.encode(),
    "sixteen.bin": bytes(range(16)),
}


def test_header_says_gdpc_format_3_engine_4_6_relative_file_base() -> None:
    pack = read_pack(build_pack(FILES))
    assert pack.magic == b"GDPC"
    assert pack.format_version == 3
    assert pack.engine == (4, 6, 0)
    assert pack.flags == 2  # PACK_REL_FILEBASE, directory not encrypted
    assert pack.file_base == FILE_BASE == 0x70
    assert pack.reserved == (0,) * 16
    assert pack.raw[0x68:0x70] == bytes(8)


def test_engine_version_can_be_lowered() -> None:
    assert read_pack(build_pack(FILES, engine=(4, 5, 1))).engine == (4, 5, 1)


def test_round_trip_gives_every_file_back_under_its_resource_path() -> None:
    pack = read_pack(build_pack(FILES))
    back = {entry.path: pack.content(entry) for entry in pack.entries}
    assert back == {resource_path(path): content for path, content in FILES.items()}
    assert "main.tscn" in back  # res:// is not stored
    assert [entry.path for entry in pack.entries] == sorted(back)


def test_directory_has_sizes_md5_and_zero_flags() -> None:
    pack = read_pack(build_pack(FILES))
    for entry in pack.entries:
        content = pack.content(entry)
        assert entry.size == len(content)
        assert entry.md5 == hashlib.md5(content).digest()
        assert entry.flags == 0
        assert entry.padded_path_length % 4 == 0
        assert entry.padded_path_length >= len(entry.path.encode())


def test_files_start_on_16_byte_boundaries_and_padding_is_zero() -> None:
    raw = build_pack(FILES)
    pack = read_pack(raw)
    ordered = sorted(pack.entries, key=lambda entry: entry.offset)
    for entry, following in itertools.pairwise(ordered):
        assert entry.offset % 16 == 0
        end = pack.file_base + entry.offset + entry.size
        assert raw[end : pack.file_base + following.offset] == bytes(
            following.offset - entry.offset - entry.size
        )
        assert following.offset - entry.offset == entry.size + (-entry.size % 16)
    last = ordered[-1]
    assert pack.directory_offset == pack.file_base + last.offset + last.size + (-last.size % 16)
    assert pack.directory_offset % 16 == 0


def test_an_empty_pack_is_a_header_and_an_empty_directory() -> None:
    pack = read_pack(build_pack({}))
    assert pack.directory_offset == FILE_BASE
    assert pack.entries == []


@pytest.mark.parametrize("bad", ["res://../escape.gd", "a/../../b", "res://", ""])
def test_paths_outside_the_pack_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        build_pack({bad: b"x"})


def test_two_spellings_of_one_path_are_refused() -> None:
    with pytest.raises(ValueError, match="same resource path"):
        build_pack({"res://a.gd": b"1", "a.gd": b"2"})


def test_class_name_with_extends_on_its_own_line() -> None:
    found = global_class_of("res://lib/http.gd", "class_name BridgeHttp\nextends RefCounted\n")
    assert found is not None
    assert (found.name, found.base, found.path) == ("BridgeHttp", "RefCounted", "res://lib/http.gd")
    assert not found.is_tool and not found.is_abstract


def test_class_name_and_extends_on_one_line_and_annotations() -> None:
    found = global_class_of("x.gd", "@tool\n@abstract\nclass_name Shape extends Node3D\n")
    assert found is not None
    assert (found.name, found.base, found.path) == ("Shape", "Node3D", "res://x.gd")
    assert found.is_tool and found.is_abstract


def test_no_extends_means_refcounted_and_no_class_name_means_none() -> None:
    found = global_class_of("a.gd", "class_name Plain\n\nfunc f() -> void:\n\tpass\n")
    assert found is not None and found.base == "RefCounted"
    assert global_class_of("b.gd", "extends Node\n# class_name Commented\n") is None
    assert global_class_of("c.gd", 'extends Node\nvar s := "class_name Nope"\n') is None


def test_class_cache_text_is_godots_configfile_layout() -> None:
    found = global_class_of("res://a.gd", "class_name Alpha\nextends Node\n")
    assert found is not None
    assert class_cache_text([found]) == (
        "list=Array[Dictionary]([{\n"
        '"base": &"Node",\n'
        '"class": &"Alpha",\n'
        '"icon": "",\n'
        '"is_abstract": false,\n'
        '"is_tool": false,\n'
        '"language": &"GDScript",\n'
        '"path": "res://a.gd"\n'
        "}])\n"
    )
    assert class_cache_text([]) == "list=Array[Dictionary]([])\n"


def test_with_class_cache_lists_every_class_sorted_and_resolves_path_bases() -> None:
    files = {
        "project.godot": b"config_version=5\n",
        "b.gd": b"class_name Beta\nextends Node\n",
        "a.gd": b'class_name Alpha\nextends "res://b.gd"\n',
        "c.gd": b'extends "res://b.gd"\n',
        "d.gd": b'class_name Delta\nextends "res://c.gd"\n',
        "notes.txt": b"class_name NotAScript\n",
    }
    cache = with_class_cache(files)[CLASS_CACHE_PATH].decode()
    names = [f'"class": &"{name}"' for name in ("Alpha", "Beta", "Delta")]
    assert cache.index(names[0]) < cache.index(names[1]) < cache.index(names[2])
    assert "NotAScript" not in cache
    # Alpha extends Beta's script; Delta extends an unnamed script that extends Beta.
    assert cache.count('"base": &"Beta"') == 2
    assert set(with_class_cache(files)) == {*files, CLASS_CACHE_PATH}


def test_a_class_name_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="Twice"):
        with_class_cache({"a.gd": b"class_name Twice\n", "b.gd": b"class_name Twice\n"})


def test_uid_text_decodes_as_the_engine_does() -> None:
    # The largest id, as core/io/resource_uid.cpp spells it.
    assert uid_to_id("uid://d4n4ub6itg400") == 0x7FFFFFFFFFFFFFFF
    assert uid_to_id("uid://a") == 0
    assert uid_to_id("uid://ba") == 34
    assert uid_to_id("uid://b0") == 34 + 25
    with pytest.raises(ValueError):
        uid_to_id("res://not_a_uid.gd")


def test_uids_come_from_uid_files_and_scene_headers() -> None:
    files = {
        "lib/x.gd": b"extends Node\n",
        "lib/x.gd.uid": b"uid://cabc\n",
        "main.tscn": b'[gd_scene load_steps=2 format=3 uid="uid://bmain"]\n',
        "plain.tscn": b"[gd_scene format=3]\n",
        "ref.tscn": b'[gd_scene format=3]\n[ext_resource uid="uid://dother" path="res://a"]\n',
    }
    assert resource_uids(files) == {
        uid_to_id("uid://cabc"): "res://lib/x.gd",
        uid_to_id("uid://bmain"): "res://main.tscn",
    }


def test_uid_cache_layout_is_count_then_id_length_path() -> None:
    raw = uid_cache_bytes({5: "res://b.gd", 3: "res://\u00e9.tscn"})
    assert struct.unpack_from("<I", raw, 0) == (2,)
    first_id, first_length = struct.unpack_from("<QI", raw, 4)
    assert (first_id, raw[16 : 16 + first_length].decode()) == (3, "res://\u00e9.tscn")
    second = 16 + first_length
    second_id, second_length = struct.unpack_from("<QI", raw, second)
    assert (second_id, raw[second + 12 :].decode()) == (5, "res://b.gd")
    assert second_length == len("res://b.gd")


def test_engine_caches_add_both_files() -> None:
    files = with_engine_caches({"a.gd": b"class_name A\n", "a.gd.uid": b"uid://b1\n"})
    assert set(files) == {"a.gd", "a.gd.uid", CLASS_CACHE_PATH, UID_CACHE_PATH}
    assert files[UID_CACHE_PATH] == uid_cache_bytes({uid_to_id("uid://b1"): "res://a.gd"})
