"""Probes for the game's bridge (HTTP `GET /status`, the telemetry WebSocket's `hello`)
and for our own management API (`GET /health`).

The HTTP probes take the caller's `httpx.AsyncClient`; httpx's exceptions are
mapped here, at the boundary, to a `ServiceStatus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import replace
from typing import Any, Literal

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    WebSocketException,
)

from spacetime_panel.godot.key_policy import (
    KEY_WITHHELD,
    ApprovedHosts,
    approved_now,
    bearer_header,
    key_withheld,
)
from spacetime_panel.probes.status import (
    BRIDGE_HTTP,
    MANAGEMENT_API,
    TELEMETRY,
    Answer,
    BadAnswerError,
    ProbeError,
    ProbeTarget,
    ServiceState,
    ServiceStatus,
    elapsed_ms,
    find_owner,
    status_for_error,
)
from spacetime_panel.probes.tcp import open_socket
from spacetime_panel.probes.tls import tls_failure

WS_MAX_SIZE = 256 * 1024

Scheme = Literal["http", "https"]


def _url(host: str, port: int, path: str, scheme: str = "http") -> str:
    where = f"[{host}]" if ":" in host else host
    return f"{scheme}://{where}:{port}{path}"


async def _get(
    client: httpx.AsyncClient,
    target: ProbeTarget,
    path: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    scheme: Scheme = "http",
) -> tuple[httpx.Response, float] | ServiceStatus:
    """GET within `timeout` (whole exchange); the response and its latency, or a failure status.

    A TLS failure (an untrusted certificate, plain HTTP on an HTTPS port) is
    DEGRADED: something listens, but we cannot talk to it safely.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            response = await client.get(
                _url(target.host, target.port, path, scheme),
                headers=headers,
                timeout=httpx.Timeout(timeout),
            )
    except httpx.ConnectError as exc:
        if (tls := tls_failure(exc)) is not None:
            return target.status(ServiceState.DEGRADED, tls)
        detail = "connection refused" if _refused(exc) else f"connection failed: {exc}"
        return target.status(ServiceState.DOWN, detail)
    except httpx.ConnectTimeout as exc:
        return status_for_error(target, TimeoutError(exc), accepted=False, timeout=timeout)
    except (httpx.TimeoutException, TimeoutError) as exc:
        return status_for_error(target, TimeoutError(exc), accepted=True, timeout=timeout)
    except httpx.RemoteProtocolError as exc:
        return target.status(ServiceState.DEGRADED, f"not HTTP: {exc}")
    except httpx.TransportError as exc:
        detail = tls_failure(exc) or f"{type(exc).__name__}: {exc}"
        return target.status(ServiceState.DEGRADED, detail)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return target.status(ServiceState.DOWN, f"cannot ask {target.host}:{target.port}: {exc}")
    return response, elapsed_ms(started, time.perf_counter())


