"""Is there a display for the desktop panel and a windowed Godot, or Xvfb to make one?"""

from __future__ import annotations

import re
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from spacetime_panel.doctor.report import Check

#: Seconds to wait for the display server to accept a connection.
CONNECT_TIMEOUT = 2.0
X11_SOCKETS = Path("/tmp/.X11-unix")

# "[host]:display[.screen]"
_X11_DISPLAY = re.compile(r"^(?P<host>[^:]*):(?P<number>\d+)(?:\.\d+)?$")


def x11_reachable(display: str, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when the X server of `display` accepts a connection, else why not (one line).

    Only connects (no X protocol is spoken): enough to tell a live server from a
    stale DISPLAY. ":N" is the local socket /tmp/.X11-unix/XN (or Linux's
    abstract one of that name); "host:N" is TCP port 6000+N.
    """
    match = _X11_DISPLAY.match(display)
    if match is None:
        return f"DISPLAY={display} is not of the form :N or host:N"
    number = int(match["number"])
    host = match["host"]
    if host in ("", "unix"):
        path = X11_SOCKETS / f"X{number}"
        addresses = [str(path)]
        if sys.platform.startswith("linux"):
            addresses.append(f"\0{path}")  # Xorg and Xvfb listen on both
        for address in addresses:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                try:
                    sock.connect(address)
                except OSError:
                    continue
                return None
        return f"DISPLAY={display}, but no X server listens on {path}"
    try:
        with socket.create_connection((host, 6000 + number), timeout=timeout):
            return None
    except OSError as error:
        return f"DISPLAY={display}, but {host}:{6000 + number} does not answer ({error})"


def wayland_reachable(environ: Mapping[str, str], timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when the Wayland compositor's socket accepts a connection, else why not."""
    name = environ.get("WAYLAND_DISPLAY", "")
    path = Path(name)
    if not path.is_absolute():
        runtime = environ.get("XDG_RUNTIME_DIR")
        if not runtime:
            return f"WAYLAND_DISPLAY={name}, but XDG_RUNTIME_DIR is not set"
        path = Path(runtime) / name
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            return f"WAYLAND_DISPLAY={name}, but no compositor listens on {path}"
    return None


def display_check(environ: Mapping[str, str], *, xvfb: bool = False) -> Check:
    """A reachable X11 or Wayland display; without one, Xvfb for `serve --xvfb`."""
    if not sys.platform.startswith("linux"):
        return Check("display", "ok", f"the {sys.platform} desktop")
    problems: list[str] = []
    if display := environ.get("DISPLAY"):
        problem = x11_reachable(display)
        if problem is None:
            return Check("display", "ok", f"X11 display {display} (reachable)")
        problems.append(problem)
    if environ.get("WAYLAND_DISPLAY"):
        problem = wayland_reachable(environ)
        if problem is None:
            name = environ["WAYLAND_DISPLAY"]
            # Godot 4.5 on Linux still draws through X11 (XWayland) unless told otherwise.
            note = "" if display else "; Godot needs XWayland (DISPLAY) or --headless"
            return Check("display", "ok" if display else "warning", f"Wayland {name}{note}")
        problems.append(problem)
    found = "; ".join(problems) if problems else "no display (DISPLAY and WAYLAND_DISPLAY unset)"
    if shutil.which("Xvfb") is not None:
        if xvfb:
            return Check("display", "ok", f"{found}: Godot runs on the Xvfb that --xvfb starts")
        return Check(
            "display",
            "warning",
            f"{found}: the desktop panel cannot open here; Xvfb is installed",
            "run headless with `spacetime-panel serve --xvfb` (Godot on a virtual display)",
        )
    return Check(
        "display",
        "error",
        f"{found}, and Xvfb is not installed: neither the panel nor a windowed Godot can run",
        "sudo apt install xvfb xauth, then `spacetime-panel serve --xvfb`; or log in to a desktop",
    )
