"""Run every benchmark and print one table: figure, value, baseline (same run), ratio, target.

    .venv/bin/python -m tests.bench [--quick] [--only NAME ...] [--markdown FILE]

Each benchmark module (``harness.BENCHMARKS``) runs in a child process of its
own, one after the other, and hands back its figures as JSON; a benchmark
that fails is reported and the others still run. ``--quick`` runs each one
short (about 3 minutes in all on 2 cores). The chaos soak (``chaos.py``) is
run on its own.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402 (the sibling import needs the path above)
    BENCHMARKS,
    Figure,
    figures_from_json,
    figures_to_json,
    resolve_baselines,
    table,
)


def run_child(name: str, quick: bool, out: Path) -> None:
    """In the child process: import the benchmark, measure, write the figures to `out`."""
    module = importlib.import_module(name)
    figures: list[Figure] = module.measure(quick)
    out.write_text(figures_to_json(figures))


def run_one(name: str, quick: bool, folder: Path) -> tuple[list[Figure], str | None]:
    out = folder / f"{name}.json"
    command = [sys.executable, str(HERE / "__main__.py"), "--child", name, "--out", str(out)]
    if quick:
        command.append("--quick")
    started = time.monotonic()
    print(f"--- {name}", file=sys.stderr, flush=True)
    # Its own output (progress, its own lines) goes to stderr; the table alone to stdout.
    done = subprocess.run(command, stdout=sys.stderr, check=False)
    took = time.monotonic() - started
    print(f"--- {name}: {took:.0f} s", file=sys.stderr, flush=True)
    if done.returncode != 0 or not out.exists():
        return [], f"{name} failed (exit code {done.returncode})"
    return figures_from_json(out.read_text()), None


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cores = os.cpu_count()
    text = f"{platform.platform()}, Python {platform.python_version()}, {cores} cores"
    if load is not None:
        text += f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about 3 minutes)")
    parser.add_argument(
        "--only", nargs="+", choices=BENCHMARKS, metavar="NAME", help="only these benchmarks"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.quick, args.out)
        return 0

    started = time.monotonic()
    header = machine()
    figures: list[Figure] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="spacetime-bench-") as folder:
        for name in args.only or BENCHMARKS:
            got, failure = run_one(name, args.quick, Path(folder))
            figures.extend(got)
            if failure:
                failures.append(failure)
    text = table(resolve_baselines(figures))
    minutes = (time.monotonic() - started) / 60
    summary = f"{'quick' if args.quick else 'full'} run, {minutes:.1f} min; {header}"
    print(summary)
    print(text)
    for failure in failures:
        print(f"not measured: {failure}")
    if args.markdown:
        args.markdown.write_text(f"{summary}\n\n{text}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
