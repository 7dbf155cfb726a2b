"""`status` and `probe` against a running panel with the simulated editor and game."""

from __future__ import annotations

import json
import subprocess

from tests.integration.conftest import PANEL, Serve, wait_until


def status(serve: Serve, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = subprocess.run(
        [*PANEL, "status", "--json", *serve.where(), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, json.loads(result.stdout)


def states(report: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {row["service"]: row["state"] for row in report["services"]}


def test_status_lists_six_services_up_then_down_after_stop(serve: Serve) -> None:
    serve.start("--editor", "--auto-load-scene")
    serve.wait_healthy()

    code, report = status(serve, "--editor")
    assert code == 0, report
    assert list(states(report)) == [
        "management_api", "bridge_http", "telemetry", "dap", "lsp", "discovery",
    ]  # fmt: skip
    assert set(states(report).values()) == {"up"}
    rows = {row["service"]: row for row in report["services"]}
    game_pid = serve.health()["godot_process"]["pid"]
    assert rows["bridge_http"]["owner_pid"] == game_pid
    assert rows["telemetry"]["owner_pid"] == game_pid
    assert rows["lsp"]["server"] and "Godot" in rows["lsp"]["server"]
    assert rows["discovery"]["port"] == serve.discovery_port

    assert serve.post("/stop").status_code == 200
    code, report = status(serve, "--editor")
    assert code == 1
    after = states(report)
    assert after["management_api"] == "up"
    for service in ("bridge_http", "telemetry", "dap", "lsp"):
        assert after[service] == "down", (service, report)
    assert after["discovery"] != "up"


def test_panel_reports_services_in_health_and_services(serve: Serve) -> None:
    serve.start("--editor")
    serve.wait_healthy()

    def all_up() -> dict | None:  # type: ignore[type-arg]
        body = serve.get("/services").json()
        return body if body["all_expected_up"] and len(body["services"]) == 6 else None

    body = wait_until(all_up, 20, "the panel's port table to be all up")
    assert {"bridge_http", "lsp", "dap"} <= set(body["expected"])
    instances = wait_until(lambda: serve.get("/services").json()["instances"], 10, "instances")
    assert instances[0]["pid"] == serve.health()["godot_process"]["pid"]
    assert len(serve.health()["services"]) == 6


def test_probe_command_exit_codes(serve: Serve) -> None:
    serve.start("--editor")
    serve.wait_healthy()
    for kind, port in (("lsp", serve.lsp_port), ("dap", serve.dap_port),
                       ("ws", serve.telemetry_port), ("http", serve.godot_port),
                       ("tcp", serve.port)):  # fmt: skip
        result = subprocess.run(
            [*PANEL, "probe", kind, "--port", str(port), "--json"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, (kind, result.stdout, result.stderr)
        assert json.loads(result.stdout)["state"] == "up"
    closed = subprocess.run(
        [*PANEL, "probe", "lsp", "--port", str(serve.discovery_port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert closed.returncode == 1
    assert "down" in closed.stdout
