"""The control API server: HTTP + WebSocket over the platform's private transport, with a bearer token.

Two locks on the door: on Linux/macOS the socket lives in the 0700 data directory with mode 0600 (other users
cannot connect); on Windows it is a loopback TCP port published in a user-only file. Every request must carry
the per-install token from ``ctl.token`` (user-only), so a process that can reach the endpoint (any local user
on a loopback port, container bind mounts, a confused sandbox) still cannot drive calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from softphone.control.protocol import TOKEN_NAME, control_endpoint, event_to_json
from softphone.errors import NoSuchCall, SoftphoneError, UnknownAccount
from softphone.platform.files import write_private

if TYPE_CHECKING:
    from softphone.ports import EngineAPI

log = logging.getLogger(__name__)


def load_or_create_token(data_dir: Path) -> str:
    path = data_dir / TOKEN_NAME
    if path.exists():
        tok = path.read_text().strip()
        if len(tok) >= 32:
            return tok
    tok = secrets.token_urlsafe(32)
    write_private(path, tok)   # user-only before the secret is in it, replaced atomically
    return tok


def _status_for(exc: SoftphoneError) -> int:
    if isinstance(exc, (NoSuchCall, UnknownAccount)) or exc.code == "unknown_command":
        return 404
    if exc.code == "forbidden":
        return 403
    return 409 if exc.code == "not_registered" else 400


class ControlServer:
    name = "control"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._ws: set[web.WebSocketResponse] = set()
        self._sends: set[asyncio.Future[None]] = set()
        self._unsub: Any = None

    def describe(self) -> dict[str, Any]:
        return {}

    async def start(self, engine: EngineAPI) -> None:
        self.engine = engine
        self.token = load_or_create_token(engine.data_dir)
        self.endpoint = control_endpoint(engine.data_dir)
        self.path = self.endpoint.path
        app = web.Application(middlewares=[self._auth], client_max_size=64 * 1024)
        app.router.add_post("/v1/command/{name}", self._command)
        app.router.add_get("/v1/events", self._events)
        app.router.add_get("/v1/ping", self._ping)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.SockSite(self._runner, self.endpoint.listen())
        await site.start()
        self._unsub = engine.bus.subscribe_all(self._broadcast)

    async def stop(self) -> None:
        if self._unsub:
            self._unsub()
        for ws in list(self._ws):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if getattr(self, "endpoint", None) is not None:
            self.endpoint.unpublish()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        got = request.headers.get("Authorization", "")
        if not hmac.compare_digest(got.encode(), f"Bearer {self.token}".encode()):
            return web.json_response({"ok": False, "error": {"code": "unauthorized",
                                                             "message": "Missing or wrong control token."}},
                                     status=401)
        resp: web.StreamResponse = await handler(request)
        return resp

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "pid": os.getpid()})

    async def _command(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            args = await request.json() if request.can_read_body else {}
        except (ValueError, RecursionError):    # not JSON, or nested beyond reason
            return web.json_response({"ok": False, "error": {"code": "bad_json", "message": "Body is not JSON."}},
                                     status=400)
        if not isinstance(args, dict):
            return web.json_response({"ok": False, "error": {"code": "bad_args",
                                                             "message": "Arguments must be a JSON object."}},
                                     status=400)
        try:
            result = await self.engine.command(name, args, surface="ctl")
        except SoftphoneError as exc:
            return web.json_response({"ok": False, "error": {"code": exc.code, "message": exc.message}},
                                     status=_status_for(exc))
        return web.json_response({"ok": True, "result": result})

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        await ws.send_json({"type": "status", "status": self.engine.status()})
        self._ws.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._ws.discard(ws)
        return ws

    def _broadcast(self, ev: object) -> None:
        data = event_to_json(ev)
        if data is None:
            return
        for ws in list(self._ws):
            if ws.closed:
                self._ws.discard(ws)
                continue
            fut = asyncio.ensure_future(self._send(ws, data))
            self._sends.add(fut)
            fut.add_done_callback(self._sends.discard)

    async def _send(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        try:
            await ws.send_json(data)
        except (ConnectionError, RuntimeError):
            self._ws.discard(ws)
