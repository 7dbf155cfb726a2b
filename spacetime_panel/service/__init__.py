"""The service layer: the Controller and the management API run as one service.

Above `core/` (the Controller) and `api/` (the management API on it), below the
two front ends that run it: `commands/serve.py` (headless, plain asyncio) and
`ui/` (the desktop panel, qasync). Both start the same :class:`PanelService`.
"""

from spacetime_panel.service.panel_service import (
    APP_NAME,
    PANEL_LOG,
    PanelService,
    Paths,
    configure_logging,
    prepare_demo_project,
    run_service,
)
from spacetime_panel.service.stop_signals import on_stop_signals, stop_signals

__all__ = [
    "APP_NAME",
    "PANEL_LOG",
    "PanelService",
    "Paths",
    "configure_logging",
    "on_stop_signals",
    "prepare_demo_project",
    "run_service",
    "stop_signals",
]
