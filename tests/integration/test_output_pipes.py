"""A child's output read into lines, by the loop (POSIX) and by a thread per pipe (Windows).

SPACETIME_SUPERVISOR_PIPES=thread forces Windows' way on Linux: the same
lines, in order and complete, a stop that the reading does not hold up, no
reading thread left once the pipe's writers are gone, and no more than a few
chunks held when the loop is busy.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from spacetime_panel.supervisor import pipes
from spacetime_panel.supervisor.pipes import CHUNK_BYTES, MAX_CHUNKS_IN_FLIGHT, PIPES_ENV
from spacetime_panel.supervisor.process import GodotProcess
from tests.conftest import TIME_SCALE, eventually
from tests.integration.conftest import alive
from tests.integration.test_program import CHILD_ENV, child

pytestmark = pytest.mark.portable

WAIT = 20 * TIME_SCALE
KINDS = ["thread"] if sys.platform == "win32" else ["thread", "loop"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(PIPES_ENV, request.param)
    yield request.param


class Lines:
    """A sink that keeps every line, by stream."""

    def __init__(self) -> None:
        self.by_stream: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def __call__(self, stream: str, text: str) -> None:
        self.by_stream[stream].append(text)

    @property
    def stdout(self) -> list[str]:
        return self.by_stream["stdout"]


def reading_threads(pid: int) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"output-{pid}-")]


async def spawn(command: list[str], sink: Lines) -> GodotProcess:
    return await GodotProcess.spawn(command, env=CHILD_ENV, cwd=None, sink=sink)


async def test_many_lines_arrive_complete_and_in_order(kind: str) -> None:
    count = 20_000
    chatty = child(
        f"""
        import sys
        for i in range({count}):
            print(i)
            if i % 4 == 0:
                print("e", i, file=sys.stderr)
        """
    )
    lines = Lines()
    process = await spawn(chatty, lines)
    assert process.output_pipes == kind

    assert await asyncio.wait_for(process.exited, WAIT) == 0
    await eventually(lambda: len(lines.stdout) == count, what="every stdout line")
    await eventually(lambda: len(lines.by_stream["stderr"]) == count // 4, what="stderr lines")

    assert lines.stdout == [str(i) for i in range(count)]
    assert lines.by_stream["stderr"] == [f"e {i}" for i in range(0, count, 4)]
    await eventually(lambda: not reading_threads(process.pid), what="the reading threads' end")
    process.close_pipes()


async def test_a_last_line_without_newline_is_kept(kind: str) -> None:
    lines = Lines()
    process = await spawn(child("import sys; sys.stdout.write('first\\nlast')"), lines)

    await asyncio.wait_for(process.exited, WAIT)

    await eventually(lambda: lines.stdout == ["first", "last"], what="the unterminated line")
    await eventually(lambda: not reading_threads(process.pid), what="the reading threads' end")
    process.close_pipes()


GRANDCHILD_KEEPS_THE_PIPE = child(
    """
    import os, subprocess, sys
    code = '''
    import os, signal, sys, time, psutil
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("grandchild", os.getpid(), flush=True)
    while psutil.pid_exists(int(sys.argv[1])):
        time.sleep(0.02)
    print("grandchild outlived its parent", flush=True)
    time.sleep(120)
    '''
    subprocess.Popen([sys.executable, "-c", code, str(os.getpid())])
    print("child leaves", flush=True)
    """
)


async def test_a_grandchild_holding_the_pipe_blocks_neither_the_loop_nor_the_stop(
    kind: str,
) -> None:
    lines = Lines()
    process = await spawn(GRANDCHILD_KEEPS_THE_PIPE, lines)
    await eventually(lambda: any(t.startswith("grandchild ") for t in lines.stdout))
    grandchild = int(next(t for t in lines.stdout if t.startswith("grandchild ")).split()[1])
    try:
        # The child is gone, its pipe is not: the exit is seen, and the pipe is still read.
        assert await asyncio.wait_for(process.exited, WAIT) == 0
        await eventually(lambda: "grandchild outlived its parent" in lines.stdout)
        assert alive(grandchild)
        if kind == "thread":
            assert len(reading_threads(process.pid)) == 2, "a read is blocked on the open pipe"

        # A stop held up by a blocked read would never return: the wait is generous.
        await asyncio.wait_for(process.terminate(0.5), WAIT)
        # It was not known (it was found after its parent's end): killed with the group.
        await eventually(lambda: not alive(grandchild), what="the grandchild killed")
        await eventually(lambda: not reading_threads(process.pid), what="the reading threads' end")
        process.close_pipes()
    finally:
        if alive(grandchild):
            psutil.Process(grandchild).kill()


async def test_closing_the_pipes_stops_the_lines_and_never_blocks(kind: str) -> None:
    lines = Lines()
    writer = child(
        """
        import time
        i = 0
        while True:
            print(i, flush=True)
            i += 1
            time.sleep(0.001)
        """
    )
    process = await spawn(writer, lines)
    try:
        await eventually(lambda: len(lines.stdout) > 10, what="some lines")

        process.close_pipes()  # returns at once: it never waits for a blocked read
        seen = len(lines.stdout)
        await asyncio.sleep(0.2)  # lines the child writes meanwhile must not arrive
        assert len(lines.stdout) == seen
        if kind == "thread":
            assert process.running, "the child was not hurt by the closing: it is still read"
    finally:
        await process.terminate(0.5)
    await eventually(lambda: not reading_threads(process.pid), what="the reading threads' end")


BOUNDED_WRITER = """
import os, sys
progress = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
block = (b"x" * 1023 + b"\\n") * 64
written = 0
for _ in range(int(sys.argv[2]) // len(block)):
    view = memoryview(block)
    while view:
        done = os.write(1, view)
        view = view[done:]
        written += done
        os.lseek(progress, 0, os.SEEK_SET)
        os.write(progress, b"%12d" % written)
"""


def written(progress: Path) -> int:
    text = progress.read_bytes().strip()
    return int(text) if text else 0


async def test_a_busy_loop_holds_only_a_few_chunks(kind: str, tmp_path: Path) -> None:
    # While the loop is busy, the thread may take at most MAX_CHUNKS_IN_FLIGHT chunks
    # (and hold one more); then the pipe fills and the child waits.
    total = 64 * 1024 * 1024
    progress = tmp_path / "written"
    lines = Lines()
    process = await spawn([*child(BOUNDED_WRITER), str(progress), str(total)], lines)
    await eventually(lambda: progress.exists() and written(progress) > 0, what="the writing")

    at_start = written(progress)
    most = at_start
    busy_until = time.monotonic() + 1.5
    while time.monotonic() < busy_until and most - at_start < total // 2:
        time.sleep(0.01)  # blocking on purpose: the loop is kept busy
        most = max(most, written(progress))

    held = (MAX_CHUNKS_IN_FLIGHT + 1) * CHUNK_BYTES
    pipe_and_partial = 2 * 1024 * 1024  # the OS pipe's buffer and the child's write, generously
    assert most - at_start < held + pipe_and_partial, (
        f"the child wrote {most - at_start} bytes while the loop was busy"
    )

    assert await asyncio.wait_for(process.exited, WAIT) == 0
    await eventually(lambda: len(lines.stdout) == total // 1024, what="every line")
    assert all(len(text) == 1023 for text in lines.stdout)
    await eventually(lambda: not reading_threads(process.pid), what="the reading threads' end")
    process.close_pipes()


def test_the_environment_picks_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    native = "thread" if sys.platform == "win32" else "loop"
    monkeypatch.delenv(PIPES_ENV, raising=False)
    assert pipes.requested_kind() == native
    monkeypatch.setenv(PIPES_ENV, "THREAD ")
    assert pipes.requested_kind() == "thread"
    monkeypatch.setenv(PIPES_ENV, "carrier-pigeon")
    assert pipes.requested_kind() == native
