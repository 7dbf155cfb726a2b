"""The telemetry graphs: one package, imported in one direction.

- :mod:`.base`: the redraw policy every graph shares (:class:`ScrollingGraph`,
  curves, ranges, decimation); it imports none of the modules below.
- :mod:`.stats_strip`: the row of frame-timing figures (uses :mod:`.base`).
- :mod:`.performance`: FPS and frame times (uses :mod:`.base` and :mod:`.stats_strip`).
- :mod:`.headset`: the headset's pose and trail (uses :mod:`.base`).
"""

from spacetime_panel.ui.graphs.headset import HeadsetGraph
from spacetime_panel.ui.graphs.performance import PerformanceGraph

__all__ = ["HeadsetGraph", "PerformanceGraph"]
