"""project.godot as text lines, edited without disturbing anything else.

Godot rewrites the whole file when its editor saves settings; we must not.
A `ProjectFile` keeps every line with its own terminator (CRLF stays CRLF, a
missing final newline stays missing), finds sections and `key=value` entries
whose values may span lines (input maps, dictionaries), and inserts, replaces
or deletes single entries. Everything else is left byte for byte.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_HEADER = re.compile(r"^\s*\[([^\]\n]*)\]\s*(?:;.*)?$")
_OPENERS, _CLOSERS = "([{", ")]}"
# Godot's own files are UTF-8; surrogateescape keeps any odd byte as it was.
_ENCODING, _ERRORS = "utf-8", "surrogateescape"


@dataclass(frozen=True)
class Entry:
    """One `key=value` (value as written, lines joined by newline) at lines [start, end)."""

    section: str
    key: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Section:
    """A `[name]` header at `header` (None for the top, before any header); body to `end`."""

    name: str
    header: int | None
    end: int


@dataclass
class Edit:
    """A value set by `ProjectFile.set_value`, with what it takes to undo it: the value
    before (None: the key was added), whether the section was added too, and whether a
    blank line was put before that section."""

    section: str
    key: str
    before: str | None
    after: str
    created_section: bool = False
    blank_before: bool = False

    @classmethod
    def from_json(cls, data: object) -> Edit | None:
        """An Edit from `vars(edit)` read back as JSON; None for anything else."""
        if not isinstance(data, dict):
            return None
        section, key, after = data.get("section"), data.get("key"), data.get("after")
        if not (isinstance(section, str) and isinstance(key, str) and isinstance(after, str)):
            return None
        before = data.get("before")
        return cls(
            section,
            key,
            before if isinstance(before, str) else None,
            after,
            data.get("created_section") is True,
            data.get("blank_before") is True,
        )

    def again(self, later: Edit) -> Edit:
        """The same key set again later (someone undid it in between): the first edit
        knew the original value."""
        if later.created_section:
            return Edit(self.section, self.key, self.before, later.after, True, later.blank_before)
        return Edit(
            self.section,
            self.key,
            self.before,
            later.after,
            self.created_section,
            self.blank_before,
        )


def _line_terminator(line: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if line.endswith(ending):
            return ending
    return ""


def _value_open(text: str, depth: int, in_string: bool) -> tuple[int, bool]:
    """Bracket depth and string state after `text`, so multi-line values are followed."""
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == ";":
            break  # a comment runs to the end of the line
        elif char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth = max(0, depth - 1)
    return depth, in_string


def _unquote_key(key: str) -> str:
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        return key[1:-1]
    return key


class ProjectFile:
    """The lines of a project.godot, parsed again after each edit."""

    def __init__(self, text: str) -> None:
        self.lines: list[str] = text.splitlines(keepends=True)
        self.sections: list[Section] = []
        self.entries: list[Entry] = []
        self._parse()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProjectFile:
        return cls(data.decode(_ENCODING, _ERRORS))

    @classmethod
    def read(cls, path: Path) -> ProjectFile:
        return cls.from_bytes(path.read_bytes())

    def text(self) -> str:
        return "".join(self.lines)

    def to_bytes(self) -> bytes:
        return self.text().encode(_ENCODING, _ERRORS)

    @property
    def newline(self) -> str:
        """The file's usual line ending, used for lines we add."""
        endings = Counter(_line_terminator(line) for line in self.lines)
        endings.pop("", None)
        return endings.most_common(1)[0][0] if endings else "\n"

    def _parse(self) -> None:
        sections: list[Section] = []
        entries: list[Entry] = []
        name, header = "", None
        index = 0
        count = len(self.lines)
        while index < count:
            content = self.lines[index].rstrip("\r\n")
            if index == 0:
                content = content.removeprefix("\ufeff")  # a byte order mark
            stripped = content.strip()
            match = _HEADER.match(content)
            if match:
                sections.append(Section(name, header, index))
                name, header = match.group(1).strip(), index
                index += 1
                continue
            if not stripped or stripped.startswith((";", "#")) or "=" not in content:
                index += 1
                continue
            key, _, first = content.partition("=")
            depth, in_string = _value_open(first, 0, False)
            value_lines = [first]
            end = index + 1
            while (depth or in_string) and end < count:
                more = self.lines[end].rstrip("\r\n")
                value_lines.append(more)
                depth, in_string = _value_open(more, depth, in_string)
                end += 1
            entries.append(Entry(name, _unquote_key(key), "\n".join(value_lines), index, end))
            index = end
        sections.append(Section(name, header, count))
        self.sections, self.entries = sections, entries

    def section(self, name: str) -> Section | None:
        """The first section called `name` ("" is the top of the file)."""
        return next((s for s in self.sections if s.name == name), None)

    def entry(self, section: str, key: str) -> Entry | None:
        return next((e for e in self.entries if e.section == section and e.key == key), None)

    def section_entries(self, section: Section) -> list[Entry]:
        start = -1 if section.header is None else section.header
        return [e for e in self.entries if start < e.start < section.end]

    # -- edits: each one re-parses, so positions are always current --

    def insert_lines(self, index: int, contents: list[str]) -> None:
        """Insert lines (without terminators) before line `index`; at the end of a file
        without a final newline, the new last line has none either."""
        newline = self.newline
        new = [content + newline for content in contents]
        if index >= len(self.lines) and self.lines and not _line_terminator(self.lines[-1]):
            self.lines[-1] += newline
            new[-1] = contents[-1]
        self.lines[index:index] = new
        self._parse()

    def delete_lines(self, start: int, end: int) -> None:
        """Delete lines [start, end); the exact reverse of `insert_lines`."""
        at_end = end >= len(self.lines)
        dropped_final_newline = at_end and not _line_terminator(self.lines[-1])
        del self.lines[start:end]
        if dropped_final_newline and self.lines:
            self.lines[-1] = self.lines[-1].rstrip("\r\n")
        self._parse()

    def replace_entry(self, entry: Entry, value: str) -> None:
        """Set an entry's value, keeping its key as written and its line ending."""
        first = self.lines[entry.start]
        key_text = first.rstrip("\r\n").partition("=")[0]
        ending = _line_terminator(self.lines[entry.end - 1])
        value_lines = value.split("\n")
        new = [key_text + "=" + value_lines[0], *value_lines[1:]]
        newline = self.newline
        rebuilt = [line + newline for line in new[:-1]] + [new[-1] + ending]
        self.lines[entry.start : entry.end] = rebuilt
        self._parse()

    def set_entry(self, section_name: str, key: str, value: str) -> bool:
        """Add `key=value` at the end of the section's entries, creating the section at
        the end of the file if needed; True when the section was created."""
        section = self.section(section_name)
        if section is None:
            lines = [f"[{section_name}]", "", f"{key}={value}"]
            if self.lines and self.lines[-1].strip():
                lines.insert(0, "")
            self.insert_lines(len(self.lines), lines)
            return True
        entries = self.section_entries(section)
        if entries:
            at = entries[-1].end
        elif section.header is not None:
            at = section.header + 1
        else:
            at = 0
        self.insert_lines(at, [f"{key}={value}"])
        return False

    def delete_entry(self, entry: Entry) -> None:
        self.delete_lines(entry.start, entry.end)

    def delete_section(self, section: Section, *, blank_before: bool) -> None:
        """Remove what `set_entry` added with a section, its entry already gone: the
        header, the blank line after it, and the blank line before it if it added that.
        Other blank lines stay: they may belong to a section added after this one."""
        if section.header is None:
            return
        start, end = section.header, section.header + 1
        if end < section.end and not self.lines[end].strip():
            end += 1
        if blank_before and start > 0 and not self.lines[start - 1].strip():
            start -= 1
        self.delete_lines(start, end)

    # -- reversible edits --

    def set_value(self, section: str, key: str, value: str) -> Edit | None:
        """Set `key=value` in `section` (replacing the value, or adding the entry and the
        section if needed); None when it already had that value."""
        entry = self.entry(section, key)
        if entry is not None:
            if entry.value == value:
                return None
            self.replace_entry(entry, value)
            return Edit(section, key, entry.value, value)
        blank_before = bool(self.lines) and bool(self.lines[-1].strip())
        created = self.set_entry(section, key, value)
        return Edit(section, key, None, value, created, created and blank_before)

    def undo(self, edit: Edit) -> bool:
        """Put back the value `edit` replaced, or remove the entry it added, if the entry
        still holds the value `edit` set (else it is someone else's now); True if undone."""
        entry = self.entry(edit.section, edit.key)
        if entry is None or entry.value != edit.after:
            return False
        if edit.before is None:
            self.delete_entry(entry)
        else:
            self.replace_entry(entry, edit.before)
        return True

    def drop_created_section(self, edit: Edit) -> None:
        """Remove the section `edit` added, once nothing but blank lines is left in it."""
        section = self.section(edit.section) if edit.created_section else None
        if section is None or section.header is None:
            return
        if any(line.strip() for line in self.lines[section.header + 1 : section.end]):
            return
        self.delete_section(section, blank_before=edit.blank_before)


