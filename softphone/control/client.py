"""Client of the control API (used by ``softphone ctl``, link forwarding and the desktop window)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from softphone.control.protocol import SOCKET_NAME, TOKEN_NAME
from softphone.errors import ERRORS_BY_CODE, EngineNotRunning, SoftphoneError


class ControlClient:
    def __init__(self, data_dir: Path, timeout: float = 10.0) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / SOCKET_NAME
        self.timeout = timeout
        self._http: httpx.Client | None = None

    def _token(self) -> str:
        try:
            return (self.data_dir / TOKEN_NAME).read_text().strip()
        except OSError:
            raise EngineNotRunning(self._not_running()) from None

    def _not_running(self) -> str:
        return ("The softphone is not running (no engine at "
                f"{self.socket}). Start it with `softphone run` or `softphone serve`.")

    def _client(self) -> httpx.Client:
        """One keep-alive client per ControlClient: building an httpx client costs tens of ms (TLS context),
        which would dominate the dial latency of every command."""
        if not self.socket.exists():
            raise EngineNotRunning(self._not_running())
        if self._http is None:
            # plain HTTP over a Unix socket: no TLS, so no CA bundle to load
            transport = httpx.HTTPTransport(uds=str(self.socket), verify=False)
            self._http = httpx.Client(transport=transport, base_url="http://softphone", verify=False,  # noqa: S501
                                      headers={"Authorization": f"Bearer {self._token()}"}, timeout=self.timeout)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def is_running(self) -> bool:
        try:
            return self._client().get("/v1/ping").status_code == 200
        except (EngineNotRunning, httpx.HTTPError):
            self.close()
            return False

    def command(self, name: str, /, **args: Any) -> dict[str, Any]:
        """Run a command; raises the matching ``SoftphoneError`` subclass on failure."""
        try:
            r = self._client().post(f"/v1/command/{name}", json=args)
        except httpx.TransportError:
            self.close()
            raise EngineNotRunning(self._not_running()) from None
        try:
            body = r.json()
        except json.JSONDecodeError:
            raise SoftphoneError(f"Unexpected answer from the engine (HTTP {r.status_code}).") from None
        if not body.get("ok"):
            err = body.get("error") or {}
            cls = ERRORS_BY_CODE.get(str(err.get("code")), SoftphoneError)
            raise cls(str(err.get("message", "Command failed.")))
        result: dict[str, Any] = body.get("result", {})
        return result

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Yield engine events (first a ``status`` snapshot) until the engine goes away."""
        import aiohttp

        if not self.socket.exists():
            raise EngineNotRunning(self._not_running())
        conn = aiohttp.UnixConnector(path=str(self.socket))
        async with aiohttp.ClientSession(connector=conn) as session, session.ws_connect(
            "http://softphone/v1/events", headers={"Authorization": f"Bearer {self._token()}"}, heartbeat=20
        ) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    yield json.loads(msg.data)
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
