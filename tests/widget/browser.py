"""Browser-side test harness: a "HubSpot" host page on another origin, attacker pages, and Chromium.

Origins in play (all loopback, all HTTPS with the local CA trusted through an NSS db in a private $HOME):
  https://localhost:WIDGET_PORT   the engine's widget server (one engine per test)
  https://127.0.0.1:HOST_PORT     plays app.hubspot.com: the SDK in host mode (ui/sandbox/host.js), allowed origin
  https://127.0.0.1:EVIL_PORT     a foreign page: not in the allowlist
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from softphone.widget.assets import WEB_DIR
from softphone.widget.certs import CertPaths

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--host-resolver-rules=MAP rebind.test 127.0.0.1"]

RECORDS = [
    {"objectId": 501, "objectTypeId": "0-1", "type": "CONTACT", "firstName": "Maya", "lastName": "Chen",
     "email": "maya@northwind.example", "company": "Northwind Traders",
     "phones": [{"label": "mobilephone", "number": "+1 415 555 0132"}]},
    {"objectId": 508, "objectTypeId": "0-1", "type": "CONTACT", "firstName": "Dana", "lastName": "Demo",
     "email": "dana@demo.invalid", "company": "Softphone demo line",
     "phones": [{"label": "phone", "number": "sip:demo@demo.invalid"}]},
    {"objectId": 601, "objectTypeId": "0-2", "type": "COMPANY", "name": "Northwind Traders",
     "phones": [{"label": "phone", "number": "+1 415 555 0100"}]},
]

HOST_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>HubSpot (test host)</title>
<style>body{margin:0;font-family:sans-serif;background:#f4f6f9} #widget-host iframe{border:0;display:block}
#widget-host{width:400px;background:#fff;margin:16px;box-shadow:0 10px 30px rgba(0,0,0,.1);border-radius:12px;
overflow:hidden}</style>
<script src="/vendor/calling-extensions-sdk.js"></script><script src="/sandbox/host.js"></script></head>
<body><div id="widget-host"></div><script>
const q = new URLSearchParams(location.search);
window.crm = new CrmHost({
  src: q.get("widget"), hostElementSelector: "#widget-host", width: "400", height: "600",
  records: q.get("records") === "none" ? [] : RECORDS_JSON,
  sync: {portalId: 123456, userId: 42, ownerId: 7, iframeLocation: q.get("loc") || "widget",
         usesCallingWindow: q.get("cw") === "1"},
  createEngagements: q.get("engagements") !== "off",
  holdSync: q.get("hold") === "1", engagementDelayMs: Number(q.get("engagement_delay_ms") || 0),
  failUpdates: Number(q.get("fail_updates") || 0), failFinalizes: Number(q.get("fail_finalizes") || 0),
});
</script></body></html>"""

EVIL_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>evil</title></head><body>
<div id="out"></div><script>
const q = new URLSearchParams(location.search);
const target = q.get("widget");
window.results = {};
window.frameWidget = () => new Promise((resolve) => {
  const f = document.createElement("iframe");
  f.src = target; f.width = 400; f.height = 300; f.id = "victim";
  f.onload = () => resolve(true);
  document.body.appendChild(f);
});
window.spam = (win) => {
  const dial = {type: "DIAL_NUMBER", messageId: "1_1", data: {phoneNumber: "+14155550199", countryCode: "US"}};
  const sync = {type: "SYNC", messageId: "1_0", hostUrl: location.origin, portalId: 1, iframeLocation: "widget"};
  for (let i = 0; i < 5; i++) { try { win.postMessage(sync, "*"); win.postMessage(dial, "*"); } catch (e) {} }
};
window.spamFrame = () => window.spam(document.getElementById("victim").contentWindow);
window.popup = () => { window.pop = window.open(target, "victim", "width=400,height=400");
  return {opened: !!window.pop}; };
window.spamPopup = () => { const alive = !!window.pop && !window.pop.closed; if (window.pop) window.spam(window.pop);
  return {alive}; };
