"""Benchmark: /health under load while telemetry flows at 144 Hz, and what the load costs it.

Starts ``spacetime-panel serve --demo`` (the simulated Godot, game and
editor) with the game's telemetry at 144 Hz (``SPACETIME_SIM_RATE_HZ``: an
``fps`` and a ``vr_tracking`` frame per tick, 288 msg/s) and measures three
windows of ``--seconds`` each:

1. quiet: telemetry only;
2. load: a SECOND process sends ``GET /health`` at ``--rate`` requests/s
   (open loop on one keep-alive connection: each request is due at its slot,
   and its latency counts from that slot, so a slow answer also delays the
   ones behind it instead of hiding them);
3. quiet again (a drift check for window 1).

Prints /health latency p50/p99/max and throughput of window 2, and for each
window the telemetry messages per second the panel received (the
``messages_total`` counter of ``/telemetry/summary``), the disconnects and
the CPU share of the panel process; then the ratio of
telemetry under load to telemetry without. Target: p99 under 10 ms,
telemetry unaffected (ratio ~1.00). Usage::

    .venv/bin/python tests/bench/api_load.py [--seconds 20] [--rate 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from harness import Figure, free_port, free_udp_port, percentile

from spacetime_panel.service.panel_service import prepare_demo_project

RATE_HZ = 144


# --- the second process: GET /health at a fixed rate ---------------------------------


def connect(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def send_load(port: int, rate: float, seconds: float, fresh: bool, out: Path) -> None:
    """Open loop: request i is due at start + i/rate; the results go to `out` (JSON).

    One keep-alive connection (as Prometheus or the panel's own client), or with
    `fresh` a new connection per request (as Docker's or systemd's health checks).
    """
    connection = None if fresh else connect(port)
    latencies: list[float] = []  # from the due time, seconds
    service: list[float] = []  # from the actual send, seconds
    statuses: dict[int | str, int] = {}
    closed = rate <= 0  # closed loop: back to back for `seconds` (the highest throughput)
    count = 10**9 if closed else int(rate * seconds)
    start = time.perf_counter() + 0.05
    # The run is bounded: whatever is still unsent then counts as not sent.
    give_up = start + (seconds if closed else 2 * seconds + 5)
    for i in range(count):
        due = time.perf_counter() if closed else start + i / rate
        if time.perf_counter() > give_up:
            break
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # pacing the schedule, not waiting for a condition
        sent = time.perf_counter()
        used = connection or connect(port)
        try:
            used.request("GET", "/health")
            response = used.getresponse()
            response.read()
            status = response.status
        except (http.client.HTTPException, OSError) as exc:
            status = type(exc).__name__  # counted; the next request gets a new connection
            used.close()
            connection = None if fresh else connect(port)
        done = time.perf_counter()
        if fresh:
            used.close()
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(done - due)
        service.append(done - sent)
    elapsed = time.perf_counter() - start
    if connection is not None:
        connection.close()
    out.write_text(
        json.dumps(
            {
                "latencies": latencies,
                "service": service,
                "elapsed": elapsed,
                "statuses": statuses,
                "unsent": 0 if closed else count - len(latencies),
            }
        )
    )


# --- the panel ------------------------------------------------------------------------


@dataclass
class Window:
    name: str
    seconds: float
    messages: int
    disconnects: int
    cpu: float  # CPU seconds of the panel process (children not included)

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds


class Panel:
    """A `serve --demo` child on free ports; its files in a temporary folder."""

    def __init__(self, folder: Path, *, telemetry: bool = True) -> None:
        self.port = free_port()
        self.telemetry = telemetry
        self.url = f"http://127.0.0.1:{self.port}"
        project = prepare_demo_project(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPACETIME_")}
        env.update(
            {
                "SPACETIME_SIM_RATE_HZ": str(RATE_HZ),
                "SPACETIME__TELEMETRY__REFRESH_RATE_HZ": str(RATE_HZ),
                "SPACETIME__API__RATE_LIMIT_PER_MINUTE": "100000",
                "XDG_CONFIG_HOME": str(folder / "config"),
                "SPACETIME__TELEMETRY__ENABLED": "true" if telemetry else "false",
            }
        )
        command = [
            sys.executable, "-m", "spacetime_panel", "serve", "--demo",
            "--project-path", str(project),
            "--port", str(self.port),
            "--godot-port", str(free_port()),
            "--telemetry-port", str(free_port()),
            "--lsp-port", str(free_port()),
            "--dap-port", str(free_port()),
            "--discovery-port", str(free_udp_port()),
            "--log-dir", str(folder / "logs"),
            "--state-dir", str(folder / "state"),
            "--log-level", "WARNING",
        ]  # fmt: skip
        self.log = (folder / "serve.log").open("w")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.process.pid)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def summary(self) -> dict[str, Any]:
        answer = self.http.get("/telemetry/summary")
        if answer.status_code != 200:
            return {"messages_total": 0, "disconnects": 0}
        body: dict[str, Any] = answer.json()
        return body

    def wait_streaming(self, timeout: float = 60) -> dict[str, Any]:
        """Poll until healthy and telemetry has flowed for a second at the expected rate."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"serve exited with {self.process.returncode}")
            try:
                healthy = self.http.get("/health").status_code == 200
                summary = self.summary()
            except (httpx.TransportError, json.JSONDecodeError):
                healthy, summary = False, {}
            streaming = summary.get("messages_per_s", 0) > 1.5 * RATE_HZ
            if healthy and not self.telemetry:
                return summary
            if healthy and summary.get("state") == "connected" and streaming:
                return summary
            time.sleep(0.1)
        raise SystemExit(f"telemetry not flowing after {timeout:g} s: {summary}")

    def window(self, name: str, seconds: float, during: subprocess.Popen[bytes] | None) -> Window:
        """Counters over `seconds` (or until `during` ends, when given)."""
        before = self.summary()
        cpu_before = sum(self.ps.cpu_times()[:2])
        start = time.monotonic()
        if during is not None:
            during.wait(2 * seconds + 30)
        else:
            time.sleep(seconds)  # a measurement window, not a wait for a condition
        elapsed = time.monotonic() - start
        after = self.summary()
        cpu = sum(self.ps.cpu_times()[:2]) - cpu_before
        return Window(
            name=name,
            seconds=elapsed,
            messages=after["messages_total"] - before["messages_total"],
            disconnects=after["disconnects"] - before["disconnects"],
            cpu=cpu,
        )

    def stop(self) -> None:
        self.http.close()
        children = self.ps.children(recursive=True)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for child in children:
            if child.is_running():
                child.kill()
        self.log.close()


def ms(values: list[float], share: float) -> float:
    return percentile(values, share) * 1000


def loaded_run(folder: Path, telemetry: bool, seconds: float, rate: float) -> dict[str, Any]:
    """One panel (telemetry on or off), /health at `rate` from a second process."""
    panel = Panel(folder, telemetry=telemetry)
    results = folder / "load.json"
    try:
        panel.wait_streaming()
        quiet = panel.window("quiet", seconds, None)
        load = subprocess.Popen(
            [sys.executable, __file__, "--load-port", str(panel.port),
             "--load-out", str(results), "--rate", str(rate), "--seconds", str(seconds)],
        )  # fmt: skip
        loaded = panel.window("load", seconds, load)
        result: dict[str, Any] = json.loads(results.read_text())
        flat_out = subprocess.Popen(
            [sys.executable, __file__, "--load-port", str(panel.port),
             "--load-out", str(results), "--rate", "0", "--seconds", str(seconds / 2)],
        )  # fmt: skip
        flat_out.wait(seconds + 30)
        closed = json.loads(results.read_text())
        result["highest"] = len(closed["latencies"]) / closed["elapsed"]
    finally:
        panel.stop()
    result["telemetry_ratio"] = loaded.msgs_per_s / quiet.msgs_per_s if quiet.messages else None
    return result


def measure(quick: bool) -> list[Figure]:
    """For `python -m tests.bench`: /health with telemetry at 144 Hz beside without telemetry."""
    seconds, rate = (3.0, 200.0) if quick else (20.0, 200.0)
    runs = {}
    for telemetry in (False, True):
        with tempfile.TemporaryDirectory(prefix="spacetime-bench-") as tmp:
            runs[telemetry] = loaded_run(Path(tmp), telemetry, seconds, rate)
    with_t, without = runs[True], runs[False]
    for name, run in (("with telemetry", with_t), ("without telemetry", without)):
        lat = run["latencies"]
        print(
            f"/health at {rate:g}/s {name}: p50 {ms(lat, 0.5):.2f} ms, p99 {ms(lat, 0.99):.2f} ms,"
            f" statuses {run['statuses']}; closed loop {run['highest']:.0f} req/s"
        )
    baseline = "no telemetry"
    figures = [
        Figure(
            "health.p50",
            f"/health latency p50 at {rate:g} req/s, telemetry 144 Hz",
            ms(with_t["latencies"], 0.5),
            "ms",
            ms(without["latencies"], 0.5),
            baseline,
        ),
        Figure(
            "health.p99",
            f"/health latency p99 at {rate:g} req/s, telemetry 144 Hz",
            ms(with_t["latencies"], 0.99),
            "ms",
            ms(without["latencies"], 0.99),
            baseline,
            target_value=10.0,
        ),
        Figure(
            "health.throughput",
            "/health highest throughput, one keep-alive client",
            with_t["highest"],
            "req/s",
            without["highest"],
            baseline,
            better="higher",
        ),
    ]
    if with_t["telemetry_ratio"] is not None:
        figures.append(
            Figure(
                "health.telemetry_ratio",
                "telemetry received under /health load / without load",
                with_t["telemetry_ratio"],
                "x",
                better="higher",
                target_value=0.98,
                target_text="~1.00 (≥ 0.98)",
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per window (20)")
    parser.add_argument("--rate", type=float, default=200.0, help="GET /health per second (200)")
    parser.add_argument(
        "--fresh", action="store_true", help="a new connection per request (default: keep-alive)"
    )
    parser.add_argument("--load-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_port:
        send_load(args.load_port, args.rate, args.seconds, args.fresh, args.load_out)
        return

    with tempfile.TemporaryDirectory(prefix="spacetime-bench-") as tmp:
        panel = Panel(Path(tmp))
        results = Path(tmp) / "load.json"
        try:
            hello = panel.wait_streaming()["hello"] or {}
            how = "a new connection per request" if args.fresh else "one keep-alive connection"
            print(
                f"serve --demo: game telemetry at {hello.get('rate_hz')} Hz "
                f"(fps + vr_tracking), {args.seconds:g} s per window, "
                f"/health at {args.rate:g} req/s from a second process "
                f"({how})\n"
            )
            quiet = panel.window("quiet", args.seconds, None)
            load = subprocess.Popen(
                [sys.executable, __file__, "--load-port", str(panel.port),
                 "--load-out", str(results),
                 "--rate", str(args.rate), "--seconds", str(args.seconds),
                 *(["--fresh"] if args.fresh else [])],
            )  # fmt: skip
            loaded = panel.window(f"/health at {args.rate:g}/s", args.seconds, load)
            result = json.loads(results.read_text())
            again = panel.window("quiet again", args.seconds, None)
        finally:
            panel.stop()

    latencies, service = result["latencies"], result["service"]
    print(f"{'/health, ' + str(len(latencies)) + ' requests':<34} {'p50':>8} {'p99':>8} {'max':>8}")
    for name, values in (("latency from due time", latencies), ("service time", service)):
        print(
            f"{name:<34} {ms(values, 0.5):6.2f}ms {ms(values, 0.99):6.2f}ms "
            f"{max(values) * 1000:6.2f}ms"
        )
    throughput = len(latencies) / result["elapsed"]
    print(
        f"{'throughput':<34} {throughput:8.1f} req/s   (statuses {result['statuses']}, "
        f"{result['unsent']} not sent in time)"
    )
    p99 = ms(latencies, 0.99)
    print(f"{'target p99 < 10 ms':<34} {'OK' if p99 < 10 else 'OVER TARGET'}\n")

    print(
        f"{'telemetry received by the panel':<34} {'msgs/s':>8} {'disconn.':>8} {'panel CPU':>10}"
    )
    for window in (quiet, loaded, again):
        print(
            f"{window.name:<34} {window.msgs_per_s:8.1f} {window.disconnects:8d} "
            f"{window.cpu / window.seconds * 100:9.1f}%"
        )
    baseline = (quiet.msgs_per_s + again.msgs_per_s) / 2
    ratio = loaded.msgs_per_s / baseline
    print(f"\n{'telemetry under load / without':<34} {ratio:8.3f}   (target: ~1.00, unaffected)")


if __name__ == "__main__":
    main()
