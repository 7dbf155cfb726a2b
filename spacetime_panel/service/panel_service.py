"""The panel's service: the Controller and the management API in one event loop.

`serve` runs it in a plain asyncio loop; the GUI will run the same object in
qasync's loop. Start-up order matters: the API port is bound before any
Godot starts, so a busy port fails fast without leaving a game behind.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import logging.handlers
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import platformdirs

from spacetime_panel.api.app import create_app
from spacetime_panel.api.audit import AUDIT_FILE, AuditLog
from spacetime_panel.api.security import ManagementKeys
from spacetime_panel.api.server import CannotServe, ManagementServer, bind_socket, serving_problem
from spacetime_panel.config.settings import Settings
from spacetime_panel.core.controller import Controller, state_file_for
from spacetime_panel.godot.addon import packaged_addon
from spacetime_panel.godot.commands import demo_project
from spacetime_panel.service.heap import freeze_heap
from spacetime_panel.service.mcp_endpoint import McpEndpoint
from spacetime_panel.supervisor.virtual_display import (
    DisplayEnvironment,
    DisplayFailed,
    VirtualDisplay,
    existing_display,
)

APP_NAME = "spacetime-panel"
PANEL_LOG = "spacetime-panel.log"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Paths:
    logs: Path
    state: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> Paths:
        logs = settings.logging.directory or Path(platformdirs.user_log_dir(APP_NAME))
        state = settings.state_dir or Path(platformdirs.user_state_dir(APP_NAME))
        return cls(logs=logs, state=state)


def configure_logging(settings: Settings, log_dir: Path) -> None:
    """Panel log lines to stdout and to a rotating spacetime-panel.log."""
    level = "DEBUG" if settings.logging.debug_mode else settings.logging.level
    log_dir.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stdout)
    rotating = logging.handlers.RotatingFileHandler(
        log_dir / PANEL_LOG,
        maxBytes=settings.logging.max_bytes,
        backupCount=settings.logging.backup_count,
        encoding="utf-8",
    )
    root = logging.getLogger()
    for handler in (console, rotating):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.error", "mcp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def prepare_demo_project(data_dir: Path | None = None) -> Path:
    """A writable copy of the bundled demo project (Godot writes into PROJECT/.godot)."""
    target = (data_dir or Path(platformdirs.user_data_dir(APP_NAME))) / "demo_project"
    shutil.copytree(demo_project(), target, dirs_exist_ok=True)
    # The demo's project.godot declares the bridge; its files come from the package's addon.
    with importlib.resources.as_file(packaged_addon()) as addon:
        shutil.copytree(addon, target / "addons" / "spacetime_bridge", dirs_exist_ok=True)
    return target


class PanelService:
    """The Controller and the management API, started and stopped in the right order.

    `serve` and the GUI both use it: `await service.start()` checks that the API
    may be served as configured and binds its port (CannotServe, PortBusy if
    taken, before any Godot starts), serves, and starts supervising;
    `await service.stop()` stops Godot (unless configured to leave it running),
    then the API.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str | None,
        keys: ManagementKeys,
        owns_process: bool = False,
    ) -> None:
        """`owns_process`: this service is what the process is for (serve, the desktop
        panel, mcp --standalone), so its start-up heap is frozen (`heap.freeze_heap`);
        False in tests and tools that start a service among other work."""
        self.settings = settings
        self._owns_process = owns_process
        self._api_key = api_key
        self._keys = keys
        self._http: httpx.AsyncClient | None = None
        self._server: ManagementServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._audit: AuditLog | None = None
        self._mcp: McpEndpoint | None = None
        self.controller: Controller | None = None
        #: The Xvfb started for Godot (godot.xvfb, no DISPLAY), stopped after Godot.
        self.virtual_display: VirtualDisplay | None = None

    @property
    def url(self) -> str:
        """The management API's base URL (after `start()`)."""
        assert self._server is not None, "start() first"
        host = self.settings.api.host
        host = f"[{host}]" if ":" in host else host
        return f"{self._server.scheme}://{host}:{self._server.port}"

    async def start(self) -> Controller:
        settings = self.settings
        if (problem := serving_problem(settings.api, self._keys)) is not None:
            raise CannotServe(problem)
        paths = Paths.for_settings(settings)
        sock = bind_socket(settings.api.host, settings.api.port)
        if settings.godot.xvfb:
            try:
                await self._start_virtual_display()
            except BaseException:
                sock.close()
                raise
        self._http = httpx.AsyncClient(trust_env=False)
        controller = Controller(
            settings,
            http=self._http,
            api_key=self._api_key,
            log_dir=paths.logs,
            state_file=state_file_for(paths.state, settings),
        )
        self.controller = controller
        if settings.api.audit_log:
            self._audit = AuditLog(
                paths.logs / AUDIT_FILE,
                max_bytes=settings.logging.max_bytes,
                backup_count=settings.logging.backup_count,
                secrets=(*self._keys.secrets(), self._api_key),
            )
        app = create_app(controller, keys=self._keys, audit=self._audit)
        # MCP for agents at /mcp, behind the same guards; its tools call this app.
        self._mcp = McpEndpoint(
            app,
            settings.api,
            recordings=paths.logs / "recordings",
            freeze_heap=self._owns_process,
        )
        self._server = ManagementServer(app, sock, settings.api)
        self._serving = asyncio.create_task(self._server.serve())
        log.info("management API on %s (health: /health, docs: /docs)", self.url)
        if self._keys.read and not self._keys.control:
            log.warning("a read-only key without a control key guards nothing: the API is open")
        controller.start_up()
        if self._owns_process:
            freeze_heap("started")
        return controller

    @property
    def serving(self) -> asyncio.Task[None]:
        """Done when the API server ended (normally only after `stop()`)."""
        assert self._serving is not None, "start() first"
        return self._serving

    async def _start_virtual_display(self) -> None:
        """Xvfb for Godot when there is no display: its DISPLAY and XAUTHORITY go into
        this process's environment, which every Godot launch copies (godot_environment)."""
        if (display := existing_display(os.environ)) is not None:
            log.info("--xvfb: DISPLAY=%s is set, so Godot uses that display (no Xvfb)", display)
            return
        if not self.settings.supervisor.stop_godot_on_exit:
            log.warning("--xvfb with --leave-running: a Godot left running loses its window")
        self.virtual_display = VirtualDisplay(on_change=_export_display)
        try:
            _export_display(await self.virtual_display.start())
        except DisplayFailed as error:
            await self.virtual_display.stop()
            self.virtual_display = None
            raise CannotServe(f"--xvfb: {error}") from None

    async def stop(self) -> None:
        log.info("shutting down")
        if self.controller is not None:
            await self.controller.close()
        if self.virtual_display is not None:
            await self.virtual_display.stop()  # after Godot, which draws on it
            _export_display({})
            self.virtual_display = None
        if self._server is not None:
            self._server.shutdown()
        if self._serving is not None:
            await self._serving
        if self._mcp is not None:
            await self._mcp.stop()  # after the server: no request finds it gone
        if self._http is not None:
            await self._http.aclose()
        if self._audit is not None:
            self._audit.close()


def _export_display(environment: DisplayEnvironment) -> None:
    """Set (or, given `{}`, remove) DISPLAY and XAUTHORITY for the next Godot launch."""
    for name in ("DISPLAY", "XAUTHORITY"):
        if name in environment:
            os.environ[name] = environment[name]
        else:
            os.environ.pop(name, None)


async def run_service(
    settings: Settings,
    *,
    api_key: str | None,
    keys: ManagementKeys,
    stop: asyncio.Event,
) -> None:
    """Supervise Godot and serve the API until `stop` is set; then shut down in order.

    `api_key` is the bridge's (passed to Godot); `keys` guard this API.
    """
    service = PanelService(settings, api_key=api_key, keys=keys, owns_process=True)
    await service.start()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({service.serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    await service.stop()
