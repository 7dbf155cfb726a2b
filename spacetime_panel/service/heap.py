"""Keep the garbage collector's full passes off the event loop's critical moments.

Everything alive once a panel has started (modules, the API app, settings,
Qt's wrappers) stays alive for the process's life, yet every full (gen 2)
collection walks all of it again: about 90,000 objects, 50 ms on a small
machine, during which the loop that should see a crashed game and restart it
does nothing. One kill in 30 waited that long in the benchmark.
`gc.freeze()` (https://docs.python.org/3/library/gc.html#gc.freeze) moves the
objects alive now into a permanent generation the collector never walks;
later passes look only at what came after. Memory is unchanged: frozen
objects are the ones that were going to live anyway.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_heap(why: str) -> int:
    """Collect once, then freeze what is left; returns how many objects are frozen now."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("%s: %d objects set aside from garbage collection (gc.freeze)", why, frozen)
    return frozen
