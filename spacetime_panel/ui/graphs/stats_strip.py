"""The row of frame-timing figures above the performance graph.

It shows a :class:`~spacetime_panel.telemetry.TelemetrySummary` as a few
labels: FPS now/avg/min, frame time p50/p95/p99, the share of frames over
budget and the dropped frames. It is updated a few times a second by
:class:`~spacetime_panel.ui.graphs.performance.PerformanceGraph`, never per
frame, and a label's text is set only when it changes (``QLabel.setText``
returns early on the same text).

Figures changing four times a second must not cost a repaint of the window
around them (measured: a plain label's new text repainted the whole
performance tab, four times a second). So each figure label has a fixed
size, that of its widest usual text (Qt then does not ask the layouts
above it to recompute), grown once if a text is wider; and the strip paints
its own background (Qt then repaints no widget underneath it).
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from spacetime_panel.core.views import TelemetrySummary
from spacetime_panel.ui.graphs.base import WAITING_TEXT

# Frames stop arriving for this long before the strip says the figures are stale.
STALE_AFTER_S = 2.0
# Over-budget share and dropped frames are shown in this colour when they are not zero.
ALERT_STYLE = "color: #ef5350;"
# The widest usual text of each figure (digits are equally wide in the UI fonts); a wider
# one (a game unlocked at 2,000 FPS) widens its label once.
WIDEST_FPS = "FPS 000.0 now · 000.0 avg · 000.0 min"
WIDEST_FRAME_TIME = "frame p50 00.00 · p95 00.00 · p99 000.00 ms"
WIDEST_OVER_BUDGET = "100.0 % over 00.00 ms budget"
WIDEST_DROPPED = "00000 dropped"
WIDEST_STALE = "no new frames for 000 s"


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class StatsStrip(QWidget):
    """FPS, frame-time percentiles, over-budget share and dropped frames, as labels.

    :meth:`show_summary` with None (or a summary without samples) shows
    "waiting for telemetry" instead of the figures.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.waiting_label = QLabel(WAITING_TEXT)
        self.fps_label = QLabel()
        self.fps_label.setToolTip("Frames per second: newest, mean and lowest over the window")
        self.frame_time_label = QLabel()
        self.frame_time_label.setToolTip("Frame time percentiles over the window")
        self.over_budget_label = QLabel()
        self.over_budget_label.setToolTip(
            "Share of frames longer than the frame budget (1000 / refresh rate) by over 5 %"
        )
        self.dropped_label = QLabel()
        self.dropped_label.setToolTip("Missed vsyncs over the window")
        self.stale_label = QLabel()
        self.stale_label.setStyleSheet(ALERT_STYLE)
        self._figures = (
            self.fps_label,
            self.frame_time_label,
            self.over_budget_label,
            self.dropped_label,
        )
        widest = (WIDEST_FPS, WIDEST_FRAME_TIME, WIDEST_OVER_BUDGET, WIDEST_DROPPED, WIDEST_STALE)
        for label, text in zip((*self._figures, self.stale_label), widest, strict=True):
            width = label.fontMetrics().horizontalAdvance(text)
            label.setFixedSize(width, label.sizeHint().height())
        self.setAutoFillBackground(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(14)
        layout.addWidget(self.waiting_label)
        for label in self._figures:
            label.hide()
            layout.addWidget(label)
        layout.addWidget(self.stale_label)
        self.stale_label.hide()
        self._alerting: dict[QLabel, bool] = {}

    @property
    def waiting(self) -> bool:
        """True while the strip shows "waiting for telemetry" instead of figures."""
        return not self.waiting_label.isHidden()

    def text(self) -> str:
        """Everything the strip shows, as one line (for tests and tooltips)."""
        labels = [self.waiting_label, *self._figures, self.stale_label]
        return "  ".join(label.text() for label in labels if not label.isHidden())

    def show_summary(self, summary: TelemetrySummary | None) -> None:
        """Show ``summary``'s figures (or "waiting for telemetry" if there are none)."""
        waiting = summary is None or summary.samples == 0 or summary.fps_now is None
        if waiting != self.waiting:
            self.waiting_label.setVisible(waiting)
            for label in self._figures:
                label.setVisible(not waiting)
        if summary is None or waiting:
            self.stale_label.hide()
            return
        self._set(
            self.fps_label,
            f"FPS {_number(summary.fps_now)} now · {_number(summary.fps_avg)} avg"
            f" · {_number(summary.fps_min)} min",
        )
        self._set(
            self.frame_time_label,
            f"frame p50 {_number(summary.frame_time_p50_ms, 2)}"
            f" · p95 {_number(summary.frame_time_p95_ms, 2)}"
            f" · p99 {_number(summary.frame_time_p99_ms, 2)} ms",
        )
        share = summary.over_budget_share or 0.0
        self._set(
            self.over_budget_label, f"{share * 100.0:.1f} % over {summary.budget_ms:.2f} ms budget"
        )
        self._alert(self.over_budget_label, share > 0.0)
        self._set(self.dropped_label, f"{summary.dropped_frames} dropped")
        self._alert(self.dropped_label, summary.dropped_frames > 0)
        age = summary.sample_age_s
        stale = age is not None and age > STALE_AFTER_S
        if stale:
            self._set(self.stale_label, f"no new frames for {age:.0f} s")
        if stale != (not self.stale_label.isHidden()):
            self.stale_label.setVisible(stale)

    @staticmethod
    def _set(label: QLabel, text: str) -> None:
        label.setText(text)
        width = label.fontMetrics().horizontalAdvance(text)
        if width > label.width():  # wider than planned: grow once (the one re-layout)
            label.setFixedWidth(width)

    def _alert(self, label: QLabel, alert: bool) -> None:
        # A style sheet change re-polishes the label: only do it on a change.
        if self._alerting.get(label) != alert:
            self._alerting[label] = alert
            label.setStyleSheet(ALERT_STYLE if alert else "")
