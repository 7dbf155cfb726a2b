"""Benchmark: how long after a child's end the supervisor sees it, per exit watch.

Spawns a short-lived sleeping child through `GodotProcess.spawn` with the
exit watch forced (pidfd, then poll: the psutil fallback used where there is
no pidfd, kqueue or process handle), kills it with SIGKILL and measures kill ->
`exited` resolved. Also measures the same for adopted processes (not our
children: the polling watch then asks psutil instead of `Popen.poll()`).
Prints p50 / p99 / max per watch, and the polling watch's ratio to pidfd.
Usage:

    .venv/bin/python tests/bench/exit_detection.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import time

import psutil
from harness import Figure, percentile

from spacetime_panel.supervisor.exit_watch import EXIT_WATCH_ENV
from spacetime_panel.supervisor.process import GodotProcess

SLEEP = [shutil.which("sleep") or "sleep", "60"]


def line(name: str, values_ms: list[float]) -> str:
    return (
        f"{name:<30} p50 {percentile(values_ms, 0.50):8.2f} ms   "
        f"p99 {percentile(values_ms, 0.99):8.2f} ms   max {max(values_ms):8.2f} ms"
    )


async def spawned(kind: str, runs: int) -> list[float]:
    os.environ[EXIT_WATCH_ENV] = kind
    latencies: list[float] = []
    for _ in range(runs):
        process = await GodotProcess.spawn(
            SLEEP, env={"PATH": os.environ.get("PATH", "")}, cwd=None, sink=lambda *_: None
        )
        assert process.exit_watch == kind, process.exit_watch
        await asyncio.sleep(random.uniform(0, 0.06))  # any phase of the polling timer
        start = time.perf_counter()
        psutil.Process(process.pid).kill()
        await asyncio.wait_for(process.exited, 10)
        latencies.append((time.perf_counter() - start) * 1000)
        process.close_pipes()
    return latencies


async def adopted(kind: str, runs: int) -> list[float]:
    os.environ[EXIT_WATCH_ENV] = kind
    latencies: list[float] = []
    for _ in range(runs):
        orphan = subprocess.Popen(SLEEP, start_new_session=True)
        create_time = psutil.Process(orphan.pid).create_time()
        await exec_done(orphan.pid)
        process = GodotProcess.adopt(orphan.pid, create_time, SLEEP)
        assert process.exit_watch == kind, process.exit_watch
        await asyncio.sleep(random.uniform(0, 0.06))
        start = time.perf_counter()
        orphan.kill()
        # Reap it as its real parent (init) would, so that it does not stay a zombie.
        await asyncio.get_running_loop().run_in_executor(None, orphan.wait)
        await asyncio.wait_for(process.exited, 10)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


async def exec_done(pid: int) -> None:
    """Wait (at most 5 s) until the child has finished its exec: its command line is readable."""
    async with asyncio.timeout(5):
        while not psutil.Process(pid).cmdline():
            await asyncio.sleep(0.001)


async def run(runs: int) -> dict[str, list[float]]:
    if not hasattr(os, "pidfd_open"):
        sys.exit("this benchmark compares against pidfd: run it on Linux 5.3 or later")
    results: dict[str, list[float]] = {}
    for kind in ("pidfd", "poll"):
        results[f"spawned, {kind}"] = await spawned(kind, runs)
        results[f"adopted, {kind}"] = await adopted(kind, runs)
    report(results, runs)
    return results


def report(results: dict[str, list[float]], runs: int) -> None:
    print(f"exit detection, SIGKILL -> exit seen, {runs} runs each")
    for name, values in results.items():
        print(line(name, values))
    for origin in ("spawned", "adopted"):
        base = percentile(results[f"{origin}, pidfd"], 0.50)
        poll = percentile(results[f"{origin}, poll"], 0.50)
        print(f"{origin}: polling p50 / pidfd p50 = {poll / base:.1f}x")


def measure(quick: bool) -> list[Figure]:
    """For `python -m tests.bench`: our exit watch (pidfd) beside the polling fallback."""
    results = asyncio.run(run(30 if quick else 200))
    figures = []
    for origin in ("spawned", "adopted"):
        ours, poll = results[f"{origin}, pidfd"], results[f"{origin}, poll"]
        for label, share in (("p50", 0.5), ("p99", 0.99)):
            figures.append(
                Figure(
                    f"exit.{origin}.{label}",
                    f"exit seen, {origin} child (pidfd) {label}",
                    percentile(ours, share),
                    "ms",
                    percentile(poll, share),
                    "psutil polling, 50 ms",
                )
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    asyncio.run(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
