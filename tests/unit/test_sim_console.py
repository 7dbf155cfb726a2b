"""Log output that survives a reader who went away."""

from __future__ import annotations

import io
import os

from spacetime_panel.sim.console import Console


def test_lines_are_written_and_mirrored_to_the_listener() -> None:
    out, err = io.StringIO(), io.StringIO()
    seen: list[tuple[str, str]] = []
    console = Console(out, err)
    console.listener = lambda level, message: seen.append((level, message))
    console.info("scene loaded: res://vr_main.tscn")
    console.error("ERROR: boom")
    assert out.getvalue() == "scene loaded: res://vr_main.tscn\n"
    assert err.getvalue() == "ERROR: boom\n"
    assert seen == [("info", "scene loaded: res://vr_main.tscn"), ("error", "ERROR: boom")]


def test_a_broken_pipe_is_silenced_not_raised() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # nobody will ever read
    stream = os.fdopen(write_fd, "w")
    try:
        console = Console(stream, stream)
        console.info("first line hits the broken pipe")
        console.info("later lines go nowhere, quietly")
        stream.flush()  # the fd now points at /dev/null: even Python's final flush is safe
    finally:
        stream.close()
