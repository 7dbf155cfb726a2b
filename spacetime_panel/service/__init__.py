"""The service layer: the Controller and the management API run as one service.

Above `core/` (the Controller) and `api/` (the management API on it), below the
two front ends that run it: `commands/serve.py` (headless, plain asyncio) and
`ui/` (the desktop panel, qasync). Both start the same
:class:`~spacetime_panel.service.panel_service.PanelService`;
:mod:`~spacetime_panel.service.stop_signals` turns SIGTERM and Ctrl+C into a
clean stop for both. Nothing is re-exported here, so that importing
`stop_signals` does not import the API (and FastAPI) with it.
"""
