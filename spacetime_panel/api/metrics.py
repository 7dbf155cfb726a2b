"""/metrics: the deployment guide's Prometheus metrics and the panel's own, lint-clean.

The guide ran a separate exporter that polled /health every 15 s; here the
panel exposes the same names itself, so the shipped alert rules and dashboard
(spacetime_panel/monitoring) work on it. One registry per app: no module-level
metric objects. Two kinds of source:

- **Counted where it happens** (prometheus-client instruments fed by events):
  restarts and failures from every program state change
  (``Controller.subscribe``), bridge errors from every bridge request, game
  errors and frame times from every telemetry event as it arrives
  (``Controller.subscribe_telemetry``).
- **Read at scrape time** (a collector over held state, never a call to Godot):
  health, programs, services, telemetry connection and its frame counters.

Metrics (type, labels)::

    spacetime_health_status              gauge    1 healthy, 0 not (as /health)
    spacetime_godot_running              gauge    the game process runs
    spacetime_scene_loaded               gauge    the main scene is loaded
    spacetime_player_spawned             gauge    the player is in the scene
    spacetime_program_up                 gauge    {program} 1 when RUNNING
    spacetime_program_state              gauge    {program, state} 1 for the current state
    spacetime_service_up                 gauge    {service} the port-table check found it up
    spacetime_service_latency_seconds    gauge    {service} the latest check's latency
    spacetime_restart_total              counter  {program} automatic restarts
    spacetime_error_total                counter  {type} crash, start_timeout, unhealthy,
                                                  spawn_failed, api_error, game_error
    spacetime_api_response_time_seconds  histogram  the Godot bridge's response time
    spacetime_frame_time_seconds         histogram  every frame-time sample the game sends
    spacetime_telemetry_connected        gauge    the telemetry stream is connected
    spacetime_telemetry_messages_total   counter  telemetry frames received, valid or not
    spacetime_telemetry_rejected_total   counter  {kind} frames refused, by RejectKind

The game's gauges, present only while a game is sending (telemetry connected,
a sample in the last two seconds, and not the connection of a game that has
since stopped), so that no stale figure stands beside ``spacetime_godot_running 0``::

    spacetime_fps                        gauge    the newest sample's frames per second
    spacetime_frames_over_budget_ratio   gauge    share of the last 10 s of frames over the
                                                  headset's budget (5 % tolerance)
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from spacetime_panel.core.controller import Controller
from spacetime_panel.supervisor.machine import ProgramState
from spacetime_panel.supervisor.program import ProgramStatus
from spacetime_panel.telemetry.codec import ErrorEvent, FpsSample, RejectKind, TelemetryEvent

__all__ = ["FRAME_TIME_BUCKETS", "LATENCY_BUCKETS", "PanelMetrics", "metrics_registry"]

# Bridge calls are local: most answer in a few milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Each headset's frame budget (1/Hz) and 5 % over it (the panel's over-budget tolerance:
# vsync-paced frames jitter around the budget), so that histogram_quantile() does not
# smear a game running exactly at rate across a whole budget-to-budget bucket.
FRAME_TIME_BUCKETS = (
    0.004,
    0.006944, 0.007292,  # 144 Hz
    0.008333, 0.00875,  # 120 Hz
    0.011111, 0.011667,  # 90 Hz
    0.013889, 0.014583,  # 72 Hz
    0.016667,  # 60 fps
    0.022222,  # two 90 Hz refreshes: a dropped frame at every rate from 72 to 144 Hz
    0.033333,  # 30 fps
    0.05, 0.1, 0.25,
)  # fmt: skip

# Failure kinds the supervisor counts (ProgramMachine.failures), and the panel's own.
FAILURE_KINDS = (
    "crash",
    "start_timeout",
    "unhealthy",
    "spawn_failed",
    "task_failed",
    "stop_failed",
)
API_ERROR = "api_error"
GAME_ERROR = "game_error"

# A game that sent no frame for this long is not "running at N fps" any more.
FRESH_SAMPLE_S = 2.0
_LIVE_GAME = (ProgramState.STARTING, ProgramState.RUNNING)


class PanelMetrics(Collector):
    """The panel's metrics for one controller: event-fed instruments plus scrape-time gauges."""

    def __init__(self, controller: Controller, registry: CollectorRegistry) -> None:
        self._controller = controller
        self.frame_time = Histogram(
            "spacetime_frame_time_seconds",
            "Game frame time, one observation per telemetry fps sample",
            buckets=FRAME_TIME_BUCKETS,
            registry=registry,
        )
        self.restarts = Counter(
            "spacetime_restart_total",
            "Automatic restarts of a supervised Godot program",
            ["program"],
            registry=registry,
        )
        self.errors = Counter(
            "spacetime_error_total",
            "Errors by type: program failures, failed bridge requests, errors the game reported",
            ["type"],
            registry=registry,
        )
        # Every series exists from the first scrape, at 0, so increase() sees the first one.
        for kind in (*FAILURE_KINDS, API_ERROR, GAME_ERROR):
            self.errors.labels(kind)
        # The telemetry connection count when the supervised game last stopped: that
        # connection's frames are the stopped game's, whatever the socket still says.
        self._connects_at_game_stop = -1
        self._seen: dict[str, ProgramStatus] = {}
        for status in controller.statuses().values():
            self.restarts.labels(status.name)
            self._on_program_change(status)  # counts what happened before this registry
        self._bridge_errors = 0
        self._on_bridge_answer(0.0)
        controller.subscribe(self._on_program_change)
        controller.subscribe_telemetry(self._on_telemetry)
        controller.game.observe_bridge_latency(self._on_bridge_answer)

    # --- events ------------------------------------------------------------------

    def _on_program_change(self, status: ProgramStatus) -> None:
        before = self._seen.get(status.name)
        restarts = status.restarts - (before.restarts if before is not None else 0)
        if restarts > 0:
            self.restarts.labels(status.name).inc(restarts)
        for kind, count in status.failures.items():
            new = count - (before.failures.get(kind, 0) if before is not None else 0)
            if new > 0:
                self.errors.labels(kind).inc(new)
        self._seen[status.name] = status
        telemetry = self._controller.telemetry
        if status.name == "game" and status.state not in _LIVE_GAME and telemetry is not None:
            self._connects_at_game_stop = telemetry.connects

    def _on_telemetry(self, event: TelemetryEvent) -> None:
        if isinstance(event, FpsSample):
            self.frame_time.observe(event.frame_time_ms / 1000.0)
        elif isinstance(event, ErrorEvent):
            self.errors.labels(GAME_ERROR).inc()

    def _on_bridge_answer(self, _seconds: float) -> None:
        errors = self._controller.game.bridge_errors
        if errors > self._bridge_errors:
            self.errors.labels(API_ERROR).inc(errors - self._bridge_errors)
        self._bridge_errors = errors

    # --- scrape ------------------------------------------------------------------

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
        yield from self._programs(statuses)
        yield from self._services()
        yield from self._telemetry(game)

    def _programs(self, statuses: dict[str, ProgramStatus]) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "spacetime_program_up",
            "Supervised program is RUNNING (1=yes, 0=no)",
            labels=["program"],
        )
        state = GaugeMetricFamily(
            "spacetime_program_state",
            "Supervised program's state: 1 for the current one",
            labels=["program", "state"],
        )
        for name, status in statuses.items():
            up.add_metric([name], 1.0 if status.state is ProgramState.RUNNING else 0.0)
            for each in ProgramState:
                state.add_metric([name, each.value], 1.0 if status.state is each else 0.0)
        yield up
        yield state

    def _services(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "spacetime_service_up",
            "Service of the port table answered its latest check (1=yes, 0=no)",
            labels=["service"],
        )
        latency = GaugeMetricFamily(
            "spacetime_service_latency_seconds",
            "Latency of the service's latest check",
            labels=["service"],
        )
        for status in self._controller.services():
            up.add_metric([status.service], 1.0 if status.is_up else 0.0)
            if status.latency_ms is not None:
                latency.add_metric([status.service], status.latency_ms / 1000.0)
        yield up
        yield latency

    def _telemetry(self, game: ProgramStatus | None) -> Iterator[Metric]:
        client = self._controller.telemetry
        if client is None:
            return
        summary = client.summary()
        connected = summary.state == "connected"
        yield GaugeMetricFamily(
            "spacetime_telemetry_connected",
            "Telemetry stream connected (1=yes, 0=no)",
            value=1.0 if connected else 0.0,
        )
        yield CounterMetricFamily(
            "spacetime_telemetry_messages",
            "Telemetry frames received, valid or not",
            value=float(summary.messages_total),
        )
        rejected = CounterMetricFamily(
            "spacetime_telemetry_rejected",
            "Telemetry frames refused, by kind (oversize includes frames that closed the stream)",
            labels=["kind"],
        )
        for kind in RejectKind:
            count = summary.invalid_by_kind.get(kind.value, 0)
            if kind is RejectKind.OVERSIZE:
                count += summary.oversize_total
            rejected.add_metric([kind.value], float(count))
        yield rejected

        fresh = summary.sample_age_s is not None and summary.sample_age_s <= FRESH_SAMPLE_S
        stale_game = (game is None or game.state not in _LIVE_GAME) and (
            client.connects <= self._connects_at_game_stop
        )
        if not (connected and fresh) or stale_game:
            return
        if summary.fps_now is not None:
            yield GaugeMetricFamily(
                "spacetime_fps", "Frames per second, newest sample", value=summary.fps_now
            )
        if summary.over_budget_share is not None:
            yield GaugeMetricFamily(
                "spacetime_frames_over_budget_ratio",
                "Share of the last 10 s of frames over the headset's frame budget",
                value=summary.over_budget_share,
            )


def metrics_registry(controller: Controller) -> tuple[CollectorRegistry, Histogram]:
    """A registry with the panel's metrics and the bridge latency histogram.

    The caller feeds the histogram (``controller.game.observe_bridge_latency``).
    """
    registry = CollectorRegistry(auto_describe=True)
    registry.register(PanelMetrics(controller, registry))
    latency = Histogram(
        "spacetime_api_response_time_seconds",
        "Godot bridge API response time",
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    return registry, latency
