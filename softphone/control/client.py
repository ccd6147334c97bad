"""Client of the control API (used by ``softphone ctl``, link forwarding and the desktop window)."""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from softphone.control.protocol import TOKEN_NAME, control_endpoint
from softphone.errors import ERRORS_BY_CODE, EngineNotRunning, SoftphoneError
from softphone.platform.transport import Endpoint


class _EndpointHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over the platform transport (Unix socket or loopback TCP)."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        super().__init__("softphone", timeout=timeout)
        self._endpoint = endpoint

    def connect(self) -> None:
        self.sock = self._endpoint.connect(self.timeout if isinstance(self.timeout, (int, float)) else 10.0)


class ControlClient:
    """Synchronous commands over one keep-alive connection (stdlib ``http.client``: a local RPC in well under
    a millisecond, where a general-purpose HTTP client costs several), async event stream via aiohttp."""

    def __init__(self, data_dir: Path, timeout: float = 10.0) -> None:
        self.data_dir = data_dir
        self.endpoint = control_endpoint(data_dir)
        self.socket = self.endpoint.path   # the socket (Unix) or the port file (TCP)
        self.timeout = timeout
        self._conn: _EndpointHTTPConnection | None = None
        self._auth: str | None = None

    def _token(self) -> str:
        try:
            return (self.data_dir / TOKEN_NAME).read_text().strip()
        except OSError:
            raise EngineNotRunning(self._not_running()) from None

    def _not_running(self) -> str:
        return ("The softphone is not running (no engine at "
                f"{self.socket}). Start it with `softphone run` or `softphone serve`.")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if not self.socket.exists():
            raise EngineNotRunning(self._not_running())
        if self._auth is None:
            self._auth = f"Bearer {self._token()}"
        headers = {"Authorization": self._auth, "Content-Type": "application/json"}
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = _EndpointHTTPConnection(self.endpoint, self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.close()  # engine restarted or keep-alive dropped: one fresh connection, then give up
                if attempt:
                    raise EngineNotRunning(self._not_running()) from None
        raise AssertionError("unreachable")

    def is_running(self) -> bool:
        try:
            return self._request("GET", "/v1/ping")[0] == 200
        except EngineNotRunning:
            return False

    def command(self, name: str, /, **args: Any) -> dict[str, Any]:
        """Run a command; raises the matching ``SoftphoneError`` subclass on failure."""
        status, raw = self._request("POST", f"/v1/command/{name}", json.dumps(args).encode())
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            raise SoftphoneError(f"Unexpected answer from the engine (HTTP {status}).") from None
        if not body.get("ok"):
            err = body.get("error") or {}
            cls = ERRORS_BY_CODE.get(str(err.get("code")), SoftphoneError)
            exc = cls(str(err.get("message", "Command failed.")))
            if err.get("code") and cls is SoftphoneError:
                exc.code = str(err["code"])
            raise exc
        result: dict[str, Any] = body.get("result", {})
        return result

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Yield engine events (first a ``status`` snapshot) until the engine goes away."""
        import aiohttp

        if not self.socket.exists():
            raise EngineNotRunning(self._not_running())
        try:
            conn, base = self.endpoint.aiohttp_target()
        except OSError:
            raise EngineNotRunning(self._not_running()) from None
        async with aiohttp.ClientSession(connector=conn) as session, session.ws_connect(
            f"{base}/v1/events", headers={"Authorization": f"Bearer {self._token()}"}, heartbeat=20
        ) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    yield json.loads(msg.data)
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
