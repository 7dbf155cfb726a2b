"""The benchmark harness (`python -m tests.bench`): the table, the verdicts, the registry.

The benchmarks themselves are never run here (timings belong in tests/bench);
this checks that each registered module has `measure(quick)` and `main`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from harness import (  # noqa: E402 (the benchmarks import it as a sibling)
    BENCHMARKS,
    Figure,
    figures_from_json,
    figures_to_json,
    number,
    resolve_baselines,
    table,
)


def figure(**changes: object) -> Figure:
    values: dict[str, object] = {"key": "k", "name": "a figure", "value": 2.0, "unit": "ms"}
    values.update(changes)
    return Figure(**values)  # type: ignore[arg-type]


def test_ratio_and_a_ratio_target():
    row = figure(value=150.0, baseline=1000.0, target_ratio=0.2)
    assert row.ratio == pytest.approx(0.15)
    assert row.met is True
    assert figure(value=300.0, baseline=1000.0, target_ratio=0.2).met is False


def test_a_value_target_and_higher_is_better():
    assert figure(value=4.9, target_value=5.0).met is True
    assert figure(value=5.1, target_value=5.0).met is False
    assert figure(value=0.97, better="higher", target_value=0.98).met is False
    assert figure(value=2.0, baseline=1.0, better="higher", target_ratio=1.5).met is True


def test_no_target_or_no_baseline_has_no_verdict():
    assert figure().met is None
    assert figure(target_ratio=0.5).met is None  # a ratio target without a baseline
    assert figure(baseline=0.0).ratio is None


def test_baseline_from_another_benchmarks_figure():
    bare = figure(key="graphs.bare_window", value=10.0, unit="%")
    panel = figure(key="gui.visible", value=4.0, unit="%", baseline_from="graphs.bare_window")
    missing = figure(key="x", baseline_from="not.measured")
    resolved = resolve_baselines([bare, panel, missing])
    assert resolved[1].baseline == 10.0
    assert resolved[1].ratio == pytest.approx(0.4)
    assert resolved[2].baseline is None


def test_figures_survive_the_trip_from_the_child_process():
    rows = [figure(baseline=3.0, baseline_name="supervisord", target_ratio=0.2), figure()]
    assert figures_from_json(figures_to_json(rows)) == rows


def test_the_table_has_a_row_per_figure_with_baseline_ratio_target_and_verdict():
    rows = [
        figure(name="kill -> new process", value=110.0, baseline=1010.0,
               baseline_name="supervisord", target_ratio=0.2),
        figure(name="no baseline yet", value=1.5),
        figure(name="over its bound", value=12.0, target_value=10.0),
    ]  # fmt: skip
    lines = table(rows).splitlines()
    assert lines[0].split("|")[1].strip() == "figure"
    assert set(lines[1]) <= {"|", "-"}
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert cells[0] == ["kill -> new process", "110 ms", "1,010 ms (supervisord)", "0.109x",
                        "≤ 0.2x", "met"]  # fmt: skip
    assert cells[1] == ["no baseline yet", "1.50 ms", "—", "—", "—", "—"]
    assert cells[2][-2:] == ["≤ 10 ms", "MISSED"]
    assert len({len(line) for line in lines}) == 1  # columns aligned


def test_numbers_keep_three_figures():
    assert number(0.123, "ms") == "0.12 ms"
    assert number(12.34, "%") == "12.3 %"
    assert number(1234.4, "req/s") == "1,234 req/s"
    assert number(None) == "—"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_registered_benchmark_has_measure_and_main(name: str):
    # Read, not imported: some set environment variables (Qt's platform, the
    # simulator's rate) at import, which would leak into the rest of the session.
    tree = ast.parse((BENCH / f"{name}.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert [arg.arg for arg in functions["measure"].args.args] == ["quick"]
    assert ast.unparse(functions["measure"].returns) == "list[Figure]"
    assert "main" in functions  # still runs as a script


def test_the_harness_runs_as_a_module():
    assert (BENCH / "__main__.py").is_file()
    assert not (BENCH / "chaos.py").exists() or "chaos" not in BENCHMARKS
