"""Bearer tokens: signed by the control key, scoped, refused from their expiry on."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from spacetime_panel.secrets.tokens import (
    TokenRejected,
    issue_token,
    looks_like_token,
    verify_token,
)

KEY = "k" * 43  # what `keys generate` makes: token_urlsafe(32)
NOW = 1_800_000_000.0


def test_a_token_grants_its_scope_until_it_expires() -> None:
    read = issue_token(KEY, "read", 8 * 3600, now=NOW)
    control = issue_token(KEY, "control", 60, now=NOW)

    assert verify_token(KEY, read, now=NOW) == "read"
    assert verify_token(KEY, read, now=NOW + 8 * 3600 - 1) == "read"
    assert verify_token(KEY, control, now=NOW + 59.9) == "control"


def test_the_claims_are_the_documented_ones() -> None:
    token = issue_token(KEY, "read", 30 * 60, now=NOW)
    claims = jwt.decode(
        token, KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {
        "iss": "spacetime-panel",
        "scope": "read",
        "iat": int(NOW),
        "exp": int(NOW) + 1800,
    }


def test_an_expired_token_is_refused_with_when_and_what_to_do() -> None:
    token = issue_token(KEY, "control", 60, now=NOW)
    with pytest.raises(TokenRejected) as raised:
        verify_token(KEY, token, now=NOW + 60)  # no leeway: refused at exp itself
    message = str(raised.value)
    assert message == (
        "token expired at 2027-01-15T08:01:00Z; issue a new one with `spacetime-panel keys token`"
    )


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "eyJ.not.base64",
        "a.b.c",
        "",
    ],
)
def test_garbage_is_an_invalid_token(token: str) -> None:
    with pytest.raises(TokenRejected, match=r"^invalid token: ") as raised:
        verify_token(KEY, token, now=NOW)
    assert "\n" not in str(raised.value)


def test_a_token_signed_by_another_key_is_refused() -> None:
    token = issue_token("o" * 43, "control", 60, now=NOW)
    with pytest.raises(TokenRejected, match="signature does not match"):
        verify_token(KEY, token, now=NOW)


def test_a_tampered_scope_is_refused() -> None:
    header, _payload, signature = issue_token(KEY, "read", 60, now=NOW).split(".")
    forged = {"iss": "spacetime-panel", "scope": "control", "iat": int(NOW), "exp": int(NOW) + 60}
    payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenRejected, match="signature does not match"):
        verify_token(KEY, f"{header}.{payload}.{signature}", now=NOW)


def test_unsigned_tokens_are_refused() -> None:
    unsigned = jwt.encode(
        {"iss": "spacetime-panel", "scope": "control", "iat": int(NOW), "exp": int(NOW) + 60},
        None,
        algorithm="none",
    )
    with pytest.raises(TokenRejected, match=r"^invalid token: "):
        verify_token(KEY, unsigned, now=NOW)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "someone-else", "scope": "read"}, "not issued by spacetime-panel"),
        ({"scope": "read"}, "no 'iss' claim"),
        ({"iss": "spacetime-panel"}, "no 'scope' claim"),
        ({"iss": "spacetime-panel", "scope": "admin"}, "unknown scope 'admin'"),
    ],
)
def test_claims_are_checked(claims: dict[str, object], reason: str) -> None:
    token = jwt.encode({**claims, "iat": int(NOW), "exp": int(NOW) + 60}, KEY, algorithm="HS256")
    with pytest.raises(TokenRejected) as raised:
        verify_token(KEY, token, now=NOW)
    assert str(raised.value) == f"invalid token: {reason}"


def test_a_short_control_key_cannot_sign_or_verify() -> None:
    with pytest.raises(ValueError, match="too short"):
        issue_token("short", "read", 60, now=NOW)
    with pytest.raises(TokenRejected, match="too short"):
        verify_token("short", issue_token(KEY, "read", 60, now=NOW), now=NOW)


def test_issue_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        issue_token(KEY, "read", 0, now=NOW)
    with pytest.raises(ValueError, match="unknown scope"):
        issue_token(KEY, "admin", 60, now=NOW)  # type: ignore[arg-type]


def test_looks_like_token_tells_tokens_from_keys() -> None:
    assert looks_like_token(issue_token(KEY, "read", 60, now=NOW))
    assert not looks_like_token(KEY)
    assert not looks_like_token("a.b.c")  # a header is JSON: it starts with eyJ
    assert not looks_like_token("eyJhbGciOiJIUzI1NiJ9.payload")
    assert not looks_like_token("eyJ.x.y z")
    assert not looks_like_token("")
