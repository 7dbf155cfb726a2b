"""schemathesis hooks for tests/fuzz/api_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

One answer that schemathesis does not expect is by design: a POST to a route
that only has GET, sent without `Content-Type: application/json`, is refused
with 415 by the cross-site guard, which runs before routing (every POST needs
that type, so that no web page can send one without a preflight). The same
POST with the JSON type gets 405 and `Allow`; tests/integration/test_api_errors.py
checks both.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """False (drop it) only for that 415 to a POST without a JSON content type."""
    # By name: the class has moved between schemathesis 4 releases.
    if type(failure).__name__ != "UnsupportedMethodResponse":
        return True
    sent = response.request.headers.get("content-type", "")
    designed = (
        getattr(failure, "method", None) == "POST"
        and getattr(failure, "status_code", None) == 415
        and not sent.lower().startswith("application/json")
    )
    return not designed
