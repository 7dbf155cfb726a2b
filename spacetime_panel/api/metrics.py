"""/metrics: the deployment guide's Prometheus metrics, read from the Controller at scrape time.

The guide ran a separate exporter that polled /health every 15 s; here the
panel exposes the same names itself (so the guide's alert rules and
dashboards work unchanged), computed from held state on each scrape. One
registry per app: no module-level metric objects.

    spacetime_health_status          1 healthy, 0 not
    spacetime_godot_running          the game process runs
    spacetime_scene_loaded           the main scene is loaded
    spacetime_player_spawned         the player is in the scene
    spacetime_restart_total{program} automatic restarts since the panel started
    spacetime_error_total{type}      failures by kind (crash, start_timeout, unhealthy,
                                     spawn_failed) and bridge request errors (api_error)
    spacetime_api_response_time_seconds   the Godot bridge's response time (histogram)
    spacetime_program_up{program}    1 when RUNNING

From the game's telemetry (when connected; rolling window of the last 10 s):

    spacetime_telemetry_connected    1 when the telemetry stream is connected
    spacetime_fps                    frames per second, newest sample
    spacetime_frame_time_ms{quantile}  frame time p50, p95, p99
    spacetime_frames_over_budget_ratio share of frames over the refresh budget
    spacetime_telemetry_invalid_total  telemetry frames rejected by the codec
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from spacetime_panel.core.controller import Controller
from spacetime_panel.supervisor.machine import ProgramState

# Bridge calls are local: most answer in a few milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PanelCollector(Collector):
    """Gauges and counters computed from the controller on each scrape."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    def collect(self) -> Iterator[Metric]:
        controller = self._controller
        health = controller.health()
        view = controller.view
        statuses = controller.statuses()
        game = statuses.get("game")

        def gauge(name: str, documentation: str, value: bool) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, documentation, value=1.0 if value else 0.0)

        yield gauge(
            "spacetime_health_status", "Overall health status (1=healthy, 0=unhealthy)",
            health.healthy,
        )  # fmt: skip
        yield gauge(
            "spacetime_godot_running", "Godot process running (1=yes, 0=no)",
            game is not None and game.pid is not None,
        )  # fmt: skip
        yield gauge("spacetime_scene_loaded", "Main scene loaded (1=yes, 0=no)", view.scene_loaded)
        yield gauge("spacetime_player_spawned", "Player spawned (1=yes, 0=no)", view.player_spawned)

        up = GaugeMetricFamily(
            "spacetime_program_up", "Supervised program is RUNNING", labels=["program"]
        )
        restarts = CounterMetricFamily(
            "spacetime_restart", "Total automatic Godot restarts", labels=["program"]
        )
        errors = CounterMetricFamily("spacetime_error", "Total errors", labels=["type"])
        kinds: dict[str, int] = {}
        for name, status in statuses.items():
            up.add_metric([name], 1.0 if status.state is ProgramState.RUNNING else 0.0)
            restarts.add_metric([name], float(status.restarts))
            for kind, count in status.failures.items():
                kinds[kind] = kinds.get(kind, 0) + count
        kinds["api_error"] = controller.game.bridge_errors
        for kind, count in sorted(kinds.items()):
            errors.add_metric([kind], float(count))
        yield up
        yield restarts
        yield errors
        yield from self._telemetry()

    def _telemetry(self) -> Iterator[Metric]:
        client = self._controller.telemetry
        if client is None:
            return
        summary = client.summary()
        yield GaugeMetricFamily(
            "spacetime_telemetry_connected",
            "Telemetry stream connected (1=yes, 0=no)",
            value=1.0 if summary.state == "connected" else 0.0,
        )
        yield CounterMetricFamily(
            "spacetime_telemetry_invalid",
            "Telemetry frames rejected by the codec",
            value=float(summary.invalid_total),
        )
        if summary.fps_now is not None:
            yield GaugeMetricFamily("spacetime_fps", "Frames per second", value=summary.fps_now)
        quantiles = GaugeMetricFamily(
            "spacetime_frame_time_ms", "Frame time over the last window", labels=["quantile"]
        )
        for label, value in (
            ("0.5", summary.frame_time_p50_ms),
            ("0.95", summary.frame_time_p95_ms),
            ("0.99", summary.frame_time_p99_ms),
        ):
            if value is not None:
                quantiles.add_metric([label], value)
        yield quantiles
        if summary.over_budget_share is not None:
            yield GaugeMetricFamily(
                "spacetime_frames_over_budget_ratio",
                "Share of frames over the refresh-rate budget",
                value=summary.over_budget_share,
            )


def metrics_registry(controller: Controller) -> tuple[CollectorRegistry, Histogram]:
    """A registry with the panel's collector and the bridge latency histogram."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(PanelCollector(controller))
    latency = Histogram(
        "spacetime_api_response_time_seconds",
        "Godot bridge API response time",
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    return registry, latency