def read_entry(project: Path, section: str, key: str) -> Entry | None:
    """One entry of PROJECT/project.godot, or None (also when the file cannot be read)."""
    try:
        return ProjectFile.read(project / "project.godot").entry(section, key)
    except (OSError, ValueError):
        return None


_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_PACKED = re.compile(r"^(\s*PackedStringArray\()(.*)(\)\s*)$", re.DOTALL)


def unquote(value: str) -> str:
    """A Godot string value without its quotes (`"1.2"` -> `1.2`); other values as written."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def packed_strings(value: str) -> list[str] | None:
    """The items of `PackedStringArray("a", "b")`, or None for any other value."""
    match = _PACKED.match(value)
    if match is None:
        return None
    return [item.group(1) for item in _STRING.finditer(match.group(2))]


def packed_append(value: str, item: str) -> str:
    """`PackedStringArray("a")` + `b` -> `PackedStringArray("a", "b")`, the rest as written."""
    match = _PACKED.match(value)
    if match is None:
        raise ValueError(f"not a PackedStringArray: {value}")
    head, inner, tail = match.groups()
    quoted = f'"{item}"'
    inner = f"{inner.rstrip()}, {quoted}" if inner.strip() else quoted
    return head + inner + tail


def packed_remove(value: str, item: str) -> str:
    """The reverse of `packed_append`: drop `item` and one separator next to it."""
    match = _PACKED.match(value)
    if match is None:
        return value
    head, inner, tail = match.groups()
    spans = [(m.start(), m.end()) for m in _STRING.finditer(inner) if m.group(1) == item]
    if not spans:
        return value
    start, end = spans[-1]
    others = [
        (m.start(), m.end())
        for m in _STRING.finditer(inner)
        if (m.start(), m.end()) != (start, end)
    ]
    before = [span for span in others if span[1] <= start]
    after = [span for span in others if span[0] >= end]
    if before:
        start = before[-1][1]  # drop `, "item"`
    elif after:
        end = after[0][0]  # drop `"item", `
    return head + inner[:start] + inner[end:] + tail