window.tryWebSocket = (token) => new Promise((resolve) => {
  const wsUrl = target.replace("https://", "wss://").replace(/\\/$/, "") + "/ws";
  let ws;
  try { ws = new WebSocket(wsUrl, ["softphone.v1", "auth." + token]); }
  catch (e) { resolve({error: String(e)}); return; }
  const got = [];
  ws.onmessage = (m) => got.push(m.data);
  ws.onopen = () => { ws.send(JSON.stringify({type: "dial", source: "widget", number: "+14155550199", req: 1}));
    setTimeout(() => resolve({opened: true, got}), 500); };
  ws.onerror = () => resolve({opened: false, got});
});
window.tryFetch = async () => {
  const out = {};
  try { const r = await fetch(target, {mode: "cors"}); out.cors = await r.text(); }
  catch (e) { out.cors = "blocked: " + e.name; }
  try { const r = await fetch(target, {mode: "no-cors"}); out.noCorsType = r.type; out.noCors = await r.text(); }
  catch (e) { out.noCors = "blocked: " + e.name; }
  return out;
};
</script></body></html>"""


def poll(fn: Callable[[], Any], timeout: float = 10.0, what: str = "condition", interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class HostServer:
    """Serves the host and attacker pages on two HTTPS ports from a background thread."""

    def __init__(self, certs: CertPaths, host_port: int, evil_port: int) -> None:
        self.certs = certs
        self.host_port = host_port
        self.evil_port = evil_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def host_origin(self) -> str:
        return f"https://127.0.0.1:{self.host_port}"

    @property
    def evil_origin(self) -> str:
        return f"https://127.0.0.1:{self.evil_port}"

    def _app(self) -> web.Application:
        import json

        host_html = HOST_HTML.replace("RECORDS_JSON", json.dumps(RECORDS))

        async def page(request: web.Request) -> web.Response:
            return web.Response(text=host_html, content_type="text/html")

        async def evil(request: web.Request) -> web.Response:
            return web.Response(text=EVIL_HTML, content_type="text/html")

        async def static(request: web.Request) -> web.Response:
            rel = request.match_info["path"]
            path = (WEB_DIR / rel).resolve()
            if WEB_DIR not in path.parents or not path.is_file():
                return web.Response(status=404)
            return web.Response(body=path.read_bytes(), content_type="text/javascript")

        app = web.Application()
        app.router.add_get("/host.html", page)
        app.router.add_get("/evil.html", evil)
        app.router.add_get("/{path:(vendor|sandbox)/.+\\.js}", static)
        return app

    def start(self) -> HostServer:
        self._thread.start()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.certs.leaf), str(self.certs.leaf_key))

        async def up() -> None:
            runner = web.AppRunner(self._app(), access_log=None)
            await runner.setup()
            for port in (self.host_port, self.evil_port):
                await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
            self._runner = runner

        asyncio.run_coroutine_threadsafe(up(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def trusting_home(home: Path, certs: CertPaths) -> Path:
    """A $HOME whose NSS db trusts our CA: what `softphone cert install` does for the rep's Chromium."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    if shutil.which("certutil") is None:
        raise RuntimeError("certutil (libnss3-tools) is needed for the browser tests")
    subprocess.run(["certutil", "-d", f"sql:{db}", "-N", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "softphone-test-ca", "-i",
                    str(certs.ca)], check=True, capture_output=True)
    return home


