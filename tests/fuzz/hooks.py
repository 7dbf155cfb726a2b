"""schemathesis hooks for tests/fuzz/api_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

One answer that schemathesis does not expect is by design: a POST to a route
that only has GET, sent without `Content-Type: application/json`, is refused
with 415 by the cross-site guard, which runs before routing (every POST needs
that type, so that no web page can send one without a preflight). The same
POST with the JSON type gets 405 and `Allow`; tests/integration/test_api_errors.py
checks both.

The other: a scene path's names are limited to 255 bytes and the whole path to
1024 bytes of UTF-8. JSON Schema counts characters (`maxLength`) and cannot say
bytes per name, so a path the document allows can still be refused with a 400
that says so. Only that refusal of /scene/load is dropped.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """False (drop it) only for the two answers by design described above."""
    # By name: the classes have moved between schemathesis 4 releases.
    if type(failure).__name__ == "RejectedPositiveData":
        return not _scene_path_over_the_byte_limits(case, response)
    if type(failure).__name__ != "UnsupportedMethodResponse":
        return True
    sent = response.request.headers.get("content-type", "")
    designed = (
        getattr(failure, "method", None) == "POST"
        and getattr(failure, "status_code", None) == 415
        and not sent.lower().startswith("application/json")
    )
    return not designed


def _scene_path_over_the_byte_limits(case: Any, response: Any) -> bool:
    if getattr(case, "path", None) != "/scene/load" or response.status_code != 400:
        return False
    body = case.body if isinstance(case.body, dict) else {}
    path = body.get("path")
    if not isinstance(path, str):
        return False
    encoded = path.encode("utf-8", "surrogatepass")
    names = path[len("res://") :].split("/")
    too_long_name = any(len(name.encode("utf-8", "surrogatepass")) > 255 for name in names)
    return len(encoded) > 1024 or too_long_name
