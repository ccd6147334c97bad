"""The widget server's security rules over real HTTPS/WSS on loopback (engine with a fake SIP port)."""

from __future__ import annotations

import json
import socket
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from softphone.app import Engine
from softphone.widget import security
from softphone.widget.service import WidgetServerError, WidgetService
from tests.widget.support import make_engine

ALLOWED = "https://app.hubspot.com"
FOREIGN = "https://evil.example"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, engine: Engine, service: WidgetService) -> None:
        self.engine = engine
        self.service = service
        assert service.port is not None and service.certs is not None
        self.port = service.port
        self.base = f"https://localhost:{self.port}"
        self.ssl = ssl.create_default_context(cafile=str(service.certs.ca))
        self.token = (engine.data_dir / "widget.token").read_text().strip()

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl))

    async def get(self, path: str, headers: dict[str, str] | None = None,
                  method: str = "GET") -> tuple[int, dict[str, str], str]:
        async with self.session() as s, s.request(method, self.base + path, headers=headers or {}) as r:
            return r.status, dict(r.headers), await r.text()

    async def ws(self, *, origin: str | None, token: str | None,
                 host: str | None = None) -> tuple[int, aiohttp.ClientWebSocketResponse | None, aiohttp.ClientSession]:
        protocols = ["softphone.v1"] + ([f"auth.{token}"] if token is not None else [])
        headers = {"Origin": origin} if origin else {}
        if host:
            headers["Host"] = host
        s = self.session()
        try:
            ws = await s.ws_connect(self.base.replace("https", "wss") + "/ws", protocols=protocols, headers=headers,
                                    origin=origin)
        except aiohttp.WSServerHandshakeError as exc:
            await s.close()
            return exc.status, None, s
        return 101, ws, s


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    engine = make_engine(tmp_path, port=free_tcp_port())
    svc = WidgetService()
    await svc.start(engine)
    try:
        yield Server(engine, svc)
    finally:
        await svc.stop()
        engine.history.close()


def config_of(html: str) -> dict[str, Any]:
    start = html.index('id="softphone-config">') + len('id="softphone-config">')
    data: dict[str, Any] = json.loads(html[start:html.index("</script>", start)])
    return data


async def test_widget_page_token_only_inside_a_frame(server: Server) -> None:
    status, headers, html = await server.get("/", {"Sec-Fetch-Dest": "iframe"})
    assert status == 200
    cfg = config_of(html)
    assert cfg["token"] == server.token
    assert ALLOWED in cfg["allowedOrigins"] and f"https://localhost:{server.port}" in cfg["allowedOrigins"]
    csp = headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {ALLOWED}" in csp and "*" not in csp
    assert "script-src 'self'" in csp and "unsafe" not in csp
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    for dest in ("document", None):
        _, _, top = await server.get("/", {"Sec-Fetch-Dest": dest} if dest else {})
        assert "token" not in config_of(top) and server.token not in top
    for dest in ("empty", "script", "image"):
        status, _, body = await server.get("/", {"Sec-Fetch-Dest": dest})
        assert status == 403 and server.token not in body


async def test_no_cors_anywhere(server: Server) -> None:
    for path in ("/", "/sandbox", "/vendor/calling-extensions-sdk.js", "/widget/widget.js", "/nope"):
        _, headers, _ = await server.get(path, {"Origin": FOREIGN, "Sec-Fetch-Dest": "iframe"})
        assert not any(h.lower().startswith("access-control-") for h in headers), (path, headers)


async def test_host_header_must_be_loopback(server: Server) -> None:
    for host in (f"evil.example:{server.port}", "localhost", f"localhost:{server.port + 1}", f"10.0.0.5:{server.port}"):
        status, _, body = await server.get("/", {"Host": host, "Sec-Fetch-Dest": "iframe"})
        assert status == 421 and server.token not in body, host
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"LOCALHOST:{server.port}"):
        status, _, _ = await server.get("/", {"Host": host})
        assert status == 200, host


