"""Installing the bridge addon: exactly our lines in project.godot, nothing else touched,
and an uninstall that gives back the original byte for byte."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetime_panel.godot import addon
from spacetime_panel.godot.addon import (
    AUTOLOAD_NAME,
    AUTOLOAD_PATH,
    BACKUP_NAME,
    PLUGIN_CFG,
    AddonInstallError,
    bridge_autoload_declared,
    install_addon,
    install_command,
    packaged_addon,
    plugin_version,
    uninstall_addon,
    version_key,
)
from spacetime_panel.godot.project_file import Edit, ProjectFile, packed_append, packed_remove

DATA = Path(__file__).resolve().parents[1] / "data"
REALISTIC = (DATA / "realistic_project.godot").read_bytes()
AUTOLOAD_LINE = f'{AUTOLOAD_NAME}="*{AUTOLOAD_PATH}"'
FLUSH_LINE = "run/flush_stdout_on_print=true"
OTHER_PLUGIN = "res://addons/other/plugin.cfg"


def make_addon(folder: Path, version: str, extra: str = "sub/helper.gd") -> Path:
    """An addon folder like the packaged one, with a version of our choosing."""
    folder.mkdir(parents=True)
    (folder / "plugin.cfg").write_text(
        f'[plugin]\n\nname="SpaceTime Bridge"\ndescription="test"\nauthor="t"\n'
        f'version="{version}"\nscript="plugin.gd"\n'
    )
    (folder / "plugin.gd").write_text("@tool\nextends EditorPlugin\n")
    (folder / "bridge.gd").write_text(f"extends Node\n# {version}\n")
    (folder / extra).parent.mkdir(parents=True, exist_ok=True)
    (folder / extra).write_text("extends RefCounted\n")
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_addon(tmp_path / "packaged" / "spacetime_bridge", "0.2.0")


def make_project(tmp_path: Path, content: bytes, name: str = "game") -> Path:
    project = tmp_path / name
    project.mkdir()
    (project / "project.godot").write_bytes(content)
    return project


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and folders really read-only, also for root: root ignores permission
    bits, so there the files are made immutable (chattr +i, ext4 and most local file
    systems); the check that the trick worked keeps the tests honest."""
    as_root = os.geteuid() == 0
    modes = {path: path.stat().st_mode for path in paths}
    try:
        for path in paths:
            if as_root:
                subprocess.run(["chattr", "+i", str(path)], check=True)
            else:
                path.chmod(0o555 if path.is_dir() else 0o444)
        for path in paths:
            probe = path / "probe" if path.is_dir() else path
            with pytest.raises(PermissionError):
                probe.open("ab").close()
        yield
    finally:
        for path in paths:
            if as_root:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            path.chmod(modes[path])


def changed_lines(before: bytes, after: bytes) -> tuple[list[str], list[str]]:
    """(lines removed, lines added) between two versions of a file."""
    old = before.decode().splitlines()
    new = after.decode().splitlines()
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return removed, added


def section_of(content: bytes, line: str) -> str:
    pf = ProjectFile.from_bytes(content)
    index = [raw.rstrip("\r\n") for raw in pf.lines].index(line)
    return next(e.section for e in pf.entries if e.start == index)


# -- installing --


