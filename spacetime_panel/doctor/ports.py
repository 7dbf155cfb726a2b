"""Each configured port: free, or held by whom (our own panel or Godot is no error).

The holders come from the OS's socket table (`probes.owner.port_owners`, the
same passive check the service monitor uses); nothing is connected to.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Literal

import psutil

from spacetime_panel.config import Settings
from spacetime_panel.doctor.report import Check, Verdict
from spacetime_panel.godot.commands import SIMULATOR_SCRIPT
from spacetime_panel.probes.owner import PortOwner, port_owners

Role = Literal["panel", "simulator", "godot"]
ROLE_NAMES: dict[Role, str] = {
    "panel": "a SpaceTime panel",
    "simulator": "the simulated Godot",
    "godot": "Godot",
}
#: How much of a holder's command line is shown.
COMMAND_LINE_CHARS = 80


@dataclass(frozen=True, slots=True)
class Holder:
    owner: PortOwner
    command_line: str
    role: Role | None

    def __str__(self) -> str:
        if self.owner.pid is None:
            return "another user's process (run doctor as root to see which)"
        parts = [f"pid {self.owner.pid}"]
        if self.command_line:
            parts.append(self.command_line)
        return f"{self.owner.name or 'a process'} ({', '.join(parts)})"


def holder_of(owner: PortOwner) -> Holder:
    """The owner with its command line and what it is to us (panel, Godot, or neither)."""
    if owner.pid is None:
        return Holder(owner, "", None)
    try:
        arguments = psutil.Process(owner.pid).cmdline()
    except psutil.Error:
        arguments = []
    line = shlex.join(arguments)
    if len(line) > COMMAND_LINE_CHARS:
        line = line[: COMMAND_LINE_CHARS - 3] + "..."
    return Holder(owner, line, role_of(owner.name or "", arguments))


def role_of(name: str, arguments: list[str]) -> Role | None:
    """Ours? The simulator script, a panel (the script or `-m spacetime_panel`), or Godot."""
    words = {os.path.basename(argument) for argument in arguments[:3]}
    if SIMULATOR_SCRIPT in words or "spacetime_panel.sim" in arguments:
        return "simulator"
    if "spacetime-panel" in words or "spacetime_panel" in arguments[:3]:
        return "panel"
    if "godot" in name.lower() or any("godot" in word.lower() for word in words):
        return "godot"
    return None


@dataclass(frozen=True, slots=True)
class PortUse:
    name: str
    port: int
    kind: Literal["tcp", "udp"]
    #: Whose port it is when all is well: the panel's or Godot's.
    owner: Literal["panel", "godot"]
    #: A stranger on it stops serve (else it only loses that service).
    vital: bool


def port_uses(settings: Settings) -> list[PortUse]:
    """The configured ports, in DESIGN.md's port-table order."""
    ports = settings.ports
    editor = settings.godot.launch_editor
    return [
        PortUse("management API", settings.api.port, "tcp", "panel", True),
        PortUse("bridge HTTP", ports.http, "tcp", "godot", False),
        PortUse("telemetry", ports.telemetry, "tcp", "godot", True),
        PortUse("LSP", ports.lsp, "tcp", "godot", editor),
        PortUse("DAP", ports.dap, "tcp", "godot", editor),
        PortUse("discovery", ports.discovery, "udp", "panel", False),
    ]


def port_checks(settings: Settings) -> list[Check]:
    """One line per configured port."""
    uses = port_uses(settings)
    fallbacks = list(settings.ports.http_fallbacks)
    tcp = port_owners([u.port for u in uses if u.kind == "tcp"] + fallbacks, "tcp")
    udp = port_owners([u.port for u in uses if u.kind == "udp"], "udp")
    checks: list[Check] = []
    for use in uses:
        owner = (tcp if use.kind == "tcp" else udp).get(use.port)
        if owner is None:
            checks.append(Check(f"port {use.port}", "ok", f"{use.name} ({use.kind}): free"))
            continue
        holder = holder_of(owner)
        checks.append(_held(use, holder, fallbacks, tcp))
    return checks


def _held(
    use: PortUse,
    holder: Holder,
    fallbacks: list[int],
    tcp: dict[int, PortOwner],
) -> Check:
    check_name = f"port {use.port}"
    flag = {
        "management API": "--port",
        "bridge HTTP": "--godot-port",
        "telemetry": "--telemetry-port",
        "LSP": "--lsp-port",
        "DAP": "--dap-port",
        "discovery": "--discovery-port",
    }[use.name]
    if holder.role is not None:
        whose = ROLE_NAMES[holder.role]
        if use.kind == "udp" and holder.role == "panel":
            return Check(check_name, "ok", f"{use.name} (udp): shared with {whose}: {holder}")
        return Check(
            check_name,
            "warning",
            f"{use.name} ({use.kind}): held by {whose} that is running: {holder}",
            "fine while it runs; stop it before starting another, or use " + flag,
        )
    verdict: Verdict = "error" if use.vital else "warning"
    if use.name == "bridge HTTP":
        free = next((port for port in fallbacks if port not in tcp), None)
        if free is not None:
            return Check(
                check_name,
                "warning",
                f"{use.name} (tcp): held by {holder}; the bridge would use fallback port {free}",
                f"stop pid {holder.owner.pid}, or choose another {flag}",
            )
        tried = ", ".join(map(str, fallbacks)) or "none configured"
        return Check(
            check_name,
            "error",
            f"{use.name} (tcp): held by {holder}, and every fallback is busy ({tried})",
            f"stop pid {holder.owner.pid}, or choose another {flag} / --http-fallback-ports",
        )
    if use.kind == "udp":
        consequence = "discovery of running games is off"
    elif use.owner == "panel":
        consequence = "serve cannot start"
    elif use.vital:
        consequence = "the game cannot open it"
    else:
        consequence = "the editor's server cannot open it (only with --editor)"
    stop = f"stop pid {holder.owner.pid}" if holder.owner.pid is not None else "free it"
    return Check(
        check_name,
        verdict,
        f"{use.name} ({use.kind}): held by {holder}: {consequence}",
        f"{stop}, or choose another port with {flag}",
    )
