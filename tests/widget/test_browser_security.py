"""A foreign-origin page must not be able to drive the bridge or learn anything from it (issue 7, Security).

Each attack runs in real Chromium against a real engine whose account points at a sipp UAS; the proof is that sipp
saw zero INVITEs, the engine's history stays empty and the attacker's page ends with nothing (no token, no data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.peers import Sipp, wait_for
from tests.widget.browser import HostPage, HostServer, poll
from tests.widget.conftest import WidgetEngine, trunk

pytestmark = pytest.mark.integration

Engine = Callable[..., WidgetEngine]
SippF = Callable[..., Sipp]


def nothing_dialled(eng: WidgetEngine, peer: Sipp) -> None:
    assert peer.invites() == 0
    assert eng.ctl("history")["calls"] == []
    assert eng.status()["calls"] == []


def evil_page(context: Any, server: HostServer, eng: WidgetEngine) -> Any:
    page = context.new_page()
    page.goto(f"{server.evil_origin}/evil.html?widget={eng.widget_url}")
    return page


def test_foreign_host_cannot_frame_the_widget(engine: Engine, sipp: SippF, context: Any,
                                              host_server: HostServer) -> None:
    """The real SDK host on a non-allowed origin: CSP frame-ancestors stops the widget from rendering at all."""
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(f"{host_server.evil_origin}/host.html?widget={eng.widget_url}")
    wait_for(lambda: blocked, 10, what="CSP frame-ancestors violation in the console")
    page.evaluate("crm.dial(crm.recordById(501), crm.recordById(501).phones[0])")
    page.evaluate("new Promise(r => setTimeout(r, 1500))")
    assert page.evaluate("crm.widget.synced") is False and page.evaluate("crm.widget.initialized") is False
    assert page.evaluate("crm.messages.filter(m => m.dir === 'in').length") == 0
    assert not any(f.url.startswith(eng.widget_url) and f.evaluate("!!window.__softphone") for f in page.frames
                   if f is not page.main_frame and not f.url.startswith("chrome-error"))
    nothing_dialled(eng, peer)


def test_postmessage_into_a_framed_widget_from_a_sibling_frame(engine: Engine, sipp: SippF, context: Any,
                                                               host_server: HostServer) -> None:
    """Inside an allowed HubSpot page, a third-party frame (an ad) posts SDK messages at our widget: dropped."""
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    hp = HostPage(context.new_page(), host_server.host_origin, eng.widget_url)
    hp.js("(src) => new Promise(r => { const f = document.createElement('iframe'); f.id = 'ad'; f.src = src; "
          "f.onload = () => r(true); document.body.appendChild(f); })",
          f"{host_server.evil_origin}/evil.html?widget={eng.widget_url}")
    ad = poll(lambda: next((f for f in hp.page.frames if f.url.startswith(host_server.evil_origin)), None), 5,
              "the ad frame")
    ad.evaluate("window.spam(window.parent.frames[0])")
    poll(lambda: hp.widget("window.__softphone.blocked") >= 10, 5, "messages dropped by the widget's gate")
    hp.js("new Promise(r => setTimeout(r, 800))")
    assert hp.received("OUTGOING_CALL_STARTED") == []
    nothing_dialled(eng, peer)
    hp.dial(501)                                          # the real parent still works
    hp.wait_received("CALL_ANSWERED")
    assert peer.invites() == 1


def test_popup_and_postmessage(engine: Engine, sipp: SippF, context: Any, host_server: HostServer) -> None:
    """window.open + postMessage: COOP severs the handle; the top-level page has no token and does nothing."""
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    page = evil_page(context, host_server, eng)
    with context.expect_page() as popup_info:
        assert page.evaluate("window.popup()") == {"opened": True}
    popup = popup_info.value
    popup.wait_for_load_state()
    status = page.evaluate("window.spamPopup()")
    assert status == {"alive": False}                     # Cross-Origin-Opener-Policy: no window handle left
    assert popup.evaluate("document.getElementById('app').dataset.view") == "landing"
    assert "token" not in popup.evaluate("document.getElementById('softphone-config').textContent")
    assert popup.evaluate("window.__softphone.view") == "landing"
    page.evaluate("new Promise(r => setTimeout(r, 800))")
    nothing_dialled(eng, peer)


def test_direct_websocket_and_fetch_learn_nothing(engine: Engine, sipp: SippF, context: Any,
                                                  host_server: HostServer) -> None:
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    token = (eng.data_dir / "widget.token").read_text().strip()
    page = evil_page(context, host_server, eng)
    for guess in ("guess", token):                        # even the right token is refused from a foreign Origin
        result = page.evaluate("(t) => window.tryWebSocket(t)", guess)
        assert result["opened"] is False and result["got"] == [], result
    leaked = page.evaluate("window.tryFetch()")
    assert leaked["cors"].startswith("blocked")
    assert leaked["noCorsType"] == "opaque" and leaked["noCors"] == ""
    nothing_dialled(eng, peer)


def test_dns_rebinding_gets_nothing(engine: Engine, sipp: SippF, browser: Any) -> None:
    """rebind.test resolves to 127.0.0.1 (host-resolver rule). Even with certificate errors clicked through,
    the Host check answers 421 and no token or page is served."""
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    ctx = browser.new_context(ignore_https_errors=True)
    try:
        page = ctx.new_page()
        resp = page.goto(f"https://rebind.test:{eng.widget_port}/")
        assert resp is not None and resp.status == 421
        assert "Misdirected" in page.content() and "softphone-config" not in page.content()
        ws = page.evaluate("""(port) => new Promise((resolve) => {
            const ws = new WebSocket(`wss://rebind.test:${port}/ws`, ["softphone.v1", "auth.x"]);
            ws.onopen = () => resolve("open"); ws.onerror = () => resolve("refused"); })""", eng.widget_port)
        assert ws == "refused"
        for path in ("/sandbox", "/vendor/calling-extensions-sdk.js"):
            r = page.goto(f"https://rebind.test:{eng.widget_port}{path}")
            assert r is not None and r.status == 421
    finally:
        ctx.close()
    nothing_dialled(eng, peer)
