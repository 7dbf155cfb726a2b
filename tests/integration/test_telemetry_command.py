"""`spacetime-panel telemetry` against the simulated game (a real process, a real WebSocket)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from tests.conftest import free_port
from tests.integration.conftest import PANEL
from tests.integration.sim_process import running_sim


def telemetry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PANEL, "telemetry", *args], capture_output=True, text=True, timeout=60)


def test_json_lines_and_csv_recording(project: Path, tmp_path: Path) -> None:
    record = tmp_path / "session.csv"
    with running_sim(project) as sim:
        sim.wait_ready()
        url = f"ws://127.0.0.1:{sim.telemetry_port}"
        result = telemetry("--url", url, "--duration", "3", "--json", "--record", str(record))

    assert result.returncode == 0, result.stderr
    summaries = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(summaries) >= 2
    last = summaries[-1]
    assert last["state"] == "connected"
    assert 30 < last["fps_now"] <= 200
    assert last["headset_position"] is not None and 1.0 < last["headset_position"][1] < 2.5
    # float32 poses printed as what they hold, not as 1.7000000476837158
    assert all(round(value, 6) == value for value in last["headset_position"])
    rows = list(csv.DictReader(record.open()))
    assert {"fps", "vr_tracking"} == {row["event"] for row in rows}
    assert len(rows) > 100
    assert f"recorded {len(rows)} samples" in result.stderr


def test_text_view_shows_fps_frame_times_and_headset(project: Path) -> None:
    with running_sim(project) as sim:
        sim.wait_ready()
        result = telemetry("--telemetry-port", str(sim.telemetry_port), "--duration", "2.5")
    assert result.returncode == 0
    for label in ("FPS       now", "frame     p50", "budget 11.1 ms (90 Hz)", "headset   x"):
        assert label in result.stdout


def test_no_game_exits_1_after_the_duration() -> None:
    result = telemetry("--url", f"ws://127.0.0.1:{free_port()}", "--duration", "1", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout.splitlines()[-1])["state"] != "connected"


def test_unwritable_record_path_is_a_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "x.csv"
    result = telemetry("--url", "ws://127.0.0.1:9", "--record", str(target), "--duration", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "x.csv" in result.stderr
