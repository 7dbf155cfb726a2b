"""The shipped Prometheus rules and Grafana dashboard speak of metrics /metrics really exposes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import yaml
from prometheus_client import generate_latest

from spacetime_panel.api.metrics import metrics_registry
from spacetime_panel.config.settings import Settings
from spacetime_panel.core.controller import Controller

MONITORING = Path(__file__).resolve().parents[2] / "resources" / "monitoring"
METRIC = re.compile(r"\b(spacetime_[a-z_]+)")


async def exposed_names() -> set[str]:
    async with httpx.AsyncClient() as http:
        controller = Controller(Settings(), http=http)
        registry, latency = metrics_registry(controller)
        latency.observe(0.01)
        # A second of telemetry, so that the telemetry gauges have values to expose.
        assert controller.telemetry is not None
        session = controller.telemetry.session
        now = time.time()
        for i in range(90):
            stamp = now - 1 + i / 90
            data = {"fps": 90.0, "frame_time_ms": 11.1, "process_time_ms": 4, "physics_time_ms": 1}
            frame = json.dumps({"event": "fps", "timestamp": stamp, "data": data})
            session.ingest(frame, time.monotonic())
        text = generate_latest(registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


async def test_every_alert_rule_uses_an_exposed_metric() -> None:
    names = await exposed_names()
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {rule["alert"] for rule in rules} >= {
        "SpaceTimeDown",
        "SpaceTimeUnhealthy",
        "GodotProcessDown",
        "SceneNotLoaded",
        "FrequentRestarts",
        "HighErrorRate",
    }
    used = {name for rule in rules for name in METRIC.findall(rule["expr"])}
    assert used, "the rules reference no spacetime metric"
    assert used <= names, used - names


async def test_every_dashboard_query_uses_an_exposed_metric() -> None:
    names = await exposed_names()
    dashboard = json.loads((MONITORING / "grafana" / "spacetime-fleet.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }
    assert len(used) >= 6
    assert used <= names, used - names


def test_scrape_config_reads_the_rules_and_the_metrics_path() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["job_name"] == "spacetime"  # SpaceTimeDown matches up{job="spacetime"}
    assert job["metrics_path"] == "/metrics"
    assert "alerts.yml" in config["rule_files"]
