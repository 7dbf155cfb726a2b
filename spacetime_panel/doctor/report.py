"""A doctor's finding (`Check`), the overall verdict, and the aligned lines `doctor` prints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Verdict = Literal["ok", "warning", "error"]
VERDICTS: tuple[Verdict, ...] = ("ok", "warning", "error")


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: `fix` is what to do about it ("" when nothing needs doing)."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def overall(checks: Iterable[Check]) -> Verdict:
    """The worst verdict (ok when there are no checks)."""
    return max((c.verdict for c in checks), key=VERDICTS.index, default="ok")


def format_lines(checks: Sequence[Check]) -> list[str]:
    """One aligned line per check: `ok`, `warn` or `FAIL`, the name, the detail, the fix."""
    marks = {"ok": "ok", "warning": "warn", "error": "FAIL"}
    width = max((len(check.name) for check in checks), default=0)
    lines: list[str] = []
    for check in checks:
        line = f"{marks[check.verdict]:<4}  {check.name:<{width}}  {check.detail}"
        if check.fix and check.verdict != "ok":
            line += f"  fix: {check.fix}"
        lines.append(line)
    return lines