class HostPage:
    """One "HubSpot tab": the host page with our widget iframed in it."""

    def __init__(self, page: Any, host_origin: str, widget_url: str, **params: str) -> None:
        self.page = page
        self.widget_url = widget_url
        query = "&".join(f"{k}={v}" for k, v in {"widget": widget_url, **params}.items())
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(f"{host_origin}/host.html?{query}")
        if params.get("hold") != "1":            # hold=1: HubSpot's SYNC waits for crm.releaseSync()
            self.wait("crm.widget.initialized", what="INITIALIZED from the widget")

    def js(self, expr: str, arg: Any = None) -> Any:
        return self.page.evaluate(expr, arg) if arg is not None else self.page.evaluate(expr)

    def wait(self, expr: str, timeout: float = 10.0, what: str | None = None) -> Any:
        return poll(lambda: self.js(expr), timeout, what or expr)

    @property
    def frame(self) -> Any:
        return next(f for f in self.page.frames if f.url.startswith(self.widget_url))

    def widget(self, expr: str) -> Any:
        return self.frame.evaluate(expr)

    def view(self) -> str:
        return str(self.widget("document.getElementById('app').dataset.view"))

    def wait_view(self, view: str, timeout: float = 10.0) -> None:
        poll(lambda: self.view() == view, timeout, f"widget view {view} (now {self.view()})")

    def received(self, type_: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.js(f"crm.received({type_!r}).map(m => m.data)")
        return out

    def wait_received(self, type_: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        try:
            return poll(lambda: (lambda r: r if len(r) >= count else None)(self.received(type_)), timeout,
                        f"{count}× {type_} at the host")  # type: ignore[no-any-return]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """What the host got and what the widget did last: for a failure that does not reproduce."""
        lines = [f"host received: {self.types_in()}"]
        try:
            lines.append("widget: " + str(self.widget(
                "JSON.stringify({view: window.__softphone.view, session: window.__softphone.session, "
                "problem: window.__softphone.problem, framesIn: window.__softphone.framesIn, "
                "sdk: window.__softphone.sdkCalls.slice(-6).map(c => c.method), "
                "clicks: (window.__harnessClicks || []).slice(-4).map(t => t.id || t.tagName)})")))
        except Exception as exc:        # the widget frame may be gone: that is a finding too
            lines.append(f"widget: not readable ({exc})")
        return "\n".join(lines)

    def sent(self, type_: str) -> list[dict[str, Any]]:
        """What the host (HubSpot's role) sent to the widget."""
        out: list[dict[str, Any]] = self.js(
            f"crm.messages.filter(m => m.dir === 'out' && m.type === {type_!r}).map(m => m.data)")
        return out

    def types_in(self) -> list[str]:
        out: list[str] = self.js("crm.messages.filter(m => m.dir === 'in').map(m => m.type)")
        return out

    def dial(self, record_id: int = 501, number: str | None = None, **extra: Any) -> dict[str, Any]:
        arg = {"id": record_id, "number": number, "extra": extra}
        out: dict[str, Any] = self.js(
            "(a) => { const r = crm.recordById(a.id); const p = a.number ? {label: 'phone', number: a.number} "
            ": r.phones[0]; return crm.dial(r, p, a.extra); }", arg)
        return out

    # A capturing listener the harness adds to the widget page: which element each click reached.
    _CLICKS_JS = """() => {
        if (!window.__harnessClicks) {
            window.__harnessClicks = [];
            document.addEventListener("click", (e) => window.__harnessClicks.push(e.target), true);
        }
        return window.__harnessClicks.length;
    }"""

    def click(self, selector: str) -> None:
        """A real mouse click on the widget element. Chromium routes input to the cross-origin (out-of-process)
        iframe through a transform it updates asynchronously (after a screenshot, a reload or a resize of the
        frame), so a click can land on another spot of the page; what the widget does then is not what this
        click asked. The click is confirmed from inside the widget, and a misplaced one is said and redone once
        after the input routing is refreshed (as a rep would click again)."""
        locator = self.page.frame_locator("#hubspot-calling-extension-iframe").locator(selector)
        for attempt in (1, 2):
            before = int(self.frame.evaluate(self._CLICKS_JS))
            locator.click()
            hit = self._click_reached(selector, before)
            if hit is None:
                return
            if attempt == 1:
                print(f"harness: the click on {selector} reached {hit} instead; refreshing the frame's input "
                      "routing and clicking again")
                self._refresh_input_routing()
        raise AssertionError(f"a click on {selector} did not reach it in the widget (it reached {hit})")

    def _click_reached(self, selector: str, before: int) -> str | None:
        """None if a click after ``before`` reached ``selector``, else what it reached ('nothing' if none)."""
        js = """([sel, before]) => {
            const el = document.querySelector(sel);
            const got = (window.__harnessClicks || []).slice(before);
            if (el && got.some((t) => el.contains(t))) return null;
            const t = got[got.length - 1];
            return t ? (t.id ? "#" + t.id : t.tagName.toLowerCase()) : "nothing";
        }"""
        deadline = time.monotonic() + 1.0
        while True:
            hit: str | None = self.frame.evaluate(js, [selector, before])
            if hit is None or time.monotonic() > deadline:
                return hit
            time.sleep(0.05)

    def _refresh_input_routing(self) -> None:
        size = self.page.viewport_size
        if size is not None:
            self.page.set_viewport_size({"width": size["width"] + 1, "height": size["height"]})
            self.page.set_viewport_size(size)

    def fill(self, selector: str, text: str) -> None:
        self.page.frame_locator("#hubspot-calling-extension-iframe").locator(selector).fill(text)

    def engagements(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.js("JSON.parse(JSON.stringify(crm.engagements))")
        return out

    def screenshot(self, path: Path) -> None:
        """The widget panel at device resolution. Such a screenshot leaves Chromium's out-of-process
        (cross-origin) iframe with stale input coordinates; nudging the viewport afterwards restores them."""
        path.parent.mkdir(parents=True, exist_ok=True)
        box = self.page.locator("#widget-host").bounding_box()
        assert box is not None
        self.page.screenshot(path=str(path), clip=box)
        self._refresh_input_routing()
