"""`PanelClient`: the management API as an agent's tools need it (async, httpx).

It answers with the API's JSON, turns a refusal (`{"error", "message"}`) into
`PanelRefused` carrying that message, and a panel that does not answer into
`PanelUnreachable`, whose message says how to start one. Every POST sends a JSON
body (`{}` at least), as the API's cross-site guard asks.

The key goes as a bearer credential (built by `godot.key_policy.bearer_header`,
the panel's host approved since the user named it): the control key, the
read-only key or a token, or the caller's own bearer credential
(`authorization=`) when the client is built per request by a server that
forwards it.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from spacetime_panel.godot.key_policy import bearer_header, host_of

#: How to bring a panel up, for the message of a panel that does not answer.
HOW_TO_START = (
    "start one with `spacetime-panel serve --project-path PATH` "
    "(or `spacetime-panel serve --demo` for the simulated game), "
    "or run this MCP server as `spacetime-panel mcp --standalone`"
)

#: Seconds for one API call; /stop and /restart wait for Godot to stop.
DEFAULT_TIMEOUT = 60.0


class PanelError(Exception):
    """Anything that keeps the management API from answering a call; `str()` is one line."""


class PanelRefused(PanelError):
    """The API answered with an error status and its `{"error", "message"}`."""

    def __init__(self, status_code: int, error: str, message: str) -> None:
        self.status_code = status_code
        self.error = error
        self.message = message
        super().__init__(f"the panel refused ({status_code} {error}): {message}")


class PanelUnreachable(PanelError):
    """Nobody answers at the panel's address (or the answer is not the API's)."""


class PanelClient:
    """An async client of one panel's management API.

    `base_url` is `http(s)://HOST:PORT`. `key` is sent as a bearer credential;
    `authorization` (a whole header value, as a caller sent it: `Bearer X`)
    takes its place when given; a scheme other than Bearer sends no credential.
    `transport` replaces the network (an `httpx.ASGITransport` over the app in the
    same process); `verify` is httpx's (an `ssl.SSLContext` for `--ca-file`, True
    for the system's CAs).
    """

    def __init__(
        self,
        base_url: str,
        *,
        key: str | None = None,
        authorization: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        credential = key
        if authorization is not None:  # the caller's own: a bearer credential or nothing
            scheme, _, value = authorization.strip().partition(" ")
            credential = value.strip() if scheme.lower() == "bearer" else None
        # The user named this panel (or the caller is already talking to it): its host
        # is approved for the credential, and key_policy builds the header as everywhere.
        host = host_of(self.base_url)
        headers = {"Accept": "application/json", **bearer_header(host, credential, (host,))}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            verify=verify,
            timeout=timeout,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PanelClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- the API's routes -------------------------------------------------------

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the health document): 503 is an answer here, not a refusal."""
        response = await self._send("GET", "/health")
        if response.status_code in (200, 503):
            return response.status_code == 200, _json_object(response)
        raise _refusal(response)

    async def services(self) -> dict[str, Any]:
        return await self.get("/services")

    async def programs(self) -> dict[str, Any]:
        """Each program's state, from /health (which every key may read)."""
        _, document = await self.health()
        programs = document.get("programs")
        return programs if isinstance(programs, dict) else {}

    async def start(self, program: str = "all") -> dict[str, Any]:
        return await self.post("/start", {"program": program})

    async def stop(self, program: str = "all") -> dict[str, Any]:
        return await self.post("/stop", {"program": program})

    async def restart(self, program: str = "all") -> dict[str, Any]:
        return await self.post("/restart", {"program": program})

    async def scenes(self) -> dict[str, Any]:
        return await self.get("/scenes")

    async def load_scene(self, path: str) -> dict[str, Any]:
        return await self.post("/scene/load", {"path": path})

    async def reload_scene(self) -> dict[str, Any]:
        return await self.post("/scene/reload", {})

    async def logs(self, lines: int = 100) -> list[dict[str, Any]]:
        answer = await self.get("/logs", params={"lines": lines})
        found = answer.get("lines")
        return found if isinstance(found, list) else []

    async def telemetry_summary(self) -> dict[str, Any]:
        return await self.get("/telemetry/summary")

    # -- plumbing -----------------------------------------------------------------

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._send("GET", path, params=params)
        if response.is_success:
            return _json_object(response)
        raise _refusal(response)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._send("POST", path, json=body or {})
        if response.is_success:
            return _json_object(response)
        raise _refusal(response)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise PanelUnreachable(
                f"the panel at {self.base_url} did not answer {method} {path} in time"
            ) from None
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            raise PanelUnreachable(
                f"no panel answers at {self.base_url} ({reason}); {HOW_TO_START}"
            ) from None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise PanelUnreachable(
            f"{response.request.url} answered {response.status_code} without JSON: "
            "is that a SpaceTime panel's management API?"
        ) from None
    if not isinstance(body, dict):
        raise PanelUnreachable(f"{response.request.url} answered JSON that is not an object")
    return body


def _refusal(response: httpx.Response) -> PanelRefused:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return PanelRefused(response.status_code, str(body.get("error", "")), body["message"])
    return PanelRefused(
        response.status_code,
        response.reason_phrase,
        f"{response.request.method} {response.request.url.path} answered without the API's "
        "error shape: is that a SpaceTime panel's management API?",
    )
