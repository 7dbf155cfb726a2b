"""Keep PySide6 from holding the source text of every module imported after it.

PySide6 (6.x, PYSIDE-2029) replaces ``__import__`` and, for each module
imported after it, asks whether the module's source mentions ``PySide6`` (to
know whether ``from __feature__ import ...`` may apply to it). It asks with
``inspect.getsource``, which leaves every line of every such module in
:mod:`linecache` for the life of the process: the panel imports about 1,200
modules, and their sources took about 32 MB of its memory.

:func:`keep_sources_out_of_memory` gives PySide6 the same answer (does the
file mention ``PySide6``?) from the file's bytes, read and dropped, and
forgets the sources cached so far. Nothing else changes: a module whose file
names PySide6 still gets its feature default, and a traceback still reads
the lines it shows from disk.
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable
from types import ModuleType

MARK = "_spacetime_reads_bytes"


def _uses_pyside_from_bytes(fallback: Callable[[ModuleType], bool]) -> Callable[[ModuleType], bool]:
    def uses_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return fallback(module)  # built-in, extension or bytecode-only: PySide's own answer
        try:
            with open(path, "rb") as source:
                return b"PySide6" in source.read()
        except OSError:
            return False  # what PySide6 answers when the source cannot be read

    setattr(uses_pyside, MARK, True)
    return uses_pyside


def forget_file_sources() -> int:
    """Drop the cached lines of files on disk (they are read again if a traceback needs them).

    Lines registered for generated code (no modification time: they cannot be
    read again) are kept. Returns how many files were forgotten.
    """
    on_disk = [name for name, entry in linecache.cache.items() if len(entry) == 4 and entry[1]]
    for name in on_disk:
        linecache.cache.pop(name, None)
    return len(on_disk)


def keep_sources_out_of_memory() -> bool:
    """Stop PySide6's import hook from caching sources; True if it was found and changed.

    Harmless where the hook is absent or different (another PySide6 version):
    it then changes nothing and returns False.
    """
    import PySide6.QtCore  # noqa: F401  (installs the import hook this changes)

    feature = sys.modules.get("shibokensupport.feature")
    check = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or not callable(check):
        return False
    if not getattr(check, MARK, False):
        feature._mod_uses_pyside = _uses_pyside_from_bytes(check)  # type: ignore[attr-defined]
    forget_file_sources()
    return True
