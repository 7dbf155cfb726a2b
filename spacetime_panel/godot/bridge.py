"""Client of the game's bridge HTTP API (GodotBridge), DESIGN.md "The bridge protocol".

The `httpx.AsyncClient` comes from the caller, so tests and the panel decide
the transport and the pool. httpx's exceptions stop here; callers see:

    BridgeError                 anything that went wrong talking to the bridge
    ├── BridgeUnreachable       no answer (refused, timed out, connection dropped)
    └── BridgeRefused           an answer with an error status (401, 404, 500, ...)
        └── SceneRefused        the game's verdict on what the user asked of a scene
                                route: a bad or missing scene path (400, 404 from
                                /scene/load), nothing to reload (409 from /scene/reload)

The management API answers a SceneRefused with the same status (the user can
fix it) and any other BridgeRefused with 502 (the game failed or refused us).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from spacetime_panel.godot.key_policy import ApprovedHosts, bearer_header, host_of


class BridgeError(Exception):
    """Talking to the bridge failed."""


class BridgeUnreachable(BridgeError):
    """The bridge did not answer."""


class BridgeRefused(BridgeError):
    """The bridge answered with an error status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"bridge answered {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class SceneRefused(BridgeRefused):
    """The game refused a scene request for a reason the user can fix (400, 404, 409)."""


#: The answers of the scene routes that are about the request, not about the bridge.
SCENE_VERDICTS: dict[str, frozenset[int]] = {
    "/scene/load": frozenset({400, 404}),
    "/scene/reload": frozenset({409}),
}


class BridgeClient:
    """Calls one bridge at `base_url` (e.g. http://127.0.0.1:8080).

    `api_key` is sent only when `base_url` is loopback or its host is one of
    `key_hosts` (read at each request, so an approval counts at once).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        *,
        api_key: str | None = None,
        key_hosts: ApprovedHosts = (),
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._key_hosts = key_hosts
        self._host = host_of(self.base_url)
        self._timeout = timeout
        #: Called after every request with (seconds, answered without error): for metrics.
        self.observer: Callable[[float, bool], None] | None = None

    async def status(self) -> dict[str, Any]:
        return await self._request("GET", "/status")

    async def scene(self) -> dict[str, Any]:
        return await self._request("GET", "/scene")

    async def player(self) -> dict[str, Any]:
        return await self._request("GET", "/player")

    async def load_scene(self, path: str) -> dict[str, Any]:
        return await self._request("POST", "/scene/load", json={"path": path})

    async def reload_scene(self) -> dict[str, Any]:
        # An empty JSON object: every POST carries Content-Type: application/json (else 415).
        return await self._request("POST", "/scene/reload", json={})

    async def _request(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            response = await self._client.request(
                method,
                self.base_url + path,
                json=json,
                headers=bearer_header(self._host, self._api_key, self._key_hosts),
                timeout=self._timeout,
            )
        except httpx.TransportError as error:
            self._observe(started, ok=False)
            raise BridgeUnreachable(
                f"{self.base_url}{path}: {type(error).__name__} {error}".strip()
            ) from error
        self._observe(started, ok=not response.is_error)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            message = response.text
            if isinstance(body, dict):
                message = str(body.get("message") or body.get("error") or message)
            message = _one_line(message) or response.reason_phrase or "no message"
            if response.status_code in SCENE_VERDICTS.get(path, ()):
                raise SceneRefused(response.status_code, message)
            raise BridgeRefused(response.status_code, message)
        if not isinstance(body, dict):
            raise BridgeError(f"{self.base_url}{path}: answer is not a JSON object")
        return body

    def _observe(self, started: float, *, ok: bool) -> None:
        if self.observer is not None:
            self.observer(time.perf_counter() - started, ok)


#: The most of the game's own message that is passed on (the rest is cut with "...").
MESSAGE_LIMIT = 300


def _one_line(text: str) -> str:
    """The game's message as one bounded line: whitespace runs (newlines too) become a space."""
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3] + "..."


async def find_bridge(
    client: httpx.AsyncClient,
    ports: Sequence[int],
    pids: set[int],
    *,
    host: str = "127.0.0.1",
    api_key: str | None = None,
    key_hosts: ApprovedHosts = (),
    timeout: float = 2.0,
) -> tuple[BridgeClient, dict[str, Any]] | None:
    """The bridge of one of `pids` among `ports` (the configured port, then the fallbacks).

    The pid check matters: another game may hold 8080, and its bridge must
    not be mistaken for ours.
    """
    for port in ports:
        where = f"[{host}]" if ":" in host else host
        bridge = BridgeClient(
            client,
            f"http://{where}:{port}",
            api_key=api_key,
            key_hosts=key_hosts,
            timeout=timeout,
        )
        try:
            status = await bridge.status()
        except BridgeError:
            continue
        info = status.get("bridge")
        if isinstance(info, dict) and info.get("pid") in pids:
            return bridge, status
    return None
