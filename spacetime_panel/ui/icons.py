"""Health icons and state colours, drawn at run time (no image files to ship or lose).

One colour language for the whole panel: green = up or running, amber = on its
way (starting, degraded, restarting), red = down or given up, grey = unknown or
stopped on purpose. The tray icon, the window icon and the table cells share it.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPen, QPixmap, QRadialGradient

from spacetime_panel.core.views import ProgramState, ServiceState

HealthLevel = Literal["green", "amber", "red", "grey"]
HEALTH_LEVELS: tuple[HealthLevel, ...] = ("green", "amber", "red", "grey")

# Colours readable both as a cell background (with dark text) and as an icon fill.
_LEVEL_RGB: dict[HealthLevel, str] = {
    "green": "#3cb371",
    "amber": "#f0a830",
    "red": "#e0483e",
    "grey": "#9a9a9a",
}

_SERVICE_LEVELS: dict[ServiceState, HealthLevel] = {
    ServiceState.UP: "green",
    ServiceState.DEGRADED: "amber",
    ServiceState.DOWN: "red",
    ServiceState.UNKNOWN: "grey",
}

_PROGRAM_LEVELS: dict[ProgramState, HealthLevel] = {
    ProgramState.RUNNING: "green",
    ProgramState.STARTING: "amber",
    ProgramState.BACKOFF: "amber",
    ProgramState.STOPPING: "amber",
    ProgramState.FATAL: "red",
    ProgramState.EXITED: "red",
    ProgramState.STOPPED: "grey",
}

_ICON_SIZES = (16, 22, 24, 32, 48, 64)


def level_color(level: HealthLevel) -> QColor:
    """The fill colour of a health level."""
    return QColor(_LEVEL_RGB[level])


def state_level(state: ServiceState | ProgramState) -> HealthLevel:
    """The health level a service or program state is shown with."""
    if isinstance(state, ServiceState):
        return _SERVICE_LEVELS[state]
    return _PROGRAM_LEVELS[state]


def state_color(state: ServiceState | ProgramState) -> QColor:
    """Cell colour for a state: green up/running, amber degraded/transitional, red down."""
    return level_color(state_level(state))


def text_color_on(background: QColor) -> QColor:
    """Black or white, whichever reads better on `background` (by perceived luminance)."""
    r, g, b = background.red(), background.green(), background.blue()
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return QColor(Qt.GlobalColor.black) if luminance > 140 else QColor(Qt.GlobalColor.white)


def _draw_badge(size: int, fill: QColor) -> QPixmap:
    """A shaded disc with a dark rim, and an "S" on it when there is room to read it."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        margin = max(1.0, size / 16)
        rect = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
        gradient = QRadialGradient(
            QPointF(rect.center().x() - size / 6, rect.center().y() - size / 6), size * 0.7
        )
        gradient.setColorAt(0.0, fill.lighter(135))
        gradient.setColorAt(1.0, fill.darker(115))
        painter.setBrush(QBrush(gradient))
        painter.setPen(QPen(fill.darker(170), max(1.0, size / 20)))
        painter.drawEllipse(rect)
        if size >= 22:
            font = QFont()
            font.setBold(True)
            font.setPixelSize(round(size * 0.58))
            painter.setFont(font)
            painter.setPen(text_color_on(fill))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "S")
    finally:
        painter.end()
    return pixmap


def health_pixmap(level: HealthLevel, size: int = 32) -> QPixmap:
    """One size of the health badge (for labels that show the level next to text)."""
    return _draw_badge(size, level_color(level))


def health_icon(level: HealthLevel) -> QIcon:
    """The tray and window icon for a health level, in the sizes desktops ask for."""
    if level not in _LEVEL_RGB:
        raise ValueError(f"unknown health level {level!r}; expected one of {HEALTH_LEVELS}")
    icon = QIcon()
    fill = level_color(level)
    for size in _ICON_SIZES:
        icon.addPixmap(_draw_badge(size, fill))
    return icon
