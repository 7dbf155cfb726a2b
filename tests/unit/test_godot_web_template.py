"""Where the Godot web harness finds the engine, and what it says when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.godot_web.template import ENV_DIR, TemplateError, find_template, template_files


def _template(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("index.js", "index.wasm", "index.audio.worklet.js"):
        (folder / name).write_bytes(b"x")
    return folder


def test_the_environment_variable_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _template(tmp_path / "godot")
    monkeypatch.setenv(ENV_DIR, str(folder))
    assert find_template(cache=tmp_path / "unused") == folder
    assert {path.name for path in template_files(folder)} == {
        "index.js",
        "index.wasm",
        "index.audio.worklet.js",
    }


def test_an_environment_folder_without_the_engine_is_an_error_that_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    with pytest.raises(TemplateError, match=r"does not hold index\.js and index\.wasm"):
        find_template(cache=tmp_path / "unused")


def test_a_filled_cache_is_used_without_fetching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    folder = _template(tmp_path / "cache" / "package" / "godot")
    assert find_template(cache=tmp_path / "cache", progress=print) == folder


def test_without_npm_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    with pytest.raises(TemplateError, match="npm is not installed"):
        find_template(cache=tmp_path / "cache")
