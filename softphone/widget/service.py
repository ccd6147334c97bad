"""The HubSpot widget bridge: an HTTPS + WebSocket server on loopback (default ``https://localhost:9025/``).

HubSpot shows our widget page in an iframe; the page runs the Calling Extensions SDK and talks to this engine
over an authenticated WebSocket (``/ws``). The same server offers the CRM sandbox (``/sandbox``), a page
that plays HubSpot's role with the SDK in host mode.

Threat model
============
What we protect: the rep's phone line (no call may be placed, answered or hung up by anyone but the rep and
HubSpot acting for them) and call data (who called whom).

Adversaries and how each is stopped:

- **Any other web page in the rep's browser** (evil.example, an ad frame, a compromised site). It can make
  the browser fetch loopback URLs, frame them, open them as popups, postMessage them and open WebSockets.
  * WebSocket: the upgrade needs the per-install token (offered as subprotocol ``auth.<token>``) *and* an
    ``Origin`` that is one of our own pages' origins (``https://localhost:PORT`` etc.). A page elsewhere sends
    its own Origin (browsers set it, scripts cannot) → 403, whatever token it guesses.
  * The token lives only inside the widget page's HTML. That HTML is only produced for an iframe navigation
    (``Sec-Fetch-Dest: iframe``, set by the browser); fetch/XHR/``<script>`` loads get no token, and even
    if they did, the response is cross-origin and opaque to the caller (we never send CORS headers, and
    there is no wildcard anywhere). A top-level visit (a popup) gets an explanatory page without the token,
    and ``Cross-Origin-Opener-Policy: same-origin`` severs the opener's window handle.
  * Framing: CSP ``frame-ancestors`` allows only ourselves (the sandbox) and the configured HubSpot origins,
    so a foreign page cannot even render the widget, let alone click-jack it. The sandbox itself sends
    ``frame-ancestors 'none'``.
  * postMessage: the SDK's widget side accepts its SYNC handshake from any window. The page therefore drops,
    before the SDK sees it, every message that is not from ``window.parent`` with an allowed origin, and does
    nothing at all when it is not framed.
  * The parent HubSpot origin itself cannot read the token: the iframe is cross-origin to it.
- **DNS rebinding** (evil.example resolving to 127.0.0.1): every request must carry a ``Host`` that is a
  loopback name with our port, else 421. (The certificate would not match either.)
- **Other machines on the network**: we bind 127.0.0.1 and ::1 only.
- **Other OS users on a shared machine** reach loopback too, and HubSpot's iframe carries no credential we
  could check, so a bearer token served to "the browser" is served to them as well. On Linux we look up the
  uid owning the client end of the TCP connection in ``/proc/net/tcp*`` and refuse the token page and the
  WebSocket to other users. Elsewhere, on shared machines, set ``[widget] enabled = false``.
- **Chrome's Local Network Access**: a public page (app.hubspot.com) framing localhost triggers a permission
  prompt ("app.hubspot.com wants to access devices on your local network" → Allow) and, in older versions,
  a Private Network Access preflight, which we answer (``Access-Control-Allow-Private-Network: true``) for
  allowed origins only.

Out of scope: malware running as the rep's user (it can read the data dir, the keyring and the screen).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from softphone import __version__
from softphone.errors import SoftphoneError
from softphone.hubspot import sdk
from softphone.hubspot.events import CallOutcomesKnown
from softphone.ports import EngineAPI
from softphone.widget import security
from softphone.widget.assets import WEB_DIR, vendor_stamp
from softphone.widget.certs import CertPaths, ensure_certificates, server_context
from softphone.widget.hub import Session, WidgetHub
from softphone.widget.slowloris import ConnectionGuard

log = logging.getLogger(__name__)

MAX_SESSIONS = 32
MAX_FRAME = 64 * 1024
HEADER_TIMEOUT_S = 10.0       # a connection must send a complete request (or TLS handshake) within this
CONFIG_PLACEHOLDER = "{{SOFTPHONE_CONFIG}}"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".LICENSE": "text/plain; charset=utf-8",
}


class WidgetServerError(SoftphoneError):
    code = "widget_server"


def _load_dir(root: Path, prefix: str) -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    if not root.is_dir():
        return files
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in _TYPES:
            files[f"{prefix}/{p.relative_to(root).as_posix()}"] = (p.read_bytes(), _TYPES[p.suffix])
    return files


class WidgetService:
    """The widget server, a ``softphone.ports.Service``. ``url`` is set once listening."""

    name = "widget"

    def __init__(self, web_dir: Path = WEB_DIR) -> None:
        self.web_dir = web_dir
        self.url: str | None = None
        self.port: int | None = None
        self.hub: WidgetHub | None = None
        self._unsub_outcomes: Callable[[], None] | None = None
        self.certs: CertPaths | None = None
        self._engine: EngineAPI | None = None
        self._runner: web.AppRunner | None = None
        self._token = ""
        self._sockets: set[web.WebSocketResponse] = set()
        self._static: dict[str, tuple[bytes, str]] = {}
        self._widget_html = ""
        self._sandbox_html = b""
        self._hosts: frozenset[str] = frozenset()
        self._self_origins: tuple[str, ...] = ()
        self._parents: list[str] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._conn_guard: ConnectionGuard | None = None

    # ------------------------------------------------------------------ lifecycle

    def describe(self) -> dict[str, Any]:
        return {"widget_url": self.url} if self.url else {}

    async def start(self, engine: EngineAPI) -> None:
        wcfg = engine.settings.widget
        if not wcfg.enabled:
            log.info("widget server disabled ([widget] enabled = false)")
            return
        self._engine = engine
        port = wcfg.port
        loop = asyncio.get_running_loop()
        self.certs = await loop.run_in_executor(None, ensure_certificates, engine.data_dir)
        self._token = security.load_or_create_token(engine.data_dir / "widget.token")
        self._hosts = security.allowed_hosts(port)
        self._self_origins = security.self_origins(port)
        self._parents = list(wcfg.allowed_origins)
        self._load_assets()
        self.hub = WidgetHub(engine)
        engine.provide_sdk_log(self.hub.sdk_logged)
        # the account's own call outcomes, once the CRM connection read them (the six defaults until then)
        self._unsub_outcomes = engine.bus.subscribe(CallOutcomesKnown, self._on_outcomes)
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_FRAME)
        app.router.add_get("/", self._widget_page)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/sandbox", self._sandbox_page)
        app.router.add_post("/sandbox/demo-call", self._demo_call)
        app.router.add_get("/favicon.ico", self._favicon)
        app.router.add_route("OPTIONS", "/{tail:.*}", self._preflight)
        app.router.add_get("/{tail:(widget|sandbox|vendor)/.+}", self._asset)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=75)
        await runner.setup()
        ctx = server_context(self.certs)
        assert runner.server is not None
        self._conn_guard = ConnectionGuard(runner.server, header_timeout_s=HEADER_TIMEOUT_S)
        try:
            self._servers.append(await loop.create_server(self._conn_guard, "127.0.0.1", port, ssl=ctx, backlog=64,
                                                          ssl_handshake_timeout=HEADER_TIMEOUT_S))
        except OSError as exc:
            await runner.cleanup()
            self.hub.close()
            self.hub = None
            raise WidgetServerError(
                f"The HubSpot widget cannot listen on https://localhost:{port}/ ({exc.strerror or exc}). "
                f"Another softphone, or HubSpot's demo app (npm start), may be using the port; "
                f"stop it or set [widget] port.") from None
        if socket.has_ipv6:
            try:
                self._servers.append(await loop.create_server(self._conn_guard, "::1", port, ssl=ctx, backlog=64,
                                                              ssl_handshake_timeout=HEADER_TIMEOUT_S))
            except OSError as exc:
                log.info("widget server: no IPv6 loopback (%s); 127.0.0.1 only", exc)
        self._runner = runner
        self.port = port
        self.url = f"https://localhost:{port}/"
        log.info("HubSpot widget at %s (sandbox: %ssandbox)", self.url, self.url)

    async def stop(self) -> None:
        for srv in self._servers:
            srv.close()
        self._servers.clear()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"softphone stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.hub is not None:
            self.hub.close()
            self.hub = None
        if self._engine is not None:
            self._engine.provide_sdk_log(None)
        if self._unsub_outcomes is not None:
            self._unsub_outcomes()
            self._unsub_outcomes = None

    def _on_outcomes(self, ev: CallOutcomesKnown) -> None:
        if self.hub is not None:
            self.hub.set_outcomes([{"label": label, "id": oid} for label, oid in ev.outcomes])

    def _load_assets(self) -> None:
        static: dict[str, tuple[bytes, str]] = {}
        for name in ("widget", "sandbox", "vendor"):
            static.update(_load_dir(self.web_dir / name, f"/{name}"))
        index = static.pop("/widget/index.html", None)
        sandbox = static.pop("/sandbox/index.html", None)
        if index is None or sandbox is None:
            raise WidgetServerError(f"The widget's web files are missing from {self.web_dir}; "
                                    "reinstall, or run `python -m softphone.widget.assets --sync`.")
        self._widget_html = index[0].decode("utf-8")
        self._sandbox_html = sandbox[0]
        self._static = static

    # ------------------------------------------------------------------ checks on every request

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._conn_guard is not None:
            self._conn_guard.request_seen(request.transport)
        if request.host.lower() not in self._hosts:
            log.warning("refused request for Host %r (not a loopback name for this port)", request.host[:100])
            return web.Response(status=421, text="Misdirected request\n")
        resp: web.StreamResponse = await handler(request)
        if not resp.prepared:
            for k, v in security.BASE_HEADERS.items():
                resp.headers.setdefault(k, v)
            resp.headers["Server"] = "Softphone"        # no library or version to fingerprint
        return resp

    def _peer_is_same_user(self, request: web.Request) -> bool:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if not peer or self.port is None:
            return True
        ok = security.same_user(int(peer[1]), self.port)
        if not ok:
            log.warning("refused widget access from another OS user (port %s)", peer[1])
        return ok

    # ------------------------------------------------------------------ pages

    def _config_json(self, with_token: bool) -> str:
        cfg: dict[str, Any] = {
            "framedOnly": True,
            "allowedOrigins": [*self._parents, *self._self_origins],
            "wsPath": "/ws",
            # the one list of SDK methods the engine may have the page call (hubspot/sdk.py WIDGET_METHODS)
            "sdkMethods": sorted(sdk.WIDGET_METHODS),
            "version": __version__,
            "sdkVersion": vendor_stamp(self.web_dir).get("version", ""),
        }
        if with_token:
            cfg["token"] = self._token
        text = json.dumps(cfg, separators=(",", ":"))
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    async def _widget_page(self, request: web.Request) -> web.Response:
        dest = request.headers.get("Sec-Fetch-Dest", "")
        if dest not in ("iframe", "frame", "document", ""):
            return web.Response(status=403, text="Forbidden\n")
        # Only a page loaded inside a frame ever carries the token (see the module docstring).
        with_token = dest in ("iframe", "frame") and self._peer_is_same_user(request)
        html = self._widget_html.replace(CONFIG_PLACEHOLDER, self._config_json(with_token))
        return web.Response(body=html.encode("utf-8"), content_type="text/html", charset="utf-8", headers={
            "Content-Security-Policy": security.widget_csp(request.host, self._parents),
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cache-Control": "no-store",
        })

    async def _sandbox_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._sandbox_html, content_type="text/html", charset="utf-8", headers={
            "Content-Security-Policy": security.sandbox_csp(request.host),
            "Cross-Origin-Opener-Policy": "same-origin",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        })

    async def _asset(self, request: web.Request) -> web.Response:
        item = self._static.get(request.path)
        if item is None:
            return web.Response(status=404, text="Not found\n")
        body, ctype = item
        return web.Response(body=body, headers={
            "Content-Type": ctype,
            "Cache-Control": "no-cache",
            "Cross-Origin-Resource-Policy": "same-origin",
        })

    async def _favicon(self, request: web.Request) -> web.Response:
        item = self._static.get("/widget/icon.svg")
        if item is None:
            return web.Response(status=404)
        return web.Response(body=item[0], headers={"Content-Type": item[1], "Cache-Control": "max-age=86400"})

    async def _preflight(self, request: web.Request) -> web.Response:
        """CORS preflight: only Chrome's Private/Local Network Access check, only for allowed origins."""
        origin = request.headers.get("Origin")
        pna = (request.headers.get("Access-Control-Request-Private-Network") == "true"
               or request.headers.get("Access-Control-Request-Local-Network") == "true")
        if not pna or not security.origin_allowed(origin, [*self._parents, *self._self_origins]):
            return web.Response(status=403, text="Forbidden\n")
        assert origin is not None
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET",
            "Access-Control-Allow-Private-Network": "true",
            "Access-Control-Allow-Local-Network": "true",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })

    async def _demo_call(self, request: web.Request) -> web.Response:
        """The sandbox's "call me" button: the demo line rings the rep. Same-origin pages only."""
        if not security.origin_allowed(request.headers.get("Origin"), self._self_origins):
            return web.Response(status=403, text="Forbidden\n")
        assert self._engine is not None
        try:
            self._engine.demo_call_me()
        except SoftphoneError as exc:
            return web.json_response({"ok": False, "error": {"code": exc.code, "message": exc.message}},
                                     status=409)
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ the WebSocket

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        offered = security.token_from_protocols(request.headers.get("Sec-WebSocket-Protocol"))
        if not security.origin_allowed(origin, self._self_origins):
            log.warning("refused widget WebSocket from origin %r", (origin or "")[:100])
            return web.Response(status=403, text="Forbidden\n")
        if not security.token_ok(offered, self._token):
            log.warning("refused widget WebSocket with a missing or wrong token")
            return web.Response(status=403, text="Forbidden\n")
        if not self._peer_is_same_user(request):
            return web.Response(status=403, text="Forbidden\n")
        hub = self.hub
        if hub is None:
            return web.Response(status=503, text="Stopping\n")
        if len(hub.sessions) >= MAX_SESSIONS:
            return web.Response(status=503, text="Too many widgets open\n")
        ws = web.WebSocketResponse(protocols=(security.WS_SUBPROTOCOL,), heartbeat=25.0,
                                   max_msg_size=MAX_FRAME, compress=False)
        await ws.prepare(request)
        self._sockets.add(ws)
        outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=2000)
        closing: set[asyncio.Future[Any]] = set()

        def send(frame: dict[str, Any]) -> None:
            try:
                outbox.put_nowait(json.dumps(frame, separators=(",", ":")))
            except asyncio.QueueFull:
                log.warning("widget not reading its messages; disconnecting it")
                closing.add(asyncio.ensure_future(ws.close(code=1008, message=b"too slow")))

        async def writer() -> None:
            while True:
                item = await outbox.get()
                if item is None or ws.closed:
                    return
                try:
                    await ws.send_str(item)
                except (ConnectionError, RuntimeError):
                    return

        writer_task = asyncio.ensure_future(writer())
        session: Session = hub.attach(send)
        log.info("widget %s connected", session.id)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except (ValueError, RecursionError):
                        session.send({"type": "error", "error": {"code": "bad_frame",
                                                                 "message": "The message is not valid JSON."}})
                        continue
                    await hub.handle(session, frame)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            hub.detach(session)
            self._sockets.discard(ws)
            with contextlib.suppress(asyncio.QueueFull):
                outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer_task, 2.0)
            log.info("widget %s disconnected", session.id)
        return ws
