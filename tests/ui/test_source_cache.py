"""PySide6's import hook no longer keeps every imported module's source in memory."""

from __future__ import annotations

import linecache
import sys
import uuid
from pathlib import Path

import pytest

import spacetime_panel.ui  # noqa: F401  (the package's import applies the change)
from spacetime_panel.ui.source_cache import forget_file_sources, keep_sources_out_of_memory


def import_probe(folder: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """Import a new module holding `text` from `folder`; its name and file."""
    name = f"probe_{uuid.uuid4().hex}"
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, name, raising=False)  # removed again after the test
    __import__(name)  # an import statement's path: PySide6 hooks __import__
    return name, path


def test_modules_imported_after_pyside_leave_no_source_in_memory(tmp_path, monkeypatch):
    feature = sys.modules["shibokensupport.feature"]
    qt_name, qt_path = import_probe(tmp_path, "import PySide6.QtCore\nVALUE = 1\n", monkeypatch)
    plain_name, plain_path = import_probe(tmp_path, "VALUE = 2\n", monkeypatch)
    # PySide6 looked at both (it records each module it checked) ...
    assert feature.pyside_feature_dict[qt_name] == 0  # uses PySide6: features may apply
    assert feature.pyside_feature_dict[plain_name] == -1  # ignored, as PySide6 decides
    # ... and kept neither's lines (before, inspect.getsource left them in linecache).
    assert str(qt_path) not in linecache.cache
    assert str(plain_path) not in linecache.cache


def test_applying_twice_changes_nothing_more():
    feature = sys.modules["shibokensupport.feature"]
    check = feature._mod_uses_pyside
    assert keep_sources_out_of_memory()
    assert feature._mod_uses_pyside is check


def test_forgetting_keeps_the_lines_of_generated_code(tmp_path):
    real = tmp_path / "real.py"
    real.write_text("A = 1\n", encoding="utf-8")
    assert linecache.getlines(str(real)) == ["A = 1\n"]
    generated = f"<generated {uuid.uuid4().hex}>"
    linecache.cache[generated] = (6, None, ["B = 2\n"], generated)  # cannot be read again
    try:
        assert forget_file_sources() >= 1
        assert str(real) not in linecache.cache
        assert linecache.getlines(generated) == ["B = 2\n"]
        assert linecache.getlines(str(real)) == ["A = 1\n"]  # read again when asked
    finally:
        linecache.cache.pop(generated, None)
