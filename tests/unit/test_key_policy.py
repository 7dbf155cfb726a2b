"""The bridge key goes to loopback or an approved host, and nowhere else (issue 9, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import spacetime_panel
from spacetime_panel.godot.key_policy import (
    bearer_header,
    host_of,
    is_loopback,
    key_for_host,
    key_withheld,
    normalize_host,
)

KEY = "s3cret"

LOOPBACK = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "[::1]",
    "localhost",
    "LocalHost",
    "localhost.",
    "::ffff:127.0.0.1",
    "0:0:0:0:0:0:0:1",
]
ELSEWHERE = [
    "192.0.2.10",
    "10.0.0.5",
    "0.0.0.0",
    "::",
    "",
    "example.com",
    "localhost.example.com",
    "127.0.0.1.example.com",
    "::ffff:192.0.2.10",
    "2001:db8::1",
]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_always_gets_the_key(host: str) -> None:
    assert is_loopback(host)
    assert key_for_host(host, KEY, ()) == KEY
    assert bearer_header(host, KEY, ()) == {"Authorization": f"Bearer {KEY}"}
    assert not key_withheld(host, KEY, ())


@pytest.mark.parametrize("host", ELSEWHERE)
def test_any_other_host_gets_no_key_unless_approved(host: str) -> None:
    assert not is_loopback(host)
    assert key_for_host(host, KEY, ()) is None
    assert bearer_header(host, KEY, ()) == {}
    assert key_withheld(host, KEY, ())
    assert key_for_host(host, KEY, ("192.0.2.99", "elsewhere.example")) is None


def test_an_approved_host_gets_the_key_in_any_spelling() -> None:
    approved = ("192.0.2.10", "Game-PC.Example.COM.", "2001:DB8::1")
    assert key_for_host("192.0.2.10", KEY, approved) == KEY
    assert key_for_host("game-pc.example.com", KEY, approved) == KEY
    assert key_for_host("[2001:db8:0::1]", KEY, approved) == KEY
    assert key_for_host("192.0.2.11", KEY, approved) is None


def test_a_bare_string_is_one_host_not_its_characters() -> None:
    assert key_for_host("192.0.2.10", KEY, "192.0.2.10") == KEY
    assert key_for_host("1", KEY, "192.0.2.10") is None


def test_approved_hosts_read_when_asked() -> None:
    """A callable is read at each decision: an approval counts at once."""
    approved: list[str] = []
    assert key_for_host("192.0.2.10", KEY, lambda: approved) is None
    approved.append("192.0.2.10")
    assert key_for_host("192.0.2.10", KEY, lambda: approved) == KEY


@pytest.mark.parametrize("key", [None, ""])
def test_no_key_means_nothing_to_send_or_withhold(key: str | None) -> None:
    assert key_for_host("127.0.0.1", key, ()) is None
    assert bearer_header("127.0.0.1", key, ()) == {}
    assert not key_withheld("192.0.2.10", key, ())


def test_hosts_of_urls_and_spellings() -> None:
    assert host_of("http://[::1]:8080/status") == "::1"
    assert host_of("ws://192.0.2.10:8081") == "192.0.2.10"
    assert normalize_host(" [::FFFF:7F00:1] ") == "::ffff:7f00:1"
    assert normalize_host("fe80::1%eth0") == "fe80::1"


def test_no_client_edge_builds_the_authorization_header_by_hand() -> None:
    """Every client-side header comes from key_policy.bearer_header, so that a new edge
    cannot forget the decision. The servers (api/, sim/) read the header, which is fine."""
    package = Path(spacetime_panel.__file__).parent
    servers = {"api", "sim", "addons"}
    offenders = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        if relative.parts[0] in servers or relative == Path("godot/key_policy.py"):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"Bearer \{|[\"']Authorization[\"']", text):
            offenders.append(str(relative))
    # `keys token` prints a token for the user to use by hand; it sends nothing.
    assert [o for o in offenders if o != str(Path("commands/keys.py"))] == []
