"""Signed, expiring bearer tokens for the management API (the guide's JWT route).

A token is a JWT signed with HS256 by the management API's control key
(`PANEL_API_KEY`), so that whoever can issue one already holds the power it
grants. It carries `scope` ("read" or "control"), `iat`, `exp` and
`iss="spacetime-panel"`. Changing the control key revokes every token.

`verify_token` returns the scope or raises `TokenRejected`, whose message is
one line meant for the client (a 401 body): it says why, and for an expired
token, how to get a new one. Time is passed in (`now`) so tests need no clock.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Final, Literal, get_args

Scope = Literal["read", "control"]
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)

ISSUER: Final = "spacetime-panel"
ALGORITHM: Final = "HS256"
_REQUIRED_CLAIMS: Final = ("scope", "iat", "exp", "iss")
#: RFC 7518 3.2: an HS256 key has at least 256 bits. `keys generate` makes 43 characters.
MIN_SIGNING_KEY_BYTES: Final = 32

# Three base64url parts; the header is a JSON object, so it starts with '{"' = "eyJ".
_TOKEN_SHAPE: Final = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenRejected(Exception):
    """The token cannot be used; the message (one line) says why."""


def looks_like_token(text: str) -> bool:
    """True when `text` has a JWT's shape (three base64url parts), so it is not a plain key.

    Keys made by `keys generate` never contain a dot; a hand-set key that
    happens to have a JWT's shape would be taken for a token, so callers
    should compare the plain keys first.
    """
    return _TOKEN_SHAPE.fullmatch(text) is not None


def issue_token(
    signing_key: str, scope: Scope, ttl_seconds: float, *, now: float | None = None
) -> str:
    """A token granting `scope` for `ttl_seconds` from `now` (default: the current time)."""
    if len(signing_key.encode()) < MIN_SIGNING_KEY_BYTES:
        raise ValueError(
            f"the control key is too short to sign tokens (at least {MIN_SIGNING_KEY_BYTES} "
            "bytes); make one with `spacetime-panel keys generate panel --force`"
        )
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of: {', '.join(SCOPES)}")
    if not ttl_seconds > 0:
        raise ValueError(f"the lifetime must be positive, not {ttl_seconds}")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "scope": scope,
        "iat": issued,
        "exp": issued + max(1, round(ttl_seconds)),
    }
    import jwt  # PyJWT pulls in cryptography (about 9 MB): only a panel that meets a token pays

    return jwt.encode(claims, signing_key, algorithm=ALGORITHM)


def verify_token(signing_key: str, token: str, *, now: float | None = None) -> Scope:
    """The scope a valid token grants; `TokenRejected` otherwise.

    Checks the signature (HS256 only), the issuer, the expiry with no leeway
    (a token is refused from its `exp` second on) and the scope's value.
    """
    if len(signing_key.encode()) < MIN_SIGNING_KEY_BYTES:
        raise TokenRejected("invalid token: this panel's control key is too short to sign tokens")
    import jwt

    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # Time is checked below against `now`, not PyJWT's clock.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": list(_REQUIRED_CLAIMS),
            },
        )
    except jwt.InvalidSignatureError:
        raise TokenRejected(
            "invalid token: its signature does not match this panel's key"
        ) from None
    except jwt.InvalidIssuerError:
        raise TokenRejected(f"invalid token: not issued by {ISSUER}") from None
    except jwt.MissingRequiredClaimError as error:
        raise TokenRejected(f"invalid token: no {error.claim!r} claim") from None
    except jwt.DecodeError as error:
        raise TokenRejected(f"invalid token: not a JWT ({_one_line(error)})") from None
    except jwt.InvalidTokenError as error:
        raise TokenRejected(f"invalid token: {_one_line(error)}") from None

    expires = claims["exp"]
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise TokenRejected("invalid token: its 'exp' claim is not a number")
    current = time.time() if now is None else now
    if current >= expires:
        raise TokenRejected(
            f"token expired at {_iso_utc(expires)}; "
            "issue a new one with `spacetime-panel keys token`"
        )
    scope = claims["scope"]
    for known in SCOPES:
        if scope == known:
            return known
    raise TokenRejected(f"invalid token: unknown scope {str(scope)[:40]!r}")


def _iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__
