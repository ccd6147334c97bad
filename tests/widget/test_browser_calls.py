"""The SDK contract end to end: a host page on another origin runs the real SDK in host mode (as HubSpot does)
and drives the real widget in Chromium against the real engine (`softphone serve`) and real SIP peers (sipp, the
built-in demo line)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from softphone.hubspot.sdk import DEFAULT_OUTCOMES
from tests.peers import Sipp, free_port, wait_for
from tests.widget.browser import HostPage
from tests.widget.conftest import SippCaller, WidgetEngine, shot, trunk

pytestmark = pytest.mark.integration

Engine = Callable[..., WidgetEngine]
Open = Callable[..., HostPage]
SippF = Callable[..., Sipp]
Caller = Callable[..., SippCaller]


def test_outbound_answered_notes_completed(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    init = hp.received("INITIALIZED")[0]
    assert init["isLoggedIn"] is True and init["isAvailable"] is True
    hp.wait_view("idle")
    shot(hp, "widget-idle")

    payload = hp.dial(501)
    out = hp.wait_received("OUTGOING_CALL_STARTED")[0]
    call_id = out["externalCallId"]
    assert out["toNumber"] == "+14155550132" and out["fromNumber"] == "+15551230000"
    assert out["createEngagement"] is True and out["dialingContext"] == payload
    assert abs(out["callStartTime"] - payload["startTimestamp"]) < 5000
    hp.wait_received("CALL_ANSWERED")
    hp.wait_view("call")
    hp.wait("document.querySelector('iframe') && true")
    eng.wait_state(call_id, "ESTABLISHED")
    engagement_id = hp.engagements()[0]["id"]
    wait_for(lambda: eng.history_row(call_id)["engagement_id"] == engagement_id, 5, what="engagement id in history")
    poll_text = "document.getElementById('call-status-text').textContent"
    wait_for(lambda: hp.widget(poll_text).startswith("Connected · 0:0"), 5, what="call timer")
    shot(hp, "widget-in-call")

    hp.click("#hangup")
    ended = hp.wait_received("CALL_ENDED")[0]
    assert ended == {"externalCallId": call_id, "engagementId": engagement_id, "callEndStatus": "COMPLETED"}
    hp.wait_view("postcall")
    assert hp.widget("document.querySelector('.chip[aria-checked=true]').textContent") == "Connected"
    hp.click(f".chip[data-id='{DEFAULT_OUTCOMES['Left live message']}']")
    hp.fill("#notes", "Budget approved <b>\nSend the quote on Monday")
    shot(hp, "widget-post-call")
    hp.click("#save")
    done = hp.wait_received("CALL_COMPLETED")[0]
    props = done["engagementProperties"]
    assert done["engagementId"] == engagement_id and done["externalCallId"] == call_id
    assert done["hideWidget"] is False
    assert props["hs_call_body"] == "Budget approved &lt;b&gt;<br>Send the quote on Monday"
    assert props["hs_call_disposition"] == DEFAULT_OUTCOMES["Left live message"]
    assert props["hs_call_status"] == "COMPLETED" and props["hs_call_direction"] == "OUTBOUND"
    assert int(props["hs_call_duration"]) > 0
    hp.wait_view("idle")
    row = eng.history_row(call_id)
    assert row["notes"].startswith("Budget approved") and row["disposition"] == DEFAULT_OUTCOMES["Left live message"]
    assert (row["end_status"], row["engagement_id"]) == ("COMPLETED", engagement_id)
    eng_rows = hp.engagements()
    assert len(eng_rows) == 1 and eng_rows[0]["completed"] and eng_rows[0]["duplicates"] == 0
    assert peer.invites() == 1
    assert hp.errors == []


@pytest.mark.parametrize(("scenario", "status", "chip", "hs_status"), [
    ("uas_486", "BUSY", "Busy", "BUSY"),
    ("uas_480", "NO_ANSWER", "No answer", "NO_ANSWER"),
    ("uas_603", "REJECTED", "Busy", "BUSY"),
    ("uas_noanswer", "NO_ANSWER", "No answer", "NO_ANSWER"),      # our no-answer timer (5 s here)
])
def test_outbound_not_answered(engine: Engine, sipp: SippF, open_host: Open, scenario: str, status: str,
                               chip: str, hs_status: str) -> None:
    peer = sipp(scenario)
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    hp.dial(501)
    call_id = hp.wait_received("OUTGOING_CALL_STARTED")[0]["externalCallId"]
    ended = hp.wait_received("CALL_ENDED", timeout=15)[0]
    assert (ended["externalCallId"], ended["callEndStatus"]) == (call_id, status)
    assert hp.received("CALL_ANSWERED") == [] and hp.received("ERROR") == []
    hp.wait_view("postcall")
    assert hp.widget("document.querySelector('.chip[aria-checked=true]').textContent") == chip
    if scenario == "uas_486":
        shot(hp, "widget-post-call-busy")
    hp.click("#skip")
    done = hp.wait_received("CALL_COMPLETED")[0]
    assert done["engagementProperties"]["hs_call_status"] == hs_status
    assert done["engagementProperties"]["hs_call_disposition"] == DEFAULT_OUTCOMES[chip]
    assert "hs_call_body" not in done["engagementProperties"]
    assert eng.history_row(call_id)["end_status"] == status
    assert peer.invites() == 1


def test_sip_failure_is_reported(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_503")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    hp.dial(501)
    ended = hp.wait_received("CALL_ENDED")[0]
    assert ended["callEndStatus"] == "FAILED"
    error = hp.wait_received("ERROR")[0]
    assert "Service Unavailable" in error["message"] or "503" in error["message"]
    hp.wait_view("postcall")
    assert "Failed" in hp.widget("document.getElementById('pc-status').textContent")
    hp.click("#skip")
    assert hp.wait_received("CALL_COMPLETED")[0]["engagementProperties"]["hs_call_status"] == "FAILED"


def test_cancel_while_ringing(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_noanswer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    hp.dial(501)
    hp.wait_view("call")
    wait_for(lambda: hp.widget("document.getElementById('call-status-text').textContent") == "Ringing…", 5,
             what="ringing")
    assert hp.widget("document.getElementById('hangup-label').textContent") == "Cancel"
    shot(hp, "widget-ringing")
    hp.click("#hangup")
    assert hp.wait_received("CALL_ENDED")[0]["callEndStatus"] == "CANCELED"
    wait_for(lambda: "CANCEL sip:" in peer.messages(), 5, what="CANCEL at sipp")
    hp.wait_view("postcall")
    hp.click("#skip")
    assert hp.wait_received("CALL_COMPLETED")[0]["engagementProperties"]["hs_call_status"] == "CANCELED"


def test_invalid_number_is_an_error_without_invite(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    hp.dial(501, number="+1 555")
    error = hp.wait_received("ERROR")[0]
    assert error["message"] == "“+1 555” has the wrong number of digits for a phone number."
    wait_for(lambda: hp.widget("document.getElementById('toast').hidden") is False, 5, what="toast")
    shot(hp, "widget-error-invalid-number")
    hp.dial(501, number="call me maybe")
    assert "is not a phone number" in hp.wait_received("ERROR", 2)[1]["message"]
    assert hp.received("OUTGOING_CALL_STARTED") == []
    assert peer.invites() == 0 and eng.ctl("history")["calls"] == []


def test_not_registered(engine: Engine, open_host: Open, tmp_path: object) -> None:
    from tests.peers import Kamailio, account_toml, have

    if not have("kamailio"):
        pytest.skip("kamailio is not installed")
    kam = Kamailio(tmp_path / "kam", auth=True).start()     # type: ignore[operator]
    try:
        eng = engine(account_toml("Office", "rep", kam))        # no password in the keyring: 401
        eng.wait_registration("Office", "FAILED")
        hp = open_host(eng)
        assert hp.received("INITIALIZED")[0]["isLoggedIn"] is False
        hp.wait_view("idle")
        assert hp.widget("document.getElementById('idle-title').textContent") == "Not registered"
        shot(hp, "widget-not-registered")
        hp.dial(501)
        msg = hp.wait_received("ERROR")[0]["message"]
        assert "not registered" in msg and "Office" in msg
        assert hp.received("OUTGOING_CALL_STARTED") == [] and eng.ctl("history")["calls"] == []
    finally:
        kam.stop()


def test_duplicated_dial_number_dials_once(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_noanswer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    payload = hp.dial(501)
    hp.js("(p) => { crm.dialRaw(p); crm.dialRaw(p); crm.dialRaw({...p, startTimestamp: p.startTimestamp + 40}); }",
          payload)
    hp.wait_received("OUTGOING_CALL_STARTED")
    wait_for(lambda: "INVITE sip:" in peer.messages(), 5, what="INVITE")
    eng.wait_call(lambda c: c["state"] == "RINGING", 5)
    hp.js("new Promise(r => setTimeout(r, 500))")
    assert len(hp.received("OUTGOING_CALL_STARTED")) == 1
    assert len(eng.ctl("history")["calls"]) == 1 and peer.invites() == 1
    assert len(hp.engagements()) == 1
    hp.click("#hangup")
    hp.wait_received("CALL_ENDED")


def test_end_call_from_hubspot_visibility_and_resize(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    idle_height = hp.received("INITIALIZED")[0]["sizeInfo"]["height"]
    hp.dial(501)
    hp.wait_received("CALL_ANSWERED")
    sizes = hp.wait_received("RESIZE_WIDGET")
    assert sizes[-1]["height"] > idle_height
    assert hp.js("document.querySelector('#widget-host iframe').getAttribute('height')") == f"{sizes[-1]['height']}px"
    hp.js("crm.setVisibility(true, false)")
    hp.js("crm.setVisibility(false, false)")
    hp.js("crm.endCall()")
    assert hp.wait_received("CALL_ENDED")[0]["callEndStatus"] == "COMPLETED"
    wait_for(lambda: "BYE sip:" in peer.messages(), 5, what="BYE at sipp")
    assert hp.errors == []


def test_availability_reaches_hubspot(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    hp.click("#presence")
    hp.wait_received("USER_UNAVAILABLE")
    wait_for(lambda: hp.widget("document.getElementById('idle-title').textContent") == "Do not disturb", 5,
             what="DND shown")
    assert eng.status()["available"] is False
    shot(hp, "widget-do-not-disturb")
    hp.click("#presence")
    hp.wait_received("USER_AVAILABLE")
    assert eng.status()["available"] is True


# ------------------------------------------------------------------ inbound (the built-in demo line rings us)


def test_inbound_answered_with_caller_id_match(engine: Engine, open_host: Open) -> None:
    eng = engine(demo="on")
    hp = open_host(eng)
    eng.ctl("demo_call_me")
    inc = hp.wait_received("INCOMING_CALL")[0]
    assert inc["fromNumber"] == "sip:demo@demo.invalid" and inc["createEngagement"] is True
    call_id = inc["externalCallId"]
    hp.wait_view("incoming")
    wait_for(lambda: hp.widget("document.getElementById('in-name').textContent") == "Dana Demo", 5,
             what="caller name")
    assert hp.widget("document.getElementById('in-lookup').textContent") == "Contact in HubSpot"
    shot(hp, "widget-incoming-matched")
    hp.click("#in-record")
    nav = hp.wait_received("NAVIGATE_TO_RECORD")[0]
    assert nav["objectCoordinates"] == {"portalId": 123456, "objectId": 508, "objectTypeId": "0-1"}
    hp.click("#answer")
    assert hp.wait_received("CALL_ANSWERED")[0] == {"externalCallId": call_id}
    hp.wait_view("call")
    assert hp.widget("document.getElementById('call-name').textContent") == "Dana Demo"
    shot(hp, "widget-inbound-call")
    hp.click("#hangup")
    assert hp.wait_received("CALL_ENDED")[0]["callEndStatus"] == "COMPLETED"
    hp.wait_view("postcall")
    hp.fill("#notes", "Asked about the demo")
    hp.click("#save")
    done = hp.wait_received("CALL_COMPLETED")[0]
    assert done["engagementProperties"]["hs_call_direction"] == "INBOUND"
    assert done["engagementProperties"]["hs_call_from_number"] == "sip:demo@demo.invalid"
    assert done["engagementId"] == hp.engagements()[0]["id"]
    assert eng.history_row(call_id)["engagement_id"] == done["engagementId"]


def test_inbound_missed_without_match(engine: Engine, sipp: SippF, open_host: Open, caller: Caller) -> None:
    sip_port = free_port()
    eng = engine(trunk(sipp("uas_answer").port), extra=f"sip_port = {sip_port}\n")
    hp = open_host(eng, records="none")
    caller("uac_ring_cancel", sip_port)
    inc = hp.wait_received("INCOMING_CALL")[0]
    assert (inc["fromNumber"], inc["toNumber"]) == ("+14155550132", "+15551230000")
    call_id = inc["externalCallId"]
    wait_for(lambda: hp.sent("CALLER_ID_MATCH_FAILED"), 5, what="host answered the caller-ID lookup")
    hp.wait_view("incoming")
    wait_for(lambda: hp.widget("document.getElementById('in-lookup').textContent") == "Not found in HubSpot", 5,
             what="no match shown")
    assert hp.widget("document.getElementById('in-name').textContent") == "Unknown caller"
    assert hp.widget("document.getElementById('in-number').textContent") == "+1 415-555-0132"
    assert hp.widget("document.getElementById('in-record').hidden") is True
    shot(hp, "widget-incoming-unknown")
    ended = hp.wait_received("CALL_ENDED", timeout=15)[0]
    assert ended["callEndStatus"] == "MISSED" and ended["externalCallId"] == call_id
    done = hp.wait_received("CALL_COMPLETED")[0]
    assert done["engagementProperties"]["hs_call_status"] == "NO_ANSWER"
    assert done["engagementId"] == hp.engagements()[0]["id"]
    hp.wait_view("idle")
    assert eng.history_row(call_id)["end_status"] == "MISSED"


def test_inbound_number_matched_to_a_contact(engine: Engine, sipp: SippF, open_host: Open, caller: Caller) -> None:
    sip_port = free_port()
    eng = engine(trunk(sipp("uas_answer").port), extra=f"sip_port = {sip_port}\n")
    hp = open_host(eng)
    caller("uac_ring_cancel", sip_port)
    wait_for(lambda: hp.sent("CALLER_ID_MATCH_SUCCEEDED"), 5, what="host matched the caller")
    wait_for(lambda: hp.widget("document.getElementById('in-name').textContent") == "Maya Chen", 5,
             what="matched caller")
    assert hp.widget("document.getElementById('in-number').textContent") == "+1 415-555-0132"
    assert hp.wait_received("CALL_ENDED", timeout=15)[0]["callEndStatus"] == "MISSED"


def test_inbound_declined(engine: Engine, open_host: Open) -> None:
    eng = engine(demo="on")
    hp = open_host(eng)
    eng.ctl("demo_call_me")
    hp.wait_view("incoming")
    hp.click("#decline")
    assert hp.wait_received("CALL_ENDED")[0]["callEndStatus"] == "REJECTED"
    assert hp.wait_received("CALL_COMPLETED")[0]["engagementProperties"]["hs_call_status"] == "BUSY"
    hp.wait_view("idle")


# ------------------------------------------------------------------ robustness


def test_reload_mid_call_resyncs_one_engagement(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    hp.dial(501)
    call_id = hp.wait_received("CALL_ANSWERED")[0]["externalCallId"]
    engagement_id = hp.engagements()[0]["id"]
    hp.js("crm.reloadWidget()")
    hp.wait_received("INITIALIZED", 2)
    assert hp.received("INITIALIZED")[1]["engagementId"] == engagement_id
    hp.wait_view("call")
    assert hp.widget("document.getElementById('call-status-text').textContent").startswith("Connected")
    hp.click("#hangup")
    ended = hp.wait_received("CALL_ENDED")[0]
    assert (ended["externalCallId"], ended["engagementId"]) == (call_id, engagement_id)
    hp.wait_view("postcall")
    hp.click("#save")
    hp.wait_received("CALL_COMPLETED")
    assert len(hp.received("OUTGOING_CALL_STARTED")) == 1
    engs = hp.engagements()
    assert len(engs) == 1 and engs[0]["duplicates"] == 0 and engs[0]["completed"]
    assert peer.invites() == 1


def test_reload_during_post_call_still_completes(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_486")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    hp.dial(501)
    call_id = hp.wait_received("CALL_ENDED")[0]["externalCallId"]
    hp.wait_view("postcall")
    hp.fill("#notes", "Line busy, retry at 3")
    hp.js("crm.reloadWidget()")                       # the rep refreshes HubSpot without saving
    done = hp.wait_received("CALL_COMPLETED")[0]
    assert done["externalCallId"] == call_id
    assert done["engagementProperties"]["hs_call_body"] == "Line busy, retry at 3"
    hp.wait_received("INITIALIZED", 2)
    hp.wait_view("idle")
    wait_for(lambda: eng.history_row(call_id)["notes"] == "Line busy, retry at 3", 5, what="notes stored")
    hp.js("new Promise(r => setTimeout(r, 500))")
    assert len(hp.received("CALL_COMPLETED")) == 1


def test_second_tab_mid_call(engine: Engine, sipp: SippF, open_host: Open) -> None:
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    tab1 = open_host(eng)
    tab1.dial(501)
    call_id = tab1.wait_received("CALL_ANSWERED")[0]["externalCallId"]
    tab2 = open_host(eng)
    tab2.wait_view("call")
    assert tab2.widget("document.getElementById('call-status-text').textContent").startswith("Connected")
    tab2.click("#mute")
    eng.wait_call(lambda c: c["call_id"] == call_id and c["muted"], 5)
    tab1.wait_view("call")
    wait_for(lambda: tab1.widget("document.getElementById('mute').getAttribute('aria-pressed')") == "true", 5,
             what="mute mirrored in tab 1")
    tab2.click("#hangup")
    assert tab1.wait_received("CALL_ENDED")[0]["externalCallId"] == call_id
    tab1.wait_view("postcall")
    tab2.wait_view("idle", timeout=6)
    tab1.click("#save")
    tab1.wait_received("CALL_COMPLETED")
    for t in ("OUTGOING_CALL_STARTED", "CALL_ANSWERED", "CALL_ENDED", "CALL_COMPLETED"):
        assert tab2.received(t) == [], t
    assert len(tab1.engagements()) == 1 and tab2.engagements() == []


def test_engine_not_running_then_back(engine: Engine, sipp: SippF, open_host: Open) -> None:
    """The app is closed: the widget says so, a click-to-call is an error (no silent queue), and it reconnects
    by itself when the app is back, without a second `initialized`."""
    peer = sipp("uas_answer")
    eng = engine(trunk(peer.port))
    hp = open_host(eng)
    eng.stop()
    hp.wait_view("offline", timeout=10)
    shot(hp, "widget-offline")
    hp.dial(501)
    assert "isn’t running" in hp.wait_received("ERROR")[0]["message"]
    eng.start()
    hp.wait_view("idle", timeout=15)
    assert len(hp.received("INITIALIZED")) == 1
    wait_for(lambda: hp.received("LOGGED_IN") and hp.received("USER_AVAILABLE"), 5, what="status re-sent")
    hp.dial(501, startTimestamp=1)
    hp.wait_received("CALL_ANSWERED")
    assert peer.invites() == 1
