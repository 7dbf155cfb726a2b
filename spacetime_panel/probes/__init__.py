"""Per-service checks (LSP, DAP, HTTP, WebSocket, TCP, passive) and service discovery.

Every probe returns a `ServiceStatus` within its timeout and never raises for
network trouble. `ServiceMonitor` keeps the whole port table current.
"""

from spacetime_panel.probes.bridge import probe_bridge_http, probe_management_api, probe_websocket
from spacetime_panel.probes.discovery import DiscoveryCounts, DiscoveryListener, ListenerState
from spacetime_panel.probes.editor import probe_dap, probe_lsp
from spacetime_panel.probes.instances import (
    GameInstance,
    parse_beacon,
    rank_instances,
    read_port_file,
    scan_ports,
)
from spacetime_panel.probes.monitor import MonitorPorts, ServiceMonitor, expected_from_settings
from spacetime_panel.probes.status import (
    BRIDGE_HTTP,
    DAP,
    DISCOVERY,
    LSP,
    MANAGEMENT_API,
    SERVICE_ORDER,
    TELEMETRY,
    ServiceState,
    ServiceStatus,
)
from spacetime_panel.probes.tcp import probe_passive, probe_tcp

__all__ = [
    "BRIDGE_HTTP",
    "DAP",
    "DISCOVERY",
    "LSP",
    "MANAGEMENT_API",
    "SERVICE_ORDER",
    "TELEMETRY",
    "DiscoveryCounts",
    "DiscoveryListener",
    "GameInstance",
    "ListenerState",
    "MonitorPorts",
    "ServiceMonitor",
    "ServiceState",
    "ServiceStatus",
    "expected_from_settings",
    "parse_beacon",
    "probe_bridge_http",
    "probe_dap",
    "probe_lsp",
    "probe_management_api",
    "probe_passive",
    "probe_tcp",
    "probe_websocket",
    "rank_instances",
    "read_port_file",
    "scan_ports",
]
