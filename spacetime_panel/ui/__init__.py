"""The Qt face of the panel: the only package that imports PySide6, qasync or pyqtgraph."""
