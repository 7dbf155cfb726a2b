"""Where the bridge key may go: loopback, or a host the user approved (issue 9, item 6).

A discovered game may run on any host that sends a beacon, and anyone on the
LAN can send one. So the bridge key (`Authorization: Bearer KEY`) goes only to
this machine's loopback (127.0.0.0/8, ::1, `localhost`) or to a host listed in
`godot.bridge_key_hosts`. Every client edge that could send the key (the
bridge probes, the bridge client, the port scan) builds its header with
`bearer_header`, so the decision is made in exactly one place: `key_for_host`.

Pure code, no I/O: the approved list is passed in (a collection, or a callable
that returns the current one, so a host approved while the panel runs counts
at once).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection

import httpx

#: The approved hosts, or a callable that returns them as they are now.
ApprovedHosts = Collection[str] | Callable[[], Collection[str]]

LOOPBACK_NAMES = frozenset({"localhost"})

#: What a port-table row says when the key was held back.
KEY_WITHHELD = "not sent the bridge key: host not approved (approve it in Settings)"


def normalize_host(host: str) -> str:
    """One spelling per host: lower case, no brackets, no trailing dot, canonical IP."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.rstrip(".")
    try:
        return str(ipaddress.ip_address(name.split("%", 1)[0]))
    except ValueError:
        return name


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 (also as an IPv4-mapped address) and `localhost`.

    A wildcard (0.0.0.0, ::) is not loopback: it names no peer.
    """
    name = normalize_host(host)
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def approved_now(approved: ApprovedHosts) -> frozenset[str]:
    """The approved hosts as a set of normalized names (a bare string is one host)."""
    hosts = approved() if callable(approved) else approved
    if isinstance(hosts, str):
        hosts = (hosts,)
    return frozenset(normalize_host(host) for host in hosts)


def key_for_host(host: str, key: str | None, approved: ApprovedHosts) -> str | None:
    """The key to send to `host`, or None: the key goes to loopback or an approved host only."""
    if not key:
        return None
    if is_loopback(host) or normalize_host(host) in approved_now(approved):
        return key
    return None


def key_withheld(host: str, key: str | None, approved: ApprovedHosts) -> bool:
    """True when there is a key and `host` may not have it (the row should say so)."""
    return bool(key) and key_for_host(host, key, approved) is None


def bearer_header(host: str, key: str | None, approved: ApprovedHosts) -> dict[str, str]:
    """`{"Authorization": "Bearer KEY"}` for a host that may have the key, else `{}`."""
    allowed = key_for_host(host, key, approved)
    return {"Authorization": f"Bearer {allowed}"} if allowed else {}


def host_of(url: str) -> str:
    """The host a URL points at ('' when it has none)."""
    try:
        return httpx.URL(url).host
    except httpx.InvalidURL:
        return ""