def test_install_adds_exactly_our_lines_to_a_realistic_project(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    assert not bridge_autoload_declared(project)

    result = install_addon(project, source=source)

    after = (project / "project.godot").read_bytes()
    removed, added = changed_lines(REALISTIC, after)
    assert removed == [f'enabled=PackedStringArray("{OTHER_PLUGIN}")']
    assert sorted(added) == sorted(
        [FLUSH_LINE, AUTOLOAD_LINE, f'enabled=PackedStringArray("{OTHER_PLUGIN}", "{PLUGIN_CFG}")']
    )
    # Each in its own section, even with "[autoload]" inside a multi-line string above.
    assert section_of(after, AUTOLOAD_LINE) == "autoload"
    assert section_of(after, FLUSH_LINE) == "application"
    lines = after.decode().splitlines()
    audio = 'AudioManager="*res://autoload/audio_manager.tscn"'
    assert lines.index(AUTOLOAD_LINE) == lines.index(audio) + 1
    assert bridge_autoload_declared(project)
    assert (project / BACKUP_NAME).read_bytes() == REALISTIC
    assert result.backup == project / BACKUP_NAME
    assert result.version == "0.2.0"
    assert result.files_copied == 4
    for name in ("plugin.cfg", "plugin.gd", "bridge.gd", "sub/helper.gd"):
        copied = project / "addons" / "spacetime_bridge" / name
        assert copied.read_bytes() == (source / name).read_bytes()
    report = "\n".join(result.report())
    assert "copied 4 files to" in report
    assert f"added {AUTOLOAD_LINE} to [autoload]" in report
    assert str(project / BACKUP_NAME) in report


def test_the_multi_line_input_map_is_one_entry_and_stays_intact(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=source)
    pf = ProjectFile.read(project / "project.godot")
    move = pf.entry("input", "move_forward")
    assert move is not None
    assert move.end - move.start == 6
    assert move.value.startswith('{\n"deadzone": 0.2,') and move.value.endswith("]\n}")
    assert pf.entry("layer_names", "3d_physics/layer_3").value == '"grabbable ; not a comment"'
    assert [s.name for s in pf.sections][1:] == [
        "application", "autoload", "display", "editor_plugins", "input", "layer_names",
        "rendering", "xr",
    ]  # fmt: skip


def test_a_second_install_changes_nothing(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=source)
    files = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    stamps = {p: p.stat().st_mtime_ns for p in files}

    again = install_addon(project, source=source)

    assert again.already_installed
    assert "already installed (version 0.2.0)" in again.report()[0]
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == files
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    text = (project / "project.godot").read_text()
    assert text.count(AUTOLOAD_NAME) == 1 and text.count(PLUGIN_CFG) == 1


def test_the_users_other_addons_stay(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    other = project / "addons" / "other"
    other.mkdir(parents=True)
    (other / "plugin.cfg").write_text('[plugin]\nname="Other"\n')
    install_addon(project, source=source)
    uninstall_addon(project)
    assert (other / "plugin.cfg").read_text() == '[plugin]\nname="Other"\n'
    assert not (project / "addons" / "spacetime_bridge").exists()


def test_the_packaged_addon_installs(tmp_path: Path):
    packaged = packaged_addon()
    assert (packaged / "plugin.cfg").is_file()
    project = make_project(tmp_path, REALISTIC)
    result = install_addon(project)
    installed = project / "addons" / "spacetime_bridge"
    assert (installed / "plugin.cfg").read_bytes() == (packaged / "plugin.cfg").read_bytes()
    assert result.version == plugin_version((packaged / "plugin.cfg").read_text()) != ""
    if (packaged / "bridge.gd").is_file():
        assert (installed / "bridge.gd").read_bytes() == (packaged / "bridge.gd").read_bytes()
    uninstall_addon(project)
    assert (project / "project.godot").read_bytes() == REALISTIC
    assert sorted(p.name for p in project.iterdir()) == ["project.godot"]


# -- uninstalling: the original, byte for byte --

MINIMAL = b'config_version=5\n\n[application]\n\nconfig/name="Tiny"\n'
VARIANTS = {
    "realistic": REALISTIC,
    "realistic-crlf": REALISTIC.replace(b"\n", b"\r\n"),
    "realistic-no-final-newline": REALISTIC.rstrip(b"\n"),
    "minimal": MINIMAL,
    "minimal-crlf-no-final-newline": MINIMAL.rstrip(b"\n").replace(b"\n", b"\r\n"),
    "no-application-section": b"config_version=5\n",
    "empty-file": b"",
    "hash-comments-and-spaces": b"# made by hand\n  \n[application]  ; main\nconfig/name = \"x\"\n",
    "only-a-comment-no-newline": b"; nothing here",
    "ends-with-blank-lines": MINIMAL + b"\n\n",
    "flush-false": MINIMAL + b"run/flush_stdout_on_print=false\n",
    "empty-sections": b"config_version=5\n\n[autoload]\n\n[editor_plugins]\n\n[xr]\n\nx=1\n",
    "empty-plugin-array": MINIMAL + b"\n[editor_plugins]\n\nenabled=PackedStringArray()\n",
    "byte-order-mark": b"\xef\xbb\xbf[application]\n\nconfig/name=\"BOM\"\n",
    "autoload-not-a-singleton": MINIMAL + f'[autoload]\n{AUTOLOAD_NAME}="{AUTOLOAD_PATH}"'.encode(),
}  # fmt: skip


@pytest.mark.parametrize("content", VARIANTS.values(), ids=VARIANTS.keys())
def test_uninstall_gives_back_the_original_byte_for_byte(
    tmp_path: Path, source: Path, content: bytes
):
    project = make_project(tmp_path, content)
    install_addon(project, source=source)
    installed = (project / "project.godot").read_bytes()
    assert installed != content
    pf = ProjectFile.from_bytes(installed)
    assert pf.entry("autoload", AUTOLOAD_NAME).value == f'"*{AUTOLOAD_PATH}"'
    assert pf.entry("application", "run/flush_stdout_on_print").value == "true"
    assert PLUGIN_CFG in pf.entry("editor_plugins", "enabled").value
    if b"\r\n" in content:
        assert installed.count(b"\n") == installed.count(b"\r\n")
    assert installed.endswith(b"\n") == (content.endswith(b"\n") or not content)
    assert install_addon(project, source=source).already_installed

    result = uninstall_addon(project)

    assert (project / "project.godot").read_bytes() == content
    assert result.restored_exactly and result.backup is None
    assert sorted(p.name for p in project.iterdir()) == ["project.godot"]
    assert "byte for byte" in "\n".join(result.report())


def test_install_on_a_project_with_flush_false_says_what_it_was(tmp_path: Path, source: Path):
    project = make_project(tmp_path, VARIANTS["flush-false"])
    result = install_addon(project, source=source)
    assert f"set {FLUSH_LINE} in [application] (was false)" in result.changes
    removed, added = changed_lines(
        VARIANTS["flush-false"], (project / "project.godot").read_bytes()
    )
    assert removed == ["run/flush_stdout_on_print=false"]
    assert FLUSH_LINE in added


def test_a_byte_order_mark_does_not_hide_the_first_section(tmp_path: Path, source: Path):
    project = make_project(tmp_path, VARIANTS["byte-order-mark"])
    install_addon(project, source=source)
    text = (project / "project.godot").read_bytes().decode()
    assert text.startswith('\ufeff[application]\n\nconfig/name="BOM"\n' + FLUSH_LINE + "\n")
    assert text.count("[application]") == 1


def test_a_symlinked_addon_folder_is_left_alone_unless_forced(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    checkout = make_addon(tmp_path / "checkout" / "spacetime_bridge", "0.2.0-dev")
    (project / "addons").mkdir()
    link = project / "addons" / "spacetime_bridge"
    link.symlink_to(checkout)
    with pytest.raises(AddonInstallError, match="symbolic link"):
        install_addon(project, source=source)
    assert (project / "project.godot").read_bytes() == REALISTIC

    install_addon(project, source=source, force=True)
    assert (
        not link.is_symlink()
        and (link / "plugin.cfg").read_bytes() == (source / "plugin.cfg").read_bytes()
    )
    assert 'version="0.2.0-dev"' in (checkout / "plugin.cfg").read_text()

    link_again = tmp_path / "other" / "game"
    shutil.copytree(project, link_again)
    shutil.rmtree(link_again / "addons" / "spacetime_bridge")
    (link_again / "addons" / "spacetime_bridge").symlink_to(checkout)
    uninstall_addon(link_again)
    assert not (link_again / "addons" / "spacetime_bridge").exists()
    assert (checkout / "plugin.cfg").is_file()


def test_a_symlinked_project_godot_stays_a_link(tmp_path: Path, source: Path):
    project = make_project(tmp_path, b"")
    shared = tmp_path / "shared.godot"
    shared.write_bytes(REALISTIC)
    (project / "project.godot").unlink()
    (project / "project.godot").symlink_to(shared)
    install_addon(project, source=source)
    assert (project / "project.godot").is_symlink()
    assert AUTOLOAD_LINE in shared.read_text()
    uninstall_addon(project)
    assert (project / "project.godot").is_symlink() and shared.read_bytes() == REALISTIC


def test_minimal_project_gains_sections_at_the_end(tmp_path: Path, source: Path):
    project = make_project(tmp_path, b"config_version=5\n")
    install_addon(project, source=source)
    assert (project / "project.godot").read_text() == (
        "config_version=5\n\n[autoload]\n\n"
        f"{AUTOLOAD_LINE}\n\n[editor_plugins]\n\n"
        f'enabled=PackedStringArray("{PLUGIN_CFG}")\n\n[application]\n\n{FLUSH_LINE}\n'
    )


def test_the_users_own_edits_since_the_install_are_kept(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=source)
    godot = project / "project.godot"
    edited = (
        godot.read_text()
        .replace("window/vsync/vsync_mode=0", "window/vsync/vsync_mode=1")
        .replace(AUTOLOAD_LINE, AUTOLOAD_LINE + '\nScore="*res://autoload/score.gd"')
    )
    godot.write_text(edited)

    result = uninstall_addon(project)

    expected = (
        REALISTIC.decode()
        .replace("window/vsync/vsync_mode=0", "window/vsync/vsync_mode=1")
        .replace(
            'AudioManager="*res://autoload/audio_manager.tscn"',
            'AudioManager="*res://autoload/audio_manager.tscn"\nScore="*res://autoload/score.gd"',
        )
    )
    assert godot.read_text() == expected
    assert not result.restored_exactly
    assert result.backup == project / BACKUP_NAME
    assert (project / BACKUP_NAME).read_bytes() == REALISTIC
    assert "your own edits" in "\n".join(result.report())


def test_a_value_the_user_changed_after_the_install_is_theirs(tmp_path: Path, source: Path):
    project = make_project(tmp_path, VARIANTS["flush-false"])
    install_addon(project, source=source)
    godot = project / "project.godot"
    godot.write_text(godot.read_text().replace(FLUSH_LINE, "run/flush_stdout_on_print=1"))
    uninstall_addon(project)
    assert "run/flush_stdout_on_print=1" in godot.read_text()
    assert AUTOLOAD_NAME not in godot.read_text()


def test_reinstall_after_the_user_removed_our_autoload_still_uninstalls_exactly(
    tmp_path: Path, source: Path
):
    project = make_project(tmp_path, MINIMAL)
    install_addon(project, source=source)
    godot = project / "project.godot"
    godot.write_text(godot.read_text().replace(AUTOLOAD_LINE + "\n", ""))
    assert not bridge_autoload_declared(project)
    result = install_addon(project, source=source)
    assert result.changes == (f"added {AUTOLOAD_LINE} to [autoload]",)
    assert result.files_copied == 0
    uninstall_addon(project)
    assert godot.read_bytes() == MINIMAL


def test_uninstall_without_the_manifest_still_removes_our_entries(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=source)
    shutil.rmtree(project / "addons" / "spacetime_bridge")
    result = uninstall_addon(project)
    text = (project / "project.godot").read_text()
    assert AUTOLOAD_NAME not in text and PLUGIN_CFG not in text
    assert f'enabled=PackedStringArray("{OTHER_PLUGIN}")' in text
    assert result.removed_dir is None and not result.restored_exactly


def test_an_update_deletes_only_stale_files_inside_our_folder(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=make_addon(tmp_path / "old" / "spacetime_bridge", "0.1.0"))
    victim = project / "keep.txt"
    victim.write_text("mine")
    manifest = project / "addons" / "spacetime_bridge" / ".install.json"
    data = json.loads(manifest.read_text())
    data["files"] += ["../../keep.txt", str(victim), "sub/../../../keep.txt", "old_only.gd"]
    manifest.write_text(json.dumps(data))
    (project / "addons" / "spacetime_bridge" / "old_only.gd").write_text("extends Node\n")
    install_addon(project, source=source)
    assert victim.read_text() == "mine"
    assert not (project / "addons" / "spacetime_bridge" / "old_only.gd").exists()


def test_uninstall_removes_files_godot_generated_in_our_folder(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=source)
    (project / "addons/spacetime_bridge/bridge.gd.uid").write_text("uid://b1234\n")
    uninstall_addon(project)
    assert not (project / "addons").exists()


def test_uninstall_of_a_project_without_the_addon_has_nothing_to_do(tmp_path: Path):
    project = make_project(tmp_path, REALISTIC)
    result = uninstall_addon(project)
    assert result.nothing_to_do
    assert result.report() == [
        f"Nothing to uninstall: the SpaceTime bridge addon is not in {project}."
    ]
    assert sorted(p.name for p in project.iterdir()) == ["project.godot"]
    assert (project / "project.godot").read_bytes() == REALISTIC


# -- refusals: each before anything changes --


def assert_untouched(project: Path, content: bytes = REALISTIC) -> None:
    assert (project / "project.godot").read_bytes() == content
    assert sorted(p.name for p in project.iterdir()) == ["project.godot"]


def test_refuses_a_folder_without_project_godot(tmp_path: Path, source: Path):
    with pytest.raises(AddonInstallError, match=r"not a Godot project: no project\.godot"):
        install_addon(tmp_path, source=source)
    with pytest.raises(AddonInstallError, match="does not exist"):
        install_addon(tmp_path / "nope", source=source)
    with pytest.raises(AddonInstallError, match="not a Godot project"):
        uninstall_addon(tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / "packaged"]


def test_refuses_a_read_only_project_folder(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    with read_only(project), pytest.raises(AddonInstallError) as refused:
        install_addon(project, source=source)
    message = str(refused.value)
    assert message.startswith(f"cannot write in {project} (")
    assert message.endswith("): make the project writable and try again")
    assert_untouched(project)


def test_refuses_a_read_only_project_godot(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    with read_only(project / "project.godot"), pytest.raises(AddonInstallError) as refused:
        install_addon(project, source=source)
    assert str(refused.value).startswith(f"cannot write {project / 'project.godot'} (")
    assert "\n" not in str(refused.value)
    assert_untouched(project)


def test_refuses_to_uninstall_from_a_read_only_addon_folder(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=source)
    installed = (project / "project.godot").read_bytes()
    with (
        read_only(project / "addons" / "spacetime_bridge"),
        pytest.raises(AddonInstallError, match=r"cannot write in .*spacetime_bridge"),
    ):
        uninstall_addon(project)
    assert (project / "project.godot").read_bytes() == installed


def test_refuses_a_newer_addon_unless_forced(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    newer = make_addon(tmp_path / "newer" / "spacetime_bridge", "0.10.0", extra="only_in_new.gd")
    install_addon(project, source=newer)
    installed = project / "addons" / "spacetime_bridge"
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}

    with pytest.raises(AddonInstallError) as refused:
        install_addon(project, source=source)
    message = str(refused.value)
    assert "newer SpaceTime bridge addon (0.10.0)" in message and "(0.2.0)" in message
    assert "--force" in message
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before

    result = install_addon(project, source=source, force=True)
    assert result.version == "0.2.0" and result.replaced_version == "0.10.0"
    assert 'version="0.2.0"' in (installed / "plugin.cfg").read_text()
    assert not (installed / "only_in_new.gd").exists()
    assert (installed / "sub" / "helper.gd").is_file()
    uninstall_addon(project)
    assert (project / "project.godot").read_bytes() == REALISTIC


def test_an_older_addon_is_replaced(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    install_addon(project, source=make_addon(tmp_path / "old" / "spacetime_bridge", "0.1.9"))
    result = install_addon(project, source=source)
    assert result.replaced_version == "0.1.9"
    assert "Installed the SpaceTime bridge addon 0.2.0 (replaced 0.1.9)" in result.report()[0]
    assert result.files_copied == 2  # plugin.cfg and bridge.gd differ
    assert result.changes == ()


def test_versions_compare_as_numbers():
    assert version_key("0.10.0") > version_key("0.9.3")
    assert version_key("1.2") < version_key("1.2.1")
    assert version_key("v2.0-beta") == (2, 0)
    assert plugin_version('[plugin]\n\nname="X"\nversion="1.4.2"\n') == "1.4.2"
    assert plugin_version('[plugin]\nname="X"\n') == ""


def test_refuses_when_the_packaged_addon_is_missing(tmp_path: Path):
    project = make_project(tmp_path, REALISTIC)
    empty = tmp_path / "broken" / "spacetime_bridge"
    empty.mkdir(parents=True)
    for folder in (empty, tmp_path / "absent"):
        with pytest.raises(AddonInstallError, match=r"broken.*reinstall spacetime-panel"):
            install_addon(project, source=folder)
    assert_untouched(project)


def test_a_failure_while_copying_leaves_project_godot_unchanged(tmp_path: Path, source: Path):
    project = make_project(tmp_path, REALISTIC)
    (project / "addons").mkdir()
    (project / "addons" / "spacetime_bridge").write_text("a file where our folder goes")
    with pytest.raises(AddonInstallError, match=r"project\.godot is unchanged"):
        install_addon(project, source=source)
    assert (project / "project.godot").read_bytes() == REALISTIC


def test_a_failure_writing_project_godot_leaves_it_unchanged(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
):
    project = make_project(tmp_path, REALISTIC)
    real_replace = os.replace

    def replace(src: str, dst: str | Path) -> None:
        if Path(dst).name == "project.godot":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(addon.os, "replace", replace)
    with pytest.raises(AddonInstallError) as failed:
        install_addon(project, source=source)
    assert "No space left on device" in str(failed.value)
    assert (project / "project.godot").read_bytes() == REALISTIC
    assert not [p for p in project.iterdir() if p.name.endswith(".tmp")]


# -- the small helpers others use --


def test_bridge_autoload_declared_never_raises(tmp_path: Path):
    assert not bridge_autoload_declared(tmp_path / "missing")
    assert not bridge_autoload_declared(tmp_path)
    (tmp_path / "project.godot").mkdir()
    assert not bridge_autoload_declared(tmp_path)
    (tmp_path / "project.godot").rmdir()
    (tmp_path / "project.godot").write_bytes(b"\xff\xfe\x00[autoload\n\x00=(((\n")
    assert not bridge_autoload_declared(tmp_path)
    (tmp_path / "project.godot").write_bytes(b'[autoload]\r\n\r\nSpaceTimeBridge="*res://x.gd"')
    assert bridge_autoload_declared(tmp_path)
    (tmp_path / "project.godot").write_bytes(b'[application]\n\nSpaceTimeBridge="x"\n')
    assert not bridge_autoload_declared(tmp_path)


def test_install_command_quotes_the_path_when_needed():
    assert install_command(Path("/home/me/game")) == "spacetime-panel install-addon /home/me/game"
    assert install_command(Path("/home/me/my game")) == (
        "spacetime-panel install-addon '/home/me/my game'"
    )


def test_packed_string_arrays_keep_their_other_items_as_written():
    two = 'PackedStringArray("res://a/plugin.cfg",  "res://b.cfg")'
    added = packed_append(two, PLUGIN_CFG)
    assert added == f'PackedStringArray("res://a/plugin.cfg",  "res://b.cfg", "{PLUGIN_CFG}")'
    assert packed_remove(added, PLUGIN_CFG) == two
    first = f'PackedStringArray("{PLUGIN_CFG}", "res://a/plugin.cfg")'
    assert packed_remove(first, PLUGIN_CFG) == 'PackedStringArray("res://a/plugin.cfg")'
    assert packed_append("PackedStringArray()", PLUGIN_CFG) == f'PackedStringArray("{PLUGIN_CFG}")'
    assert packed_remove(f'PackedStringArray("{PLUGIN_CFG}")', PLUGIN_CFG) == "PackedStringArray()"


# -- any project file: install then uninstall is the identity --

_VALUES = st.sampled_from(
    ['"text"', "true", "false", "3", 'PackedStringArray("a", "b")', '"a ; b"',
     '{\n"k": [1,\n2]\n}', '"multi\n[autoload]\nline"', "Vector2(1, 2)"]
)  # fmt: skip
_PLUGIN_ARRAYS = st.sampled_from(["PackedStringArray()", f'PackedStringArray("{OTHER_PLUGIN}")'])
_KEYS = st.sampled_from(["config/name", "run/main_scene", "x/y", "Player", "enabled", "b_c"])
_SECTIONS = st.sampled_from(
    ["application", "autoload", "editor_plugins", "display", "input", "xr", "rendering"]
)
_FILLER = st.sampled_from(["", "; a comment", "  ", "# hash comment"])


@st.composite
def project_files(draw: st.DrawFn) -> bytes:
    lines = [draw(_FILLER) for _ in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        lines.append("config_version=5")
    for name in draw(st.lists(_SECTIONS, max_size=5, unique=True)):
        lines += ["", f"[{name}]", ""] if draw(st.booleans()) else [f"[{name}]"]
        for _ in range(draw(st.integers(0, 3))):
            if draw(st.integers(0, 3)) == 0:
                lines.append(draw(_FILLER))
                continue
            key = draw(_KEYS)
            value = draw(_VALUES)
            if name == "editor_plugins" and key == "enabled":
                value = draw(_PLUGIN_ARRAYS)
            if name == "application" and draw(st.integers(0, 3)) == 0:
                key, value = "run/flush_stdout_on_print", draw(st.sampled_from(["true", "false"]))
            lines += f"{key}={value}".split("\n")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines)
    if draw(st.booleans()):
        text += newline * draw(st.integers(1, 2))
    return text.encode()


@settings(max_examples=150, deadline=None)
@given(content=project_files())
def test_any_project_file_comes_back_byte_for_byte(content: bytes):
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        source = make_addon(base / "packaged" / "spacetime_bridge", "0.2.0")
        project = make_project(base, content)
        install_addon(project, source=source)
        installed = (project / "project.godot").read_bytes()
        assert bridge_autoload_declared(project)
        removed, added = changed_lines(content, installed)
        assert AUTOLOAD_LINE in added
        assert all(line.startswith(("enabled=", "run/flush")) for line in removed)
        assert install_addon(project, source=source).already_installed
        assert (project / "project.godot").read_bytes() == installed
        uninstall_addon(project)
        assert (project / "project.godot").read_bytes() == content


def test_a_reversible_edit_survives_json_and_undoes_only_its_own_value():
    pf = ProjectFile("config_version=5\n\n[application]\n\nrun/x=false\n")
    edit = pf.set_value("application", "run/x", "true")
    assert edit is not None and edit.before == "false"
    assert pf.set_value("application", "run/x", "true") is None
    again = Edit.from_json(json.loads(json.dumps(vars(edit))))
    assert again == edit
    assert Edit.from_json({"after": "x"}) is None and Edit.from_json([1]) is None
    pf.replace_entry(pf.entry("application", "run/x"), "1")
    assert not pf.undo(edit)
    assert pf.text().endswith("run/x=1\n")
    pf.replace_entry(pf.entry("application", "run/x"), "true")
    assert pf.undo(edit)
    assert pf.text() == "config_version=5\n\n[application]\n\nrun/x=false\n"
