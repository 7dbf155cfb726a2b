"""Every port in packaging/ is one the configuration uses by default (or a documented other)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from spacetime_panel.config import Settings

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"

#: Ports that are not the panel's: HTTPS/HTTP in front of it, Prometheus, Grafana.
OTHER_PORTS = {
    443: "HTTPS (nginx)",
    80: "HTTP redirect (nginx)",
    9090: "Prometheus",
    3000: "Grafana",
}

# A number in a place that names a port: "host:PORT", "--...port PORT", "port: PORT",
# "PORT=...", "listen PORT", "EXPOSE PORT ...", compose's "HOST:CONTAINER" mappings.
PORT_PATTERNS = [
    re.compile(
        r"(?:\b(?:localhost|[\w-]+(?:\.[\w-]+)+|\[[\d:a-f]*\]|\d+(?:\.\d+){3})):(\d{1,5})\b"
    ),
    re.compile(r"(?i)\b[\w-]*port[s]?\b[\"']?\s*[:= ]\s*[\"']?(\d{1,5}(?:\s*,\s*\d{1,5})*)"),
    re.compile(r"(?<![\w.-])[a-z][\w-]*:(\d{2,5})\b(?![.\d])"),  # service-name:PORT
    re.compile(r"\blisten\s+(?:\[[^\]]*\]:)?(\d{1,5})\b"),
    re.compile(r"(?m)^\s*EXPOSE\s+([\d\s/a-z]+)$"),
    re.compile(r"[\"'\s](\d{2,5}):(\d{2,5})(?:/(?:tcp|udp))?[\"'\s]"),
]


def default_ports() -> set[int]:
    settings = Settings()
    ports = settings.ports
    return {
        settings.api.port,
        ports.http,
        *ports.http_fallbacks,
        ports.telemetry,
        ports.lsp,
        ports.dap,
        ports.discovery,
    }


def ports_in(text: str) -> list[int]:
    found: list[int] = []
    for pattern in PORT_PATTERNS:
        for match in pattern.finditer(text):
            for group in match.groups():
                found += [int(n) for n in re.findall(r"\d+", group or "")]
    return found


def packaging_files() -> list[Path]:
    return sorted(p for p in PACKAGING.rglob("*") if p.is_file())


def test_the_defaults_are_the_guides() -> None:
    assert default_ports() == {8090, 8080, 8081, 6005, 6006, 8087, 8083, 8084, 8085}


def test_the_pattern_finds_ports_where_files_name_them() -> None:
    text = (
        "proxy_pass http://127.0.0.1:8090;\n--godot-port 9999\nlisten 443 ssl;\n"
        'ports:\n  - "8081:8081"\nEXPOSE 8090 8087/udp\nSPACETIME__API__PORT=7000\n'
        "targets: ['spacetime:8091']\nurl: http://prometheus:9090\nimage: python:3.11-slim\n"
    )
    assert set(ports_in(text)) == {8090, 9999, 443, 8081, 8087, 7000, 8091, 9090}


def test_every_port_in_packaging_is_a_configured_default() -> None:
    allowed = default_ports() | OTHER_PORTS.keys()
    files = packaging_files()
    assert files, "packaging/ is empty"
    strays = {
        f"{path.relative_to(PACKAGING)}: {port}"
        for path in files
        for port in ports_in(path.read_text(encoding="utf-8", errors="replace"))
        if port not in allowed
    }
    assert not strays, f"ports that are not configuration defaults: {sorted(strays)}"


# "[ADDRESS:]HOST:CONTAINER[/PROTOCOL]", as compose and `docker run -p` publish ports.
MAPPING = re.compile(r"[\"'\s](?:\d+(?:\.\d+){3}:)?(\d{2,5}):\d{2,5}(?:/(tcp|udp))?[\"'\s]")


def published_twice(text: str) -> list[tuple[str, str]]:
    published = Counter((m.group(1), m.group(2) or "tcp") for m in MAPPING.finditer(text))
    return [port for port, count in published.items() if count > 1]


def test_the_guides_duplicate_mapping_is_found() -> None:
    guide = (
        '      - "8090:8090"    # Python Management Server\n'
        '      - "8081:8081"    # Godot HTTP API\n'
        '      - "8081:8081"    # Telemetry WebSocket\n'
        '      - "8087:8087/udp" # Service Discovery\n'
    )
    assert published_twice(guide) == [("8081", "tcp")]
    assert published_twice(guide.replace('"8081:', '"127.0.0.1:8081:')) == [("8081", "tcp")]
    assert published_twice(' - "127.0.0.1:8087:8087/udp"\n - "8087:8087"\n') == []


def test_no_host_port_is_mapped_twice() -> None:
    """The guide's compose file published 8081 twice; a host port is published once."""
    for path in packaging_files():
        twice = published_twice(path.read_text(encoding="utf-8", errors="replace"))
        assert not twice, f"{path.relative_to(PACKAGING)} publishes {twice} more than once"