def _refused(exc: BaseException) -> bool:
    """True when a ConnectionRefusedError is among the exception's causes (anyio wraps
    it in "All connection attempts failed")."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def probe_bridge_http(
    client: httpx.AsyncClient,
    host: str,
    port: int,
    *,
    api_key: str | None = None,
    key_hosts: ApprovedHosts = (),
    timeout: float = 3.0,
    owner: bool = True,
    service: str = BRIDGE_HTTP,
    scheme: Scheme = "http",
) -> ServiceStatus:
    """The bridge's `GET /status`: UP with the bridge and Godot versions as `server`.

    `api_key` goes only to loopback or to one of `key_hosts` (key_policy); a row
    probed without it says so.
    """
    target = ProbeTarget(service, host, port)
    port_holder = await find_owner(target, owner)
    approved = approved_now(key_hosts)  # once: an approval mid-probe waits for the next
    headers = bearer_header(host, api_key, approved)
    got = await _get(client, target, "/status", timeout=timeout, headers=headers, scheme=scheme)
    status = got if isinstance(got, ServiceStatus) else _bridge_status(target, *got)
    if key_withheld(host, api_key, approved):
        refused = not isinstance(got, ServiceStatus) and got[0].status_code == 401
        status = _without_key(status, refused=refused)
    return status.with_owner(port_holder)


def _without_key(status: ServiceStatus, *, refused: bool) -> ServiceStatus:
    """The row of a host that was not sent the bridge key: it says so."""
    if refused:
        return replace(status, detail=KEY_WITHHELD)
    return replace(status, detail=f"{status.detail}; {KEY_WITHHELD}")


def _bridge_status(target: ProbeTarget, response: httpx.Response, latency: float) -> ServiceStatus:
    if response.status_code == 401:
        return target.status(ServiceState.DEGRADED, "API key refused", latency_ms=latency)
    if response.status_code != 200:
        detail = f"GET /status answered HTTP {response.status_code}"
        return target.status(ServiceState.DEGRADED, detail, latency_ms=latency)
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return target.status(ServiceState.DEGRADED, "/status is not JSON", latency_ms=latency)
    if not isinstance(body, dict):
        return target.status(
            ServiceState.DEGRADED, "/status is not a JSON object", latency_ms=latency
        )
    bridge = body.get("bridge")
    if not isinstance(bridge, dict):
        detail = "answers /status (no bridge identity)"
        return target.status(ServiceState.UP, detail, latency_ms=latency)
    version = bridge.get("version")
    godot = bridge.get("godot_version")
    parts = [f"bridge {version}" if version else None, f"Godot {godot}" if godot else None]
    server = ", ".join(p for p in parts if p) or None
    ready = "editor services ready" if body.get("overall_ready") else "editor services not ready"
    detail = f"pid {bridge.get('pid')}, {ready}"
    return target.status(ServiceState.UP, detail, latency_ms=latency, server=server)


async def probe_management_api(
    client: httpx.AsyncClient,
    host: str,
    port: int,
    *,
    path: str = "/health",
    timeout: float = 2.0,
    owner: bool = True,
    service: str = MANAGEMENT_API,
    scheme: Scheme = "http",
) -> ServiceStatus:
    """Our own API: any HTTP answer to `GET /health` is UP (503 only means Godot is unwell).

    With `scheme="https"` the client's TLS settings decide what is trusted.
    """
    target = ProbeTarget(service, host, port)
    port_holder = await find_owner(target, owner)
    got = await _get(client, target, path, timeout=timeout, scheme=scheme)
    if isinstance(got, ServiceStatus):
        status = got
    else:
        response, latency = got
        server: str | None = None
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("server"), str):
                server = body["server"]
        detail = f"GET {path} answered HTTP {response.status_code}"
        status = target.status(ServiceState.UP, detail, latency_ms=latency, server=server)
    return status.with_owner(port_holder)


async def probe_websocket(
    host: str,
    port: int,
    *,
    path: str = "/",
    api_key: str | None = None,
    key_hosts: ApprovedHosts = (),
    timeout: float = 3.0,
    owner: bool = True,
    service: str = TELEMETRY,
) -> ServiceStatus:
    """Open the telemetry WebSocket, read the first frame, expect the bridge's `hello`.

    `api_key` goes only to loopback or to one of `key_hosts` (key_policy).
    """
    target = ProbeTarget(service, host, port)
    port_holder = await find_owner(target, owner)
    approved = approved_now(key_hosts)
    headers = bearer_header(host, api_key, approved) or None
    refused = False
    started = time.perf_counter()
    accepted = False
    ws: ClientConnection | None = None
    try:
        async with asyncio.timeout(timeout):
            sock = await open_socket(host, port)
            accepted = True
            try:
                ws = await connect(
                    _url(host, port, path, "ws"),
                    sock=sock,
                    compression=None,
                    max_size=WS_MAX_SIZE,
                    open_timeout=None,
                    ping_interval=None,
                    close_timeout=1.0,
                    proxy=None,
                    additional_headers=headers,
                    user_agent_header="spacetime-panel probe",
                )
            finally:
                if ws is None and sock.fileno() != -1:
                    sock.close()
            answer = _hello_answer(await ws.recv())
        status = target.status(
            answer.state,
            answer.detail,
            latency_ms=elapsed_ms(started, answer.answered_at),
            server=answer.server,
        )
    except InvalidStatus as exc:
        refused = exc.response.status_code == 401
        status = target.status(ServiceState.DEGRADED, f"not a WebSocket server: {exc}")
    except InvalidHandshake as exc:
        status = target.status(ServiceState.DEGRADED, f"not a WebSocket server: {exc}")
    except ConnectionClosed:
        status = target.status(ServiceState.DEGRADED, "closed the connection without a hello")
    except WebSocketException as exc:
        status = target.status(ServiceState.DEGRADED, f"WebSocket error: {exc}")
    except (OSError, TimeoutError, ProbeError) as exc:
        status = status_for_error(target, exc, accepted=accepted, timeout=timeout)
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await ws.close()
    if key_withheld(host, api_key, approved):
        status = _without_key(status, refused=refused)
    return status.with_owner(port_holder)


def _hello_answer(frame: str | bytes) -> Answer:
    answered_at = time.perf_counter()
    if isinstance(frame, bytes):
        raise BadAnswerError("first frame is binary, not a JSON hello")
    try:
        message: Any = json.loads(frame)
    except ValueError:
        raise BadAnswerError("first frame is not JSON") from None
    if not isinstance(message, dict):
        raise BadAnswerError("first frame is not a JSON object")
    if message.get("event") != "hello":
        raise BadAnswerError(f"first frame is not a hello (event {message.get('event')!r})")
    data: dict[str, Any] = message["data"] if isinstance(message.get("data"), dict) else {}
    protocol, godot = data.get("protocol"), data.get("godot_version")
    parts = [str(protocol) if protocol else None, f"Godot {godot}" if godot else None]
    server = ", ".join(p for p in parts if p) or None
    rate = f" at {data['rate_hz']:g} Hz" if isinstance(data.get("rate_hz"), (int, float)) else ""
    return Answer(f"hello from pid {data.get('pid')}{rate}", answered_at, server)
