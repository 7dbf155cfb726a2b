"""Program output: bytes become lines whatever the child writes; tail and log stay bounded."""

from __future__ import annotations

import pytest

from spacetime_panel.supervisor.output import LineSplitter, OutputLine, ProgramOutput

pytestmark = pytest.mark.portable

# --- LineSplitter ------------------------------------------------------------


def test_complete_lines_in_one_chunk():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntwo\nthree\n") == ["one", "two", "three"]
    assert splitter.flush() == []


def test_line_split_across_chunks_is_joined():
    splitter = LineSplitter()
    assert splitter.feed(b"Godot Eng") == []
    assert splitter.feed(b"ine v4.5") == []
    assert splitter.feed(b".stable\nnext") == ["Godot Engine v4.5.stable"]
    assert splitter.feed(b" line\n") == ["next line"]


def test_byte_at_a_time_gives_the_same_lines():
    data = b"alpha\r\nbeta\n\ngamma\n"
    splitter = LineSplitter()
    lines = []
    for byte in data:
        lines += splitter.feed(bytes([byte]))
    assert lines == ["alpha", "beta", "", "gamma"]


def test_crlf_line_endings_are_stripped():
    splitter = LineSplitter()
    assert splitter.feed(b"windows\r\nline\r") == ["windows"]
    # The \r arrives before its \n: still one clean line.
    assert splitter.feed(b"\n") == ["line"]


def test_empty_lines_are_kept():
    assert LineSplitter().feed(b"\n\na\n") == ["", "", "a"]


def test_flush_returns_unterminated_last_line_once():
    splitter = LineSplitter()
    assert splitter.feed(b"done\npartial") == ["done"]
    assert splitter.flush() == ["partial"]
    assert splitter.flush() == []


def test_flush_with_nothing_pending_is_empty():
    assert LineSplitter().flush() == []


def test_invalid_utf8_is_replaced_not_raised():
    splitter = LineSplitter()
    [line] = splitter.feed(b"bad \xff\xfe byte\n")
    assert line == "bad \ufffd\ufffd byte"


def test_multibyte_character_split_across_chunks_survives():
    encoded = "héllo wörld ✓\n".encode()
    splitter = LineSplitter()
    lines = []
    for i in range(len(encoded)):
        lines += splitter.feed(encoded[i : i + 1])
    assert lines == ["héllo wörld ✓"]


def test_five_megabyte_line_without_newline_stays_bounded_and_reports_the_cut():
    max_line = 1024
    size = 5 * 1024 * 1024
    splitter = LineSplitter(max_line=max_line)
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        assert splitter.feed(chunk) == []
        # Memory held for the pending line never grows past max_line.
        assert len(splitter._buffer) <= max_line
    [line] = splitter.flush()
    assert line.startswith("x" * max_line)
    assert f"[line cut: {size - max_line} more bytes]" in line
    assert len(line) < max_line + 100


def test_long_line_is_cut_and_the_next_line_is_intact():
    splitter = LineSplitter(max_line=8)
    lines = splitter.feed(b"0123456789abcdef\nshort\n")
    assert lines == ["01234567 ... [line cut: 8 more bytes]", "short"]


def test_long_line_in_many_chunks_counts_every_dropped_byte():
    splitter = LineSplitter(max_line=4)
    lines = []
    for _ in range(10):
        lines += splitter.feed(b"abc")
    lines += splitter.feed(b"\n")
    assert lines == ["abca ... [line cut: 26 more bytes]"]


def test_line_exactly_max_line_is_not_cut():
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"abcd\n") == ["abcd"]


# --- ProgramOutput -------------------------------------------------------------


def test_tail_returns_the_last_lines_in_order():
    output = ProgramOutput("game", tail_lines=100)
    for i in range(5):
        output.add("stdout", f"line {i}")
    assert [line.text for line in output.tail(3)] == ["line 2", "line 3", "line 4"]
    assert [line.text for line in output.tail(50)] == [f"line {i}" for i in range(5)]


def test_tail_is_bounded():
    output = ProgramOutput("game", tail_lines=10)
    for i in range(1000):
        output.add("stdout", f"line {i}")
    tail = output.tail(10_000)
    assert len(tail) == 10
    assert tail[0].text == "line 990"
    assert tail[-1].text == "line 999"


def test_tail_of_zero_or_negative_is_empty():
    output = ProgramOutput("game")
    output.add("stdout", "x")
    assert output.tail(0) == []
    assert output.tail(-5) == []


def test_lines_carry_program_stream_and_time():
    output = ProgramOutput("editor")
    output.add("stderr", "ERROR: boom")
    [line] = output.tail(1)
    assert isinstance(line, OutputLine)
    assert (line.program, line.stream, line.text) == ("editor", "stderr", "ERROR: boom")
    assert line.timestamp > 1_600_000_000


def test_lines_are_written_to_the_log_file(tmp_path):
    log_file = tmp_path / "logs" / "game.log"
    output = ProgramOutput("game", log_file=log_file)
    output.add("stdout", "hello from godot")
    output.add("stderr", "ERROR: ünïcode")
    output.close()
    text = log_file.read_text(encoding="utf-8")
    assert "stdout hello from godot" in text
    assert "stderr ERROR: ünïcode" in text


def test_log_file_rotates_and_keeps_backup_count(tmp_path):
    log_file = tmp_path / "game.log"
    output = ProgramOutput("game", log_file=log_file, max_bytes=500, backup_count=2)
    for i in range(200):
        output.add("stdout", f"line number {i:04d} " + "x" * 20)
    output.close()
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["game.log", "game.log.1", "game.log.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 500
    # The newest line is in the current file; the oldest ones were rotated away.
    current = log_file.read_text(encoding="utf-8")
    assert "line number 0199" in current
    everything = "".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    assert "line number 0000" not in everything


def test_close_is_idempotent_and_tail_still_works(tmp_path):
    output = ProgramOutput("game", log_file=tmp_path / "game.log")
    output.add("stdout", "before close")
    output.close()
    output.close()
    output.add("stdout", "after close")
    assert [line.text for line in output.tail(2)] == ["before close", "after close"]
    assert "after close" not in (tmp_path / "game.log").read_text(encoding="utf-8")


def test_crlf_line_of_exactly_max_line_is_not_reported_as_cut() -> None:
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"abcd\r\n") == ["abcd"]


def test_a_listener_that_raises_does_not_lose_the_line_or_the_next_listener() -> None:
    output = ProgramOutput("game", tail_lines=10)
    seen: list[str] = []

    def broken(line: OutputLine) -> None:
        raise RuntimeError("a view that was deleted")

    output.subscribe(broken)
    output.subscribe(lambda line: seen.append(line.text))
    output.add("stdout", "still here")

    assert seen == ["still here"]
    assert [line.text for line in output.tail(10)] == ["still here"]
