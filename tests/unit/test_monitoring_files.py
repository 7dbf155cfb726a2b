"""The shipped Prometheus rules and Grafana dashboard speak of metrics /metrics really exposes.

Also the metrics themselves, fed without processes: frame times land in the
histogram in seconds, game errors are counted as they arrive, and the game's
gauges are shown only while fresh frames come in. (tests/integration/
test_metrics_promtool.py runs promtool on a real panel's /metrics and on these files.)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import spacetime_panel
from spacetime_panel.api.metrics import FRAME_TIME_BUCKETS, metrics_registry
from spacetime_panel.config.settings import Settings
from spacetime_panel.core.controller import Controller
from spacetime_panel.probes.status import ServiceState, ServiceStatus
from spacetime_panel.telemetry import ConnectionState

MONITORING = Path(spacetime_panel.__file__).parent / "monitoring"
METRIC = re.compile(r"\b(spacetime_[a-z_]+)")
LE = re.compile(r'le="([^"]+)"')
GUIDE_ALERTS = {
    "SpaceTimeDown",
    "SpaceTimeUnhealthy",
    "GodotProcessDown",
    "SceneNotLoaded",
    "FrequentRestarts",
    "HighErrorRate",
    "SlowAPIResponses",
}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana" / "spacetime-fleet.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.fixture
async def controller() -> AsyncIterator[Controller]:
    async with httpx.AsyncClient() as http:
        yield Controller(Settings(), http=http)


def fps_frames(controller: Controller, frame_time_ms: float, count: int, age: float = 0.0) -> None:
    """`count` fps frames over the last second, received `age` seconds ago."""
    assert controller.telemetry is not None
    session = controller.telemetry.session
    now = time.time()
    for i in range(count):
        data = {
            "fps": 1000.0 / frame_time_ms,
            "frame_time_ms": frame_time_ms,
            "process_time_ms": 4,
            "physics_time_ms": 1,
        }
        frame = {"event": "fps", "timestamp": now - age - 1 + i / count, "data": data}
        session.ingest(json.dumps(frame), time.monotonic() - age)


def connect(controller: Controller) -> None:
    assert controller.telemetry is not None
    controller.telemetry.session.stats.on_state(ConnectionState.CONNECTED)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def exposed(registry: CollectorRegistry) -> set[str]:
    return {name for name, _labels in samples(registry)}


async def every_exposed_name(controller: Controller) -> set[str]:
    """Every name /metrics can expose: a service checked, a bridge answer, a second of
    telemetry. (The real port table is checked in tests/integration/test_metrics_promtool.py.)"""
    table = [
        ServiceStatus("telemetry", "127.0.0.1", 8081, "tcp", ServiceState.UP, 0.4, "accepts"),
        ServiceStatus("lsp", "127.0.0.1", 6005, "tcp", ServiceState.DOWN, None, "refused"),
    ]
    controller.services = lambda: table  # type: ignore[method-assign]
    registry, latency = metrics_registry(controller)
    latency.observe(0.01)
    connect(controller)
    fps_frames(controller, 11.1, 90)
    return exposed(registry)


async def test_every_alert_rule_uses_an_exposed_metric(controller: Controller) -> None:
    names = await every_exposed_name(controller)
    alerts = rules()
    assert {rule["alert"] for rule in alerts} >= GUIDE_ALERTS
    used = {name for rule in alerts for name in METRIC.findall(rule["expr"])}
    assert used, "the rules reference no spacetime metric"
    assert used <= names, used - names


async def test_every_dashboard_query_uses_an_exposed_metric(controller: Controller) -> None:
    names = await every_exposed_name(controller)
    used = {name for expr in dashboard_queries() for name in METRIC.findall(expr)}
    assert len(used) >= 12
    assert used <= names, used - names


def test_frame_time_is_read_from_the_histogram_everywhere() -> None:
    queries = [*dashboard_queries(), *(rule["expr"] for rule in rules())]
    frame_queries = [q for q in queries if "frame_time" in q]
    assert frame_queries
    for query in frame_queries:
        assert "spacetime_frame_time_ms" not in query
        assert "spacetime_frame_time_seconds_" in query, query
    assert any(
        "histogram_quantile" in q and "rate(spacetime_frame_time_seconds_bucket" in q
        for q in dashboard_queries()
    )
    # Every bucket a query names is one the panel exposes (a renamed bucket breaks silently).
    exposed_le = {repr(bound) for bound in FRAME_TIME_BUCKETS}
    for query in frame_queries:
        assert set(LE.findall(query)) <= exposed_le, query


def test_buckets_sit_on_each_headsets_frame_budget() -> None:
    for hz in (72, 90, 120, 144):
        for budget in (1 / hz, 1.05 / hz):  # the budget and the panel's 5 % tolerance
            assert min(abs(bound - budget) for bound in FRAME_TIME_BUCKETS) < 1e-6, (hz, budget)
    assert list(FRAME_TIME_BUCKETS) == sorted(FRAME_TIME_BUCKETS)


def test_the_restart_rule_means_more_than_3_in_5_minutes() -> None:
    rule = next(rule for rule in rules() if rule["alert"] == "FrequentRestarts")
    assert "more than 3 times per 5 minutes" in rule["annotations"]["description"]
    assert rule["expr"] == "increase(spacetime_restart_total[5m]) >= 4"
    assert "for" not in rule  # a wait drops four restarts spread over the 5 minutes


def test_every_alert_has_promtool_tests_firing_and_quiet() -> None:
    document = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())
    assert document["rule_files"] == ["alerts.yml"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in document["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert firing == names, names - firing
    assert quiet == names, names - quiet


def test_scrape_config_reads_the_rules_and_the_metrics_path() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["job_name"] == "spacetime"  # SpaceTimeDown matches up{job="spacetime"}
    assert job["metrics_path"] == "/metrics"
    assert "alerts.yml" in config["rule_files"]


async def test_each_fps_sample_is_one_frame_time_observation_in_seconds(
    controller: Controller,
) -> None:
    registry, _latency = metrics_registry(controller)
    connect(controller)
    fps_frames(controller, 11.0, 90)  # within the 90 Hz budget
    fps_frames(controller, 30.0, 10)  # dropped frames
    metrics = samples(registry)
    assert metrics[("spacetime_frame_time_seconds_count", ())] == 100
    assert metrics[("spacetime_frame_time_seconds_sum", ())] == pytest.approx(0.99 + 0.3)
    assert metrics[("spacetime_frame_time_seconds_bucket", (("le", "0.011111"),))] == 90
    assert metrics[("spacetime_frame_time_seconds_bucket", (("le", "0.022222"),))] == 90
    assert metrics[("spacetime_frame_time_seconds_bucket", (("le", "0.033333"),))] == 100
    assert metrics[("spacetime_telemetry_messages_total", ())] == 100
    assert "spacetime_frame_time_ms" not in exposed(registry)


async def test_errors_and_rejected_frames_are_counted_as_they_arrive(
    controller: Controller,
) -> None:
    registry, _latency = metrics_registry(controller)
    assert controller.telemetry is not None
    session = controller.telemetry.session
    error = {"event": "error", "timestamp": time.time(), "data": {"message": "x", "source": "y"}}
    session.ingest(json.dumps(error), time.monotonic())
    session.ingest(json.dumps(error), time.monotonic())
    session.ingest("not json", time.monotonic())
    session.ingest(json.dumps({"event": "teleport", "timestamp": 1.0, "data": {}}), 0.0)
    metrics = samples(registry)
    assert metrics[("spacetime_error_total", (("type", "game_error"),))] == 2
    assert metrics[("spacetime_error_total", (("type", "crash"),))] == 0  # there from the start
    assert metrics[("spacetime_telemetry_rejected_total", (("kind", "not_json"),))] == 1
    assert metrics[("spacetime_telemetry_rejected_total", (("kind", "unknown_event"),))] == 1
    assert metrics[("spacetime_telemetry_rejected_total", (("kind", "bad_field"),))] == 0
    assert metrics[("spacetime_restart_total", (("program", "game"),))] == 0


async def test_game_gauges_only_while_fresh_frames_arrive(controller: Controller) -> None:
    registry, _latency = metrics_registry(controller)
    fps_frames(controller, 11.1, 90)
    assert "spacetime_fps" not in exposed(registry)  # not connected
    connect(controller)
    assert samples(registry)[("spacetime_fps", ())] == pytest.approx(90.09, abs=0.01)
    assert "spacetime_frames_over_budget_ratio" in exposed(registry)

    async with httpx.AsyncClient() as http:
        silent = Controller(Settings(), http=http)
        silent_registry, _ = metrics_registry(silent)
        connect(silent)
        fps_frames(silent, 11.1, 90, age=5.0)  # a game that stopped sending 5 s ago
        names = exposed(silent_registry)
    assert "spacetime_fps" not in names
    assert "spacetime_frames_over_budget_ratio" not in names
    assert "spacetime_telemetry_connected" in names
