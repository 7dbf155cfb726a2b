"""Prometheus accepts what we ship: a real panel's /metrics, the alert rules, the dashboard.

Runs Debian's promtool (`apt-get install prometheus`) as a child process on
the scrape of a real `spacetime-panel serve` supervising the simulated Godot
(telemetry flowing, after a kill -9 of the game, after POST /stop), and on the
files in spacetime_panel/monitoring. Without promtool these are skipped, except in
CI (`CI=true`), where they fail and say what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import spacetime_panel
from tests.integration.conftest import Serve, wait_until

MONITORING = Path(spacetime_panel.__file__).parent / "monitoring"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    not IN_CI and PROMTOOL is None,
    reason="needs promtool (apt-get install prometheus)",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def promtool(*args: str, stdin: str | None = None, cwd: Path = MONITORING) -> str:
    """Run promtool; assert it exits 0 and return what it printed (stdout and stderr)."""
    assert PROMTOOL is not None, "promtool is not installed: apt-get install prometheus"
    result = subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} exited {result.returncode}:\n{output}"
    )
    return output


def scrape(serve: Serve) -> Samples:
    """/metrics, accepted by `promtool check metrics` without a single lint remark."""
    response = serve.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    remarks = promtool("check", "metrics", stdin=response.text)
    assert remarks == "", remarks
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def names(samples: Samples) -> set[str]:
    return {name for name, _labels in samples}


def test_metrics_pass_promtool_while_the_game_runs_crashes_and_stops(serve: Serve) -> None:
    serve.start("--auto-load-scene", "--check-interval", "0.2")
    first = serve.wait_healthy()["godot_process"]["pid"]

    def flowing() -> Samples | None:
        samples = scrape(serve)
        count = value(samples, "spacetime_frame_time_seconds_count") or 0
        up = value(samples, "spacetime_service_up", service="telemetry")
        return samples if count > 0 and "spacetime_fps" in names(samples) and up else None

    samples = wait_until(flowing, 20, "frame times in the histogram and the telemetry service up")
    count = value(samples, "spacetime_frame_time_seconds_count")
    assert count is not None
    bounds = sorted(
        (float(labels[0][1]), n)
        for (name, labels), n in samples.items()
        if name == "spacetime_frame_time_seconds_bucket"
    )
    assert [b for b, _n in bounds][:1] == [0.004] and bounds[-1] == (float("inf"), count)
    assert [n for _b, n in bounds] == sorted(n for _b, n in bounds)  # cumulative
    total = value(samples, "spacetime_frame_time_seconds_sum")
    assert total is not None and 0.001 < total / count < 0.1  # seconds, not milliseconds
    assert 30 < (value(samples, "spacetime_fps") or 0) <= 200
    assert value(samples, "spacetime_godot_running") == 1
    assert value(samples, "spacetime_program_up", program="game") == 1
    assert value(samples, "spacetime_program_state", program="game", state="RUNNING") == 1
    assert value(samples, "spacetime_program_state", program="game", state="STOPPED") == 0
    assert (value(samples, "spacetime_service_latency_seconds", service="telemetry") or 1) < 1
    assert (value(samples, "spacetime_telemetry_messages_total") or 0) >= count
    assert value(samples, "spacetime_telemetry_rejected_total", kind="not_json") == 0
    assert value(samples, "spacetime_restart_total", program="game") == 0
    assert not {"spacetime_frame_time_ms", "spacetime_frame_time_seconds"} & names(samples)

    # A crash: counted as it happens, the new game's frames shown again.
    os.kill(first, signal.SIGKILL)

    def restarted() -> Samples | None:
        samples = scrape(serve)
        return samples if value(samples, "spacetime_restart_total", program="game") else None

    samples = wait_until(restarted, 20, "the restart counted")
    assert value(samples, "spacetime_restart_total", program="game") == 1
    assert value(samples, "spacetime_error_total", type="crash") == 1
    assert value(samples, "spacetime_error_total", type="spawn_failed") == 0
    serve.wait_healthy()
    wait_until(lambda: "spacetime_fps" in names(scrape(serve)), 20, "the new game's fps")

    # A stop: no figure of the stopped game stays beside spacetime_godot_running 0.
    assert serve.post("/stop", json={}).status_code == 200
    samples = scrape(serve)
    assert value(samples, "spacetime_godot_running") == 0
    assert value(samples, "spacetime_program_up", program="game") == 0
    assert value(samples, "spacetime_program_state", program="game", state="STOPPED") == 1
    assert not {"spacetime_fps", "spacetime_frames_over_budget_ratio"} & names(samples)
    assert (value(samples, "spacetime_frame_time_seconds_count") or 0) > count  # a counter
    assert value(samples, "spacetime_restart_total", program="game") == 1  # a stop is no restart
    wait_until(
        lambda: value(scrape(serve), "spacetime_telemetry_connected") == 0,
        10,
        "the telemetry stream to close",
    )


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_scrape_config_passes_promtool_check() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads((MONITORING / "grafana" / "spacetime-fleet.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    # Each query as a recording rule, so that promtool parses it ($__rate_interval is Grafana's).
    rules = [
        {"record": f"dashboard:query_{i}", "expr": query.replace("$__rate_interval", "1m")}
        for i, query in enumerate(queries)
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool("check", "rules", str(path))
