"""The CRM sandbox (https://localhost:PORT/sandbox): the newcomer's first run. No configuration at all: the built-in
demo line answers any number, rings the rep on request, and the timeline shows each engagement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.peers import wait_for
from tests.widget.browser import poll
from tests.widget.conftest import SCREENSHOTS, WidgetEngine

pytestmark = pytest.mark.integration


def test_sandbox_first_run(engine: Callable[..., WidgetEngine], browser: Any) -> None:
    eng = engine(demo="auto")
    ctx = browser.new_context(viewport={"width": 1400, "height": 860})
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(eng.widget_url + "sandbox")

        def host(expr: str) -> Any:
            return page.evaluate(expr)

        poll(lambda: host("sandboxHost.widget.initialized"), 10, "the widget to initialize in the sandbox")
        assert page.locator("#widget-status .text").text_content() == "Softphone ready"
        widget = page.frame_locator("#hubspot-calling-extension-iframe")

        # click-to-call a contact: the demo line answers
        page.locator("li.record[data-object-id='501'] .call-icon").click()
        poll(lambda: host("sandboxHost.engagements.length === 1 && sandboxHost.engagements[0].status === 'IN_PROGRESS'"),
             10, "the demo line to answer")
        wait_for(lambda: page.locator(".eng .pill.live").count() == 1, 5, what="live engagement on the timeline")
        page.wait_for_timeout(1200)
        page.screenshot(path=str(SCREENSHOTS / "sandbox-in-call.png"))
        widget.locator("#hangup").click()
        widget.locator("#notes").fill("Interested in the annual plan. Follow up with pricing on Thursday.")
        widget.locator(".chip", has_text="Connected").click()
        widget.locator("#save").click()
        poll(lambda: host("sandboxHost.engagements[0].completed"), 5, "callCompleted")
        card = page.locator(".eng").first
        assert "Interested in the annual plan" in (card.text_content() or "")
        assert "Connected" in (card.text_content() or "") and "Completed" in (card.text_content() or "")

        # a busy contact (the demo line answers 486 for numbers ending in 486)
        page.locator("li.record[data-object-id='504'] .call-icon").click()
        poll(lambda: host("sandboxHost.engagements.length === 2 && sandboxHost.engagements[1].status === 'BUSY'"),
             10, "busy")
        widget.locator("#skip").click()
        poll(lambda: host("sandboxHost.engagements[1].completed"), 5, "busy call completed")

        # the demo line rings the rep: caller-ID match shows the contact in the CRM's incoming panel
        page.locator("#demo-call").click()
        poll(lambda: host("!!sandboxHost.incoming"), 10, "the incoming call")
        wait_for(lambda: page.locator("#incoming-name").text_content() == "Dana Demo", 5, what="matched caller")
        wait_for(lambda: widget.locator("#in-name").text_content() == "Dana Demo", 5, what="caller in widget")
        page.screenshot(path=str(SCREENSHOTS / "sandbox-incoming.png"))
        widget.locator("#answer").click()
        poll(lambda: host("sandboxHost.engagements[2].status === 'IN_PROGRESS'"), 10, "answered")
        widget.locator("#hangup").click()
        widget.locator("#notes").fill("Dana asked for a demo of the headset support.")
        widget.locator("#save").click()
        poll(lambda: host("sandboxHost.engagements.every(e => e.completed)"), 5, "all engagements completed")
        page.locator("li.record[data-object-id='501']").click()        # the record view: its own timeline
        page.locator("li.record[data-object-id='501']").click()        # back to all activity
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOTS / "sandbox-timeline.png"))
        assert page.locator(".eng").count() == 3

        # a broken number in the CRM: HubSpot shows the widget's error, nothing is dialled
        page.locator("li.record[data-object-id='507'] .call-icon").click()
        poll(lambda: host("sandboxHost.errors.length") == 1, 5, "the error alert")
        assert "wrong number of digits" in (page.locator("#alert").text_content() or "")
        assert host("sandboxHost.engagements.length") == 3
        rows = eng.ctl("history")["calls"]
        assert len(rows) == 3 and all(r["engagement_id"] for r in rows)
        assert errors == []
    finally:
        ctx.close()


def test_sandbox_calling_window_mode(engine: Callable[..., WidgetEngine], browser: Any) -> None:
    """The sandbox page's remote + calling-window mode: the popup owns the call clicked in the remote."""
    eng = engine(demo="auto")
    ctx = browser.new_context(viewport={"width": 1400, "height": 860})
    try:
        page = ctx.new_page()
        page.goto(eng.widget_url + "sandbox?mode=remote")
        poll(lambda: page.evaluate("sandboxHost.widget.initialized"), 10, "the remote widget to initialize")
        with ctx.expect_page() as popup_info:
            page.locator("#open-calling-window").click()
        popup = popup_info.value
        poll(lambda: popup.evaluate("window.sandboxHost && sandboxHost.widget.initialized"), 10,
             "the calling window to initialize")
        page.locator("li.record[data-object-id='501'] .call-icon").click()
        poll(lambda: popup.evaluate("sandboxHost.received('OUTGOING_CALL_STARTED').length === 1"), 10,
             "the calling window to announce the call")
        assert page.evaluate("sandboxHost.received('OUTGOING_CALL_STARTED').length") == 0
        assert page.evaluate("sandboxHost.refused") == [] and popup.evaluate("sandboxHost.refused") == []
    finally:
        ctx.close()
