"""A virtual X display (Xvfb) for Godot where there is none: `serve --xvfb`.

The deployment guide's Docker recipe (`Xvfb :99 ... & export DISPLAY=:99`) as
a supervised child process:

- Xvfb picks a free display number itself and reports it (`-displayfd 1`:
  the number on its stdout once it accepts clients), so nothing guesses a
  number and no other server can take it in between.
- It listens on no TCP port (`-nolisten tcp`), only on its local socket, and
  only to clients that hold a fresh MIT-MAGIC-COOKIE-1 (`-auth`): the cookie
  sits in a private Xauthority file (mode 0600, in a 0700 folder) that Godot
  gets as XAUTHORITY, so no other local user can draw on or read the screen.
- It is started, watched and stopped through `GodotProcess` (its own session,
  an exit watch, SIGTERM then SIGKILL to its process group).
- Where util-linux's `setpriv` exists, Xvfb is started with `--pdeathsig
  TERM`: the kernel ends it when the panel dies, even by SIGKILL, so no Xvfb
  outlives the panel. (A Godot that a killed panel left running loses its
  window with it; the next panel starts a new display.)
- If Xvfb dies while the panel runs, that is logged as an error and Xvfb is
  started again, on a new display number, under the supervisor's restart
  policy (backoff, a failure budget); `on_change` then hands the new
  DISPLAY/XAUTHORITY to whoever launches Godot. A Godot drawing on the dead
  display loses its X connection and ends; its own restart gets the new
  display. After too many failures the panel gives up and says so.

No Qt here: the service layer starts it before Godot and stops it after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spacetime_panel.supervisor.policy import GiveUp, RestartPolicy
from spacetime_panel.supervisor.process import GodotProcess, SpawnError

log = logging.getLogger(__name__)

XVFB = "Xvfb"
XAUTH = "xauth"
SETPRIV = "setpriv"
#: A VR game's desktop window (its mirror of the headset view) fits this screen.
SCREEN = "1920x1080x24"
#: How long Xvfb has to report its display number (s).
READY_TIMEOUT = 30.0
#: How often the wait for Xvfb says it is still waiting (s).
PROGRESS_EVERY = 5.0
#: How long Xvfb has after SIGTERM before SIGKILL (s).
STOP_TIMEOUT = 5.0
#: Xvfb's own stderr lines kept for an error message.
KEPT_LINES = 5

INSTALL_HINT = (
    "Debian/Ubuntu: sudo apt install xvfb; Fedora: sudo dnf install xorg-x11-server-Xvfb; "
    "Arch: sudo pacman -S xorg-server-xvfb"
)

DisplayEnvironment = dict[str, str]


class DisplayFailed(Exception):
    """Xvfb could not be started or did not become ready; `str()` is one line."""


def platform_problem(platform: str | None = None) -> str | None:
    """Why `--xvfb` makes no sense on this platform (default: this one), or None on X11's."""
    platform = platform or sys.platform
    if platform == "win32":
        return (
            "--xvfb (godot.xvfb) is for Linux (X11): Godot on Windows draws on the Windows desktop"
        )
    if platform == "darwin":
        return "--xvfb (godot.xvfb) is for Linux (X11): on macOS, Godot draws on the desktop"
    return None


def missing_tools() -> str | None:
    """The one-line complaint when Xvfb (or xauth, which comes with it) is not installed."""
    if shutil.which(XVFB) is None:
        return f"--xvfb needs Xvfb, which is not installed ({INSTALL_HINT})"
    if shutil.which(XAUTH) is None:
        return (
            "--xvfb needs xauth (for the display's access cookie), which is not installed "
            "(Debian/Ubuntu: sudo apt install xauth; Fedora: sudo dnf install xorg-x11-xauth)"
        )
    return None


def existing_display(environ: Mapping[str, str]) -> str | None:
    """The display Godot would already use (DISPLAY), or None when there is none."""
    return environ.get("DISPLAY") or None


