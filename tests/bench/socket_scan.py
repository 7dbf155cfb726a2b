"""Benchmark: who holds the six panel ports, through netlink sock_diag and through psutil.

The passive service check asks the OS which process listens on each port
every 2 s. psutil (the baseline) reads the socket table and then walks every
descriptor of every process; sock_diag asks the kernel for the listening
sockets and looks a pid up only for a socket it has not seen (`SocketTable`).

Six real child processes listen on six free ports. Measured per lookup of the
six: psutil's walk; sock_diag with the pids known (every check after the
first); sock_diag with a new listener each time (a restarted game: one pid
search); each through `port_owners`, the monitor's own call (pid and process
name); and what each costs an asyncio loop when it runs in a worker thread,
as the monitor runs it (the lag of a 1 ms timer while lookups repeat).
Usage:

    .venv/bin/python tests/bench/socket_scan.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import psutil
from harness import Figure, free_port, percentile

from spacetime_panel.probes.owner import port_owners, psutil_port_owners

HOLDER = """
import socket, sys
sock = socket.socket()
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen()
print("ready", flush=True)
sys.stdin.read()
"""


def hold(port: int) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    return child


def release(child: subprocess.Popen[bytes]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=10)


def timed(lookup: Callable[[], object], runs: int) -> list[float]:
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        lookup()
        times.append((time.perf_counter() - start) * 1000)
    return times


async def loop_lag(lookup: Callable[[], object], seconds: float) -> list[float]:
    """How late a 1 ms timer fires while `lookup` repeats in a worker thread."""
    stop = time.monotonic() + seconds
    lags: list[float] = []

    async def lookups() -> None:
        while time.monotonic() < stop:
            await asyncio.to_thread(lookup)

    worker = asyncio.create_task(lookups())
    while time.monotonic() < stop:
        due = time.perf_counter() + 0.001
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - due) * 1000)
    await worker
    return lags


def measure(quick: bool) -> list[Figure]:
    return lookups(50 if quick else 200, quick)


def lookups(runs: int, quick: bool = False) -> list[Figure]:
    ports = [free_port() for _ in range(6)]
    children = [hold(port) for port in ports]
    wanted = set(ports)
    try:
        assert psutil_port_owners(wanted) == port_owners(wanted)  # the same answer
        walk = timed(lambda: psutil_port_owners(wanted), runs)
        known = timed(lambda: port_owners(wanted), runs)
        fresh: list[float] = []
        for _ in range(max(5, runs // 10)):  # a new listener on the first port each time
            release(children[0])
            children[0] = hold(ports[0])
            fresh += timed(lambda: port_owners(wanted), 1)
        seconds = 2.0 if quick else 5.0
        lag_walk = asyncio.run(loop_lag(lambda: psutil_port_owners(wanted), seconds))
        lag_kernel = asyncio.run(loop_lag(lambda: port_owners(wanted), seconds))
    finally:
        for child in children:
            release(child)
    processes = len(psutil.pids())
    print(f"{processes} processes on this machine; {runs} lookups of 6 ports each", file=sys.stderr)
    walk_name = f"psutil walk ({processes} processes)"
    return [
        Figure(
            "scan_known",
            "who holds 6 ports: sock_diag, pids known, p50",
            percentile(known, 0.5),
            "ms",
            baseline=percentile(walk, 0.5),
            baseline_name=walk_name,
            target_value=1.0,
        ),
        Figure(
            "scan_new",
            "who holds 6 ports: sock_diag, a new listener, p50",
            percentile(fresh, 0.5),
            "ms",
            baseline=percentile(walk, 0.5),
            baseline_name=walk_name,
        ),
        Figure(
            "scan_lag",
            "event-loop lag p99 while lookups repeat in a thread",
            percentile(lag_kernel, 0.99),
            "ms",
            baseline=percentile(lag_walk, 0.99),
            baseline_name="the same with psutil's walk",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    for figure in lookups(parser.parse_args().runs):
        print(
            f"{figure.name:<55} {figure.value:8.3f} {figure.unit}   {figure.baseline_name}: "
            f"{figure.baseline:8.3f} {figure.unit}"
        )


if __name__ == "__main__":
    main()
