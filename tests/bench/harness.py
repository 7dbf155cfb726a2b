"""What the benchmark scripts share: a free port, a percentile, and the figures' table.

The scripts run as plain scripts (``python tests/bench/x.py``), so this module is
imported as their sibling (``from harness import free_port``), not through the
tests package; ``python -m tests.bench`` puts this folder on ``sys.path`` too.

Every benchmark module listed in ``BENCHMARKS`` exposes
``measure(quick: bool) -> list[Figure]``; ``python -m tests.bench`` runs each in
a child process of its own (Qt, environment variables and peak RSS stay
separate) and prints one table of every figure beside its baseline measured in
the same run.
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

#: The benchmark modules `python -m tests.bench` runs, in this order (cheap first).
#: `chaos` (the soak) and `xvfb_startup --gui` are run on their own.
BENCHMARKS = (
    "exit_detection",
    "socket_scan",
    "crash_detection",
    "versus_supervisord",
    "telemetry_ingest",
    "api_load",
    "graphs_redraw",
    "gui_load",
    "frame_pacing",
    "scale",
    "xvfb_startup",
)

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Figure:
    """One row of the table: a measured value, its baseline from the same run, a target.

    ``baseline`` is ``None`` when nothing comparable was measured (printed as "—").
    ``baseline_from`` names another figure's ``key`` whose value is the baseline
    (a figure of another benchmark, filled in by :func:`resolve_baselines`).
    ``target_ratio`` / ``target_value``: the row is met when value / baseline is at
    most (``better="lower"``) or at least the ratio, and/or the value is within
    the bound; with neither the row has no target.
    """

    key: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    baseline_from: str | None = None
    better: Better = "lower"
    target_ratio: float | None = None
    target_value: float | None = None
    target_text: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or math.isnan(self.baseline):
            return None
        return self.value / self.baseline

    @property
    def target(self) -> str:
        if self.target_text:
            return self.target_text
        sign = "≤" if self.better == "lower" else "≥"
        parts = []
        if self.target_ratio is not None:
            parts.append(f"{sign} {self.target_ratio:g}x")
        if self.target_value is not None:
            parts.append(f"{sign} {self.target_value:g} {self.unit}")
        return ", ".join(parts) or "—"

    @property
    def met(self) -> bool | None:
        """True / False against the target; None when there is no target (or no baseline)."""
        verdicts: list[bool] = []
        if self.target_ratio is not None:
            ratio = self.ratio
            if ratio is None:
                return None
            verdicts.append(
                ratio <= self.target_ratio if self.better == "lower" else ratio >= self.target_ratio
            )
        if self.target_value is not None:
            verdicts.append(
                self.value <= self.target_value
                if self.better == "lower"
                else self.value >= self.target_value
            )
        return all(verdicts) if verdicts else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody holds right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nobody holds right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` (0..1) of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# --- the table -----------------------------------------------------------------------


def figures_to_json(figures: Iterable[Figure]) -> str:
    return json.dumps([asdict(figure) for figure in figures])


def figures_from_json(text: str) -> list[Figure]:
    return [Figure(**row) for row in json.loads(text)]


def resolve_baselines(figures: Sequence[Figure]) -> list[Figure]:
    """Fill ``baseline`` from the figure named by ``baseline_from`` (absent: stays "—")."""
    by_key = {figure.key: figure for figure in figures}
    resolved = []
    for figure in figures:
        source = by_key.get(figure.baseline_from or "")
        if figure.baseline is None and source is not None:
            figure = replace(figure, baseline=source.value)
        resolved.append(figure)
    return resolved


def number(value: float | None, unit: str = "") -> str:
    """A value for the table: 3 significant digits, at most 2 decimals; "—" for none."""
    if value is None or math.isnan(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "—"}[met]


def table(figures: Sequence[Figure]) -> str:
    """The figures as one plain-text table (also valid Markdown)."""
    header = ("figure", "value", "baseline (same run)", "ratio", "target", "met")
    rows = [header]
    for figure in figures:
        baseline = number(figure.baseline, figure.unit)
        if figure.baseline is not None and figure.baseline_name:
            baseline = f"{baseline} ({figure.baseline_name})"
        ratio = figure.ratio
        rows.append(
            (
                figure.name,
                number(figure.value, figure.unit),
                baseline,
                "—" if ratio is None else f"{ratio:.3g}x",
                figure.target,
                verdict(figure.met),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            + " |"
        )

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])