async def test_private_network_preflight(server: Server) -> None:
    pna = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Private-Network": "true"}
    status, headers, _ = await server.get("/", {"Origin": ALLOWED, **pna}, method="OPTIONS")
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert headers["Access-Control-Allow-Private-Network"] == "true" and headers["Vary"] == "Origin"
    status, headers, _ = await server.get("/", {"Origin": FOREIGN, **pna}, method="OPTIONS")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, _, _ = await server.get("/", {"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}, method="OPTIONS")
    assert status == 403


async def test_websocket_needs_own_origin_and_token(server: Server) -> None:
    own = f"https://localhost:{server.port}"
    cases = [(FOREIGN, server.token), (ALLOWED, server.token), (None, server.token), ("null", server.token),
             (own, None), (own, "wrong-token-" + "x" * 30), (own, server.token[:-1])]
    for origin, token in cases:
        status, ws, s = await server.ws(origin=origin, token=token)
        assert status == 403 and ws is None, (origin, token)
        await s.close()
    status, ws, s = await server.ws(origin=own, token=server.token, host=f"evil.example:{server.port}")
    assert status == 421
    await s.close()
    assert server.engine.sip.sent == []

    status, ws, s = await server.ws(origin=own, token=server.token)
    assert status == 101 and ws is not None and ws.protocol == "softphone.v1"
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello" and hello["status"]["logged_in"] is True
    await ws.send_json({"type": "ready", "sdk": {"iframeLocation": "widget"}})
    assert (await ws.receive_json(timeout=5))["method"] == "initialized"
    await ws.send_json({"type": "dial", "source": "hubspot", "req": 1, "payload": {"phoneNumber": "+14155550132"}})
    frames = [await ws.receive_json(timeout=5) for _ in range(3)]
    assert sorted(f.get("method") or f["type"] for f in frames) == ["call", "outgoingCall", "reply"]
    assert [s_[0] for s_ in server.engine.sip.sent] == ["make_call"]
    await ws.send_str("not json")
    await ws.send_json({"type": "ping", "req": 2, "t": 5})
    while True:
        f = await ws.receive_json(timeout=5)
        if f.get("type") == "reply" and f["req"] == 2:
            assert f["result"] == {"t": 5}
            break
    await ws.close()
    await s.close()


async def test_assets_and_sandbox(server: Server) -> None:
    status, headers, body = await server.get("/vendor/calling-extensions-sdk.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin" and len(body) > 10000
    assert (await server.get("/widget/index.html"))[0] == 404
    status, _, body = await server.get("/widget/../../etc/passwd")
    assert status in (404, 405) and "root:" not in body
    status, headers, body = await server.get("/sandbox")
    assert status == 200 and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and server.token not in body


async def test_demo_call_button_is_same_origin_only(server: Server) -> None:
    status, _, _ = await server.get("/sandbox/demo-call", {"Origin": FOREIGN}, method="POST")
    assert status == 403
    status, _, body = await server.get("/sandbox/demo-call", {"Origin": f"https://localhost:{server.port}"},
                                       method="POST")
    assert status == 409 and "demo line is off" in json.loads(body)["error"]["message"]


async def test_token_file_is_private_and_stable(server: Server, tmp_path: Path) -> None:
    path = server.engine.data_dir / "widget.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert security.load_or_create_token(path) == server.token
    other = security.load_or_create_token(tmp_path / "new.token")
    assert other != server.token and len(other) >= 40


async def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        engine = make_engine(tmp_path, port=blocker.getsockname()[1])
        svc = WidgetService()
        with pytest.raises(WidgetServerError, match="set \\[widget\\] port"):
            await svc.start(engine)
        engine.history.close()


async def test_disabled_widget_does_not_listen(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, port=free_tcp_port())
    engine.settings.widget.enabled = False
    svc = WidgetService()
    await svc.start(engine)
    assert svc.url is None
    await svc.stop()
    engine.history.close()
