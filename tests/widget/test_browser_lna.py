"""Chrome's Local Network Access: HubSpot (a public site) framing https://localhost needs the rep's permission.

Chromium is told to treat the host page's address as public (``--ip-address-space-overrides``), like
app.hubspot.com. Without the permission the frame is blocked (the rep sees Chrome's prompt: "app.hubspot.com
wants to look for and connect to any device on your local network" → Allow); with it, the widget works as usual.
Older Chrome versions sent a Private Network Access preflight instead; the server answers it for allowed origins
only (tests/widget/test_server.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from softphone.widget.certs import CertPaths
from tests.peers import Sipp, wait_for
from tests.widget.browser import CHROMIUM, CHROMIUM_ARGS, HostPage, HostServer, trusting_home
from tests.widget.conftest import WidgetEngine, _needs, trunk

pytestmark = pytest.mark.integration


def test_public_hubspot_page_needs_local_network_permission(engine: Callable[..., WidgetEngine],
                                                            sipp: Callable[..., Sipp], host_server: HostServer,
                                                            pki: CertPaths, tmp_path: Path) -> None:
    _needs(CHROMIUM)
    from playwright.sync_api import sync_playwright

    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    home = trusting_home(tmp_path / "home", pki)
    public = f"--ip-address-space-overrides=127.0.0.1:{host_server.host_port}=public"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, public],
                                    env={**os.environ, "HOME": str(home)})
        try:
            denied = browser.new_context()
            page = denied.new_page()
            page.goto(f"{host_server.host_origin}/host.html?widget={eng.widget_url}")
            wait_for(lambda: any(f.url.startswith("chrome-error") for f in page.frames), 10,
                     what="the frame to be blocked without the permission")
            assert page.evaluate("crm.widget.synced") is False
            denied.close()

            allowed: Any = browser.new_context(permissions=["local-network-access"])
            hp = HostPage(allowed.new_page(), host_server.host_origin, eng.widget_url)
            hp.dial(501)
            hp.wait_received("CALL_ANSWERED")
            assert peer.invites() == 1
            allowed.close()
        finally:
            browser.close()