def display_description(display: str, pid: int) -> str:
    return f"{display} (Xvfb, pid {pid})"


class VirtualDisplay:
    """One supervised Xvfb: `await start()` gives Godot's DISPLAY and XAUTHORITY.

    `on_change(environment)` is called with the new environment after Xvfb was
    started again on a new display, and with `{}` when the panel gave up on it.
    """

    def __init__(
        self,
        *,
        screen: str = SCREEN,
        ready_timeout: float = READY_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
        policy: RestartPolicy | None = None,
        on_change: Callable[[DisplayEnvironment], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.screen = screen
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._policy = policy or RestartPolicy()
        self._on_change = on_change
        self._clock = clock
        self._folder: Path | None = None
        self._process: GodotProcess | None = None
        self._display: str | None = None
        self._reported: asyncio.Future[str] | None = None
        self._stderr: deque[str] = deque(maxlen=KEPT_LINES)
        self._stopping = False
        self._restart: asyncio.Task[None] | None = None

    # --- what Godot gets ------------------------------------------------------------

    @property
    def display(self) -> str | None:
        """ ":N" while Xvfb runs and is ready, else None."""
        return self._display if self.running else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def xauthority(self) -> Path:
        assert self._folder is not None, "start() first"
        return self._folder / "Xauthority"

    @property
    def environment(self) -> DisplayEnvironment:
        """DISPLAY and XAUTHORITY for Godot; empty when no display runs."""
        display = self.display
        if display is None:
            return {}
        return {"DISPLAY": display, "XAUTHORITY": str(self.xauthority)}

    def describe(self) -> str:
        display, pid = self.display, self.pid
        if display is None or pid is None:
            return "no virtual display"
        return display_description(display, pid)

    # --- start --------------------------------------------------------------------------

    async def start(self) -> DisplayEnvironment:
        """Start Xvfb and wait until it accepts clients; DisplayFailed if it does not."""
        if (problem := platform_problem() or missing_tools()) is not None:
            raise DisplayFailed(problem)
        self._stopping = False
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="spacetime-xvfb-"))
            await self._write_cookie()
        await self._launch()
        return self.environment

    async def _write_cookie(self) -> None:
        """A fresh MIT-MAGIC-COOKIE-1 for any display number (the server ignores the number).

        The entry has family FamilyWild and no address or display number: Xvfb
        reads every entry of its -auth file, and a client (Godot) uses it for
        whichever display Xvfb chose.
        """
        name = b"MIT-MAGIC-COOKIE-1".hex()
        cookie = secrets.token_hex(16)
        entry = f"ffff 0000  0000  {len(name) // 2:04x} {name} {len(cookie) // 2:04x} {cookie}\n"
        path = self.xauthority
        path.touch(mode=0o600)
        merged = await asyncio.create_subprocess_exec(
            XAUTH,
            "-q",
            "-f",
            str(path),
            "nmerge",
            "-",
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, error = await merged.communicate(entry.encode())
        if merged.returncode != 0:
            raise DisplayFailed(f"xauth could not write {path}: {error.decode().strip()}")

    def _command(self) -> list[str]:
        command = [
            XVFB,
            "-displayfd",
            "1",
            "-nolisten",
            "tcp",
            "-screen",
            "0",
            self.screen,
            "-auth",
            str(self.xauthority),
        ]
        setpriv = shutil.which(SETPRIV) if sys.platform.startswith("linux") else None
        if setpriv is not None:
            return [setpriv, "--pdeathsig", "TERM", *command]
        return command

    async def _launch(self) -> None:
        loop = asyncio.get_running_loop()
        self._reported = loop.create_future()
        self._stderr.clear()
        command = self._command()
        if command[0] != XVFB:
            log.debug("Xvfb ends with the panel (setpriv --pdeathsig TERM)")
        else:
            log.warning("setpriv not found: an Xvfb may outlive a panel that is killed")
        log.info("starting Xvfb (%s, it picks a free display)", self.screen)
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}
        try:
            process = await GodotProcess.spawn(command, env=env, cwd=None, sink=self._line)
        except SpawnError as error:
            raise DisplayFailed(f"Xvfb could not be started: {error}") from None
        self._process = process
        started = self._clock()
        try:
            self._display = await self._wait_ready(process, started)
        except BaseException:
            await process.terminate(self.stop_timeout)
            process.close_pipes()
            raise
        log.info(
            "virtual display %s ready after %.2f s (DISPLAY=%s, XAUTHORITY=%s)",
            display_description(self._display, process.pid),
            self._clock() - started,
            self._display,
            self.xauthority,
        )
        process.exited.add_done_callback(self._on_exit)

    async def _wait_ready(self, process: GodotProcess, started: float) -> str:
        assert self._reported is not None
        deadline = started + self.ready_timeout
        while True:
            left = deadline - self._clock()
            if left <= 0:
                raise DisplayFailed(
                    f"Xvfb (pid {process.pid}) did not report a display within "
                    f"{self.ready_timeout:g} s{self._last_words()}"
                )
            waits: set[asyncio.Future[Any]] = {self._reported, process.exited}
            done, _ = await asyncio.wait(
                waits,
                timeout=min(PROGRESS_EVERY, left),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self._reported in done:
                return self._reported.result()
            if process.exited in done:
                await asyncio.sleep(0.1)  # best effort: its last stderr lines, for the message
                code = process.exited.result()
                raise DisplayFailed(
                    f"Xvfb ended before its display was ready (exit code {code})"
                    f"{self._last_words()}"
                )
            log.info(
                "still waiting for Xvfb (pid %d) to report its display (%.0f s of %g s)",
                process.pid,
                self._clock() - started,
                self.ready_timeout,
            )

    def _line(self, stream: str, text: str) -> None:
        reported = self._reported
        number = text.strip()
        waiting = stream == "stdout" and reported is not None and not reported.done()
        if waiting and reported is not None and re.fullmatch(r"\d+", number):
            reported.set_result(f":{number}")
            return
        self._stderr.append(text)
        log.debug("Xvfb %s: %s", stream, text)

    def _last_words(self) -> str:
        lines = [line.strip() for line in self._stderr if line.strip()]
        return f": {lines[-1]}" if lines else ""

    # --- supervision --------------------------------------------------------------------

    def _on_exit(self, exited: asyncio.Future[int | None]) -> None:
        if self._stopping:
            return
        code = None if exited.cancelled() else exited.result()
        log.error(
            "Xvfb (display %s, pid %s) ended unexpectedly (exit code %s)%s: "
            "a Godot drawing on it loses its window",
            self._display,
            self.pid,
            code,
            self._last_words(),
        )
        if self._process is not None:
            self._process.close_pipes()
        decision = self._policy.record_failure(self._clock())
        if isinstance(decision, GiveUp):
            log.error(
                "Xvfb ended %d times within %g s: no virtual display any more; "
                "Godot cannot open a window until the panel is started again",
                decision.failures,
                decision.window,
            )
            self._notify({})
            return
        log.warning("starting Xvfb again in %g s", decision.delay)
        self._restart = asyncio.get_running_loop().create_task(self._start_again(decision.delay))

    async def _start_again(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._stopping:
            return
        try:
            await self._launch()
        except DisplayFailed as error:
            log.error("Xvfb could not be started again: %s", error)
            self._notify({})
            return
        self._notify(self.environment)

    def _notify(self, environment: DisplayEnvironment) -> None:
        if self._on_change is not None:
            self._on_change(environment)

    # --- stop ---------------------------------------------------------------------------

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout`; then the cookie file goes."""
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restart
            self._restart = None
        process = self._process
        if process is not None and process.running:
            description = self.describe()
            await process.terminate(self.stop_timeout)
            log.info("virtual display %s stopped", description)
        if process is not None:
            process.close_pipes()
        self._process = None
        self._display = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
