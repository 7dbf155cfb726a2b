"""The panel in the tray keeps bounded memory, whatever the game writes (docs/bounds.md).

The window is hidden (its usual state) while the game's output path takes
100,000 lines and the telemetry path 1,000 `error` frames of 1 MiB (the
largest frame the client accepts). What the panel keeps of them is bounded:
the window's queue by the log view's capacity, each program's tail by its
setting, each telemetry text by the codec's cut. The assertions read those
structures (deterministic); the process's RSS growth is printed beside them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable

import psutil

from spacetime_panel.core.controller import (
    HIDDEN_CHECK_S,
    HIDDEN_TELEMETRY_BATCH_S,
    VISIBLE_TELEMETRY_BATCH_S,
)
from spacetime_panel.core.views import OutputLine
from spacetime_panel.telemetry.codec import DEFAULT_MAX_FRAME, MAX_TEXT_BYTES
from spacetime_panel.ui.app import DesktopPanel
from spacetime_panel.ui.main_window import MainWindow
from tests.conftest import eventually

MiB = 1024 * 1024
LINES = 100_000
ERRORS = 1_000
#: An error's message: 1 MiB less room for the frame around it.
MESSAGE_BYTES = DEFAULT_MAX_FRAME - 200
#: The stated bound on what the panel keeps of all that (docs/bounds.md): the log view's
#: 5,000 lines and the game's 2,000-line tail, each line a cut error at most (about 4 KiB).
RETAINED_BOUND = 64 * MiB


def kept_bytes(*holders: Iterable[OutputLine]) -> int:
    """Bytes of text the holders keep, each line counted once (they share lines)."""
    lines = {id(line): line for holder in holders for line in holder}
    return sum(len(line.text.encode("utf-8", "surrogatepass")) for line in lines.values())


def test_100000_lines_and_1000_errors_of_1_mib_while_hidden_stay_bounded(
    run_panel: Callable[..., None],
) -> None:
    async def scenario(panel: DesktopPanel, window: MainWindow) -> None:
        controller = window.controller
        telemetry = controller.telemetry
        assert telemetry is not None
        window.hide()  # to the tray: the Controller relaxes checks and telemetry reads
        await eventually(lambda: not window.isVisible())
        assert telemetry.batch_interval == HIDDEN_TELEMETRY_BATCH_S
        assert controller.monitor.check_interval >= HIDDEN_CHECK_S
        shown_before = len(window.log_view.visible_text().splitlines())

        output = controller.programs["game"].output  # the path the game's stdout takes
        error = json.dumps(
            {
                "event": "error",
                "timestamp": time.time(),
                "data": {"message": "E" * MESSAGE_BYTES, "source": "vr_main.gd"},
            }
        )
        assert len(error) <= DEFAULT_MAX_FRAME  # a frame the client would take
        rss_before = psutil.Process().memory_info().rss
        for i in range(LINES):
            output.add("stdout", f"{i:06d} frame {i} of a busy game: " + "x" * 120)
        for _ in range(ERRORS):  # last, so that they fill the tail and the queue
            telemetry.session.ingest(error, time.monotonic())  # decode -> Controller
        rss_growth = psutil.Process().memory_info().rss - rss_before

        assert telemetry.session.stats.last_error is not None
        assert len(telemetry.session.stats.last_error.message) < MAX_TEXT_BYTES + 40
        capacity = window.log_view.max_lines
        pending = list(window._pending_lines)
        tails = {name: p.output.tail(10**9) for name, p in controller.programs.items()}
        tail_lines = controller.settings.supervisor.log_tail_lines
        assert len(pending) == capacity  # full, never past what the log view can show
        assert all(len(tail) <= tail_lines for tail in tails.values())
        errors_kept = [line for line in pending if line.stream == "telemetry"]
        assert errors_kept and all(len(line.text) < MAX_TEXT_BYTES + 100 for line in errors_kept)
        log_view = window.log_view
        retained = kept_bytes(pending, *tails.values(), log_view._lines, log_view._pending)
        print(
            f"\nhidden panel after {LINES} lines and {ERRORS} errors of 1 MiB: "
            f"queue {len(pending)} lines, tails {[len(t) for t in tails.values()]} lines, "
            f"retained {retained / MiB:.1f} MiB (bound {RETAINED_BOUND // MiB} MiB), "
            f"RSS growth {rss_growth / MiB:.1f} MiB"
        )
        assert retained < RETAINED_BOUND
        assert len(window.log_view.visible_text().splitlines()) == shown_before  # not drawn

        window.show()  # the next tick shows the queue, and says what it let go
        await eventually(lambda: not window._pending_lines, what="the queue shown")
        assert telemetry.batch_interval == VISIBLE_TELEMETRY_BATCH_S
        assert controller.monitor.check_interval == controller.settings.probes.check_interval
        text = window.log_view.visible_text()
        note = re.search(r"(\d+) earlier lines are not shown here", text)
        assert note is not None and int(note[1]) >= LINES + ERRORS - capacity
        shown = window.log_view._lines
        assert len(shown) == capacity and isinstance(shown[-1], OutputLine)
        assert note[0] in shown[0].text  # the note is the first line, not pushed out
        errors_shown = [line.text for line in shown if line.stream == "telemetry"]
        assert len(errors_shown) >= ERRORS - 10  # the sim's own lines may come in between
        assert errors_shown[-1].startswith("error from vr_main.gd: EEE")
        assert errors_shown[-1].endswith(f"… (cut, {MESSAGE_BYTES - MAX_TEXT_BYTES} more bytes)")

    run_panel(scenario)
