"""The Qt face of the panel: the only package that imports PySide6, qasync or pyqtgraph.

Importing it first stops PySide6 from keeping the source of every module
imported after it in memory (:mod:`.source_cache`, about 32 MB).
"""

from spacetime_panel.ui.source_cache import keep_sources_out_of_memory

keep_sources_out_of_memory()
