"""HTTPS for the client side: `status`, `probe http` and the management API's row.

`serve --tls-cert/--tls-key` serves HTTPS with (usually) a self-signed
certificate. A client verifies it against a CA file (`--ca-file`), or against
the system's CAs. The panel's own row for its management API trusts exactly
the certificate the API serves (`api.tls_cert`), whatever names it carries:
the panel read that file itself, so it is pinned rather than looked up.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsSetupError(Exception):
    """A CA file that cannot be used (missing, unreadable, not PEM)."""


def tls_context(ca_file: Path | None = None, *, pinned: bool = False) -> ssl.SSLContext:
    """A verifying client context: `ca_file`'s certificates, or the system's CAs.

    `pinned` trusts the certificate(s) in `ca_file` as they are (a leaf is
    enough, no name check): for our own API, whose certificate we read.
    Raises TlsSetupError with a one-line reason.
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise TlsSetupError(f"cannot use {ca_file} as a CA file: {reason}") from None
    if pinned and ca_file is not None:
        context.check_hostname = False
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def tls_failure(exc: BaseException) -> str | None:
    """A one-line TLS reason when `exc` was caused by one (else None).

    `certificate verify failed: ...` for an untrusted certificate, `TLS
    handshake failed: ...` for the rest (such as plain HTTP on the port).
    """
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            why = seen.verify_message or seen.reason or str(seen)
            return f"certificate verify failed: {why}"
        if isinstance(seen, ssl.SSLError):
            return f"TLS handshake failed: {seen.reason or seen}"
        seen = seen.__cause__ or seen.__context__
    return None
