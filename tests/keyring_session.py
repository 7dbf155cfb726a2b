"""A real, private OS keyring for tests: gnome-keyring's Secret Service on its own D-Bus.

`start_keyring_session(state)` runs this file as a script under
`dbus-run-session`, with HOME, XDG_* and XDG_RUNTIME_DIR in a fresh
temporary folder and nothing of the caller's desktop in the environment
(no DISPLAY: gnome-keyring's password prompt cannot open). The script starts

    printf PASSWORD | gnome-keyring-daemon --unlock --components=secrets --daemonize

which creates the "login" keyring with that password and leaves it unlocked
(the headless way to get what a desktop login does), waits until
`org.freedesktop.secrets` is owned on the bus and the login collection
exists, puts it into the requested state, prints `READY <bus address>` and
waits for its stdin to close. Closing it ends the bus, and the daemon with it.

States:
  unlocked  the login keyring, open, as after a desktop login
  locked    locked again; unlocking needs a prompt, which cannot open here
  hanging   locked, and the prompter (org.gnome.keyring.SystemPrompter) is a
            stand-in that accepts the prompt and never answers: an unlock
            waits forever, as behind a prompt nobody sees

Code under test reaches the keyring through `KeyringSession.env` (children)
or with DBUS_SESSION_BUS_ADDRESS set to `KeyringSession.bus_address`.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

TOOLS = ("dbus-run-session", "gnome-keyring-daemon")
PASSWORD = "test-login-password"
STATES = ("unlocked", "locked", "hanging")
SECRETS_NAME = "org.freedesktop.secrets"
PROMPTER_NAME = "org.gnome.keyring.SystemPrompter"
LOGIN_COLLECTION = "/org/freedesktop/secrets/collection/login"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass
class KeyringSession:
    """A running private session bus with gnome-keyring-daemon on it."""

    root: Path
    bus_address: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    _closed: bool = field(default=False)

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the session (its bus, its HOME), capturing its output."""
        return subprocess.run(
            args, env=self.env, input=input, capture_output=True, text=True, timeout=timeout
        )

    def panel(
        self, *args: str, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """`spacetime-panel ARGS` inside the session."""
        return self.run(
            sys.executable, "-m", "spacetime_panel", *args, input=input, timeout=timeout
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def daemon_log(self) -> str:
        return (self.root / "session.log").read_text(encoding="utf-8", errors="replace")


def session_environment(root: Path) -> dict[str, str]:
    """A clean environment in `root`: nothing of the caller's desktop or keyring."""
    home = root / "home"
    runtime = root / "run"
    for folder in (home, home / ".config", home / ".local" / "share", home / ".cache"):
        folder.mkdir(parents=True, exist_ok=True)
    runtime.mkdir(mode=0o700)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("SPACETIME_TEST_TIME_SCALE", "COVERAGE_PROCESS_START"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def start_keyring_session(state: str, *, timeout: float = 30.0) -> KeyringSession:
    """Start a private bus and an unlocked (or locked, or hanging) gnome-keyring on it."""
    if state not in STATES:
        raise ValueError(f"unknown keyring state {state!r}")
    if missing := missing_tools():
        raise RuntimeError(
            f"{', '.join(missing)} not found: install Debian's dbus and gnome-keyring "
            "(apt-get install dbus gnome-keyring libsecret-tools)"
        )
    # A short path: gnome-keyring's control socket lives under XDG_RUNTIME_DIR.
    root = Path(tempfile.mkdtemp(prefix="stp-keyring-"))
    env = session_environment(root)
    log = (root / "session.log").open("wb")
    process = subprocess.Popen(
        ["dbus-run-session", "--", sys.executable, str(Path(__file__).resolve()), state],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=root,
    )
    try:
        line = _first_line(process, timeout)
    except BaseException:
        process.kill()
        process.wait()
        log.close()
        text = (root / "session.log").read_text(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"the test keyring session did not start:\n{text}") from None
    address = line.removeprefix("READY ").strip()
    env = {**env, "DBUS_SESSION_BUS_ADDRESS": address}
    return KeyringSession(root=root, bus_address=address, env=env, process=process, log=log)


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The session script's READY line, or an error once it exits or the time is up."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no READY line")
            if selector.select(left):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    raise EOFError("the session script exited")
                data += chunk
    line = data.split(b"\n", 1)[0].decode()
    if not line.startswith("READY "):
        raise RuntimeError(line)
    return line


# --- the script, run inside dbus-run-session ----------------------------------------


def _wait_for(condition: object, what: str, timeout: float = 20.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"keyring session: timed out waiting for {what}")
        time.sleep(0.05)


def _serve_silent_prompter() -> threading.Event:
    """Own the system prompter's name; acknowledge every call and never prompt."""
    from jeepney import new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.low_level import MessageType

    ready = threading.Event()

    def serve() -> None:
        connection = open_dbus_connection(bus="SESSION")
        connection.send_and_get_reply(message_bus.RequestName(PROMPTER_NAME))
        ready.set()
        while True:
            message = connection.receive()
            if message.header.message_type == MessageType.method_call:
                connection.send(new_method_return(message))

    threading.Thread(target=serve, name="silent prompter", daemon=True).start()
    return ready


def main(state: str) -> None:
    import secretstorage
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection

    started = subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
        input=PASSWORD.encode(),
        capture_output=True,
        check=False,
    )
    if started.returncode != 0:
        raise SystemExit(f"gnome-keyring-daemon failed: {started.stderr.decode(errors='replace')}")

    bus = open_dbus_connection(bus="SESSION")

    def secrets_owned() -> bool:
        reply = bus.send_and_get_reply(message_bus.NameHasOwner(SECRETS_NAME))
        return bool(reply.body[0])

    _wait_for(secrets_owned, f"{SECRETS_NAME} on the bus")
    connection = secretstorage.dbus_init()

    def login_exists() -> bool:
        paths = [c.collection_path for c in secretstorage.get_all_collections(connection)]
        return LOGIN_COLLECTION in paths

    _wait_for(login_exists, "the login collection")
    login = secretstorage.Collection(connection, LOGIN_COLLECTION)
    if state == "hanging":
        ready = _serve_silent_prompter()
        _wait_for(ready.is_set, "the silent prompter")
    if state in ("locked", "hanging"):
        login.lock()
        _wait_for(login.is_locked, "the login collection to lock")
    elif login.is_locked():
        raise SystemExit("keyring session: the login collection did not unlock")

    print("READY", os.environ["DBUS_SESSION_BUS_ADDRESS"], flush=True)
    sys.stdin.read()  # until the test closes it


if __name__ == "__main__":
    main(sys.argv[1])
