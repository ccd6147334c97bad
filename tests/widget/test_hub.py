"""WidgetHub: the SDK contract and its robustness rules, driven through a real Engine/Phone on a fake SIP port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from softphone.app import Engine
from softphone.core.events import RegState, SipLegState
from softphone.hubspot import sdk
from softphone.hubspot.events import CompletionUnconfirmed
from softphone.widget.hub import WidgetHub
from tests.widget.support import Widget, make_engine, register, ring_in, sip

PAYLOAD = {"phoneNumber": "(415) 555-0132", "countryCode": "US", "objectId": 501, "objectType": "CONTACT",
           "portalId": 123456, "startTimestamp": 1772357400000}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Engine, WidgetHub]]:
    engine = make_engine(tmp_path)
    hub = WidgetHub(engine, complete_after_s=0.2, engagement_wait_s=0.1)
    try:
        yield engine, hub
    finally:
        hub.close()
        engine.history.close()


def invites(engine: Engine) -> list[tuple[str, ...]]:
    return [s for s in engine.sip.sent if s[0] == "make_call"]


async def dial(w: Widget, payload: dict[str, object] | None = None) -> str:
    reply = await w.send({"type": "dial", "source": "hubspot", "payload": payload or PAYLOAD})
    assert reply is not None and reply["ok"], reply
    return str(reply["result"]["call_id"])


async def test_ready_sends_initialized(env: tuple[Engine, WidgetHub]) -> None:
    _, hub = env
    w = Widget(hub)
    assert w.frames[0]["type"] == "hello" and w.frames[0]["status"]["logged_in"] is True
    await w.ready()
    assert w.sdk("initialized")[0]["data"] == {"isLoggedIn": True, "isAvailable": True}
    await w.ready()
    assert len(w.sdk("initialized")) == 1


async def test_outbound_call_end_to_end(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready(portalId=123456)
    call_id = await dial(w)
    assert invites(engine) == [("make_call", call_id, "Office", "sip:+14155550132@pbx.example")]
    out = w.sdk("outgoingCall")[0]["data"]
    assert out["toNumber"] == "+14155550132" and out["fromNumber"] == "+15551230000"
    assert out["externalCallId"] == call_id and out["createEngagement"] is True
    assert out["dialingContext"] == PAYLOAD

    await w.send({"type": "engagement", "data": {"engagementId": 9001}})
    assert engine.phone is not None and engine.phone.call(call_id).engagement_id == 9001
    assert engine.history.get(call_id)["engagement_id"] == 9001          # type: ignore[index]

    sip(engine, call_id, SipLegState.RINGING, 180)
    sip(engine, call_id, SipLegState.CONFIRMED, 200)
    assert w.sdk("callAnswered")[0]["data"] == {"externalCallId": call_id}
    sip(engine, call_id, SipLegState.DISCONNECTED, 200)
    ended = w.sdk("callEnded")[0]["data"]
    assert ended == {"externalCallId": call_id, "callEndStatus": "COMPLETED", "engagementId": 9001}
    post = w.of("postcall")[-1]
    assert post["call"]["call_id"] == call_id and post["draft"]["disposition"] == sdk.DEFAULT_OUTCOMES["Connected"]
    assert post["completion"]["engagementId"] == 9001

    reply = await w.send({"type": "complete", "call_id": call_id, "notes": "Wants a quote",
                          "disposition": sdk.DEFAULT_OUTCOMES["Connected"]})
    assert reply is not None and reply["result"] == {"completed": True}
    done = w.sdk("callCompleted")
    assert len(done) == 1
    props = done[0]["data"]["engagementProperties"]
    assert done[0]["data"]["engagementId"] == 9001 and done[0]["data"]["hideWidget"] is False
    assert props["hs_call_body"] == "Wants a quote" and props["hs_call_status"] == "COMPLETED"
    assert props["hs_call_disposition"] == sdk.DEFAULT_OUTCOMES["Connected"]
    row = engine.history.get(call_id)
    assert row is not None and row["notes"] == "Wants a quote" and row["end_status"] == "COMPLETED"
    assert w.of("completed")[-1]["call_id"] == call_id
    await w.send({"type": "complete", "call_id": call_id, "notes": "again"})
    assert len(w.sdk("callCompleted")) == 1
    assert w.methods() == ["initialized", "outgoingCall", "callAnswered", "callEnded", "callCompleted"]


async def test_duplicate_dial_number_dials_once(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    first = await dial(w)
    reply = await w.send({"type": "dial", "source": "hubspot", "payload": dict(PAYLOAD)})
    assert reply is not None and reply["result"] == {"call_id": first, "duplicate": True}
    again = await w.send({"type": "dial", "source": "hubspot", "payload": {**PAYLOAD, "startTimestamp": 5}})
    assert again is not None and again["result"]["duplicate"] is True       # double click
    assert len(invites(engine)) == 1 and len(w.sdk("outgoingCall")) == 1
    assert hub.stats["duplicate_dials"] == 2


@pytest.mark.parametrize("number, message", [
    ("not a number", "is not a phone number"),
    ("+1 555", "wrong number of digits"),
    ("sip:bob@exa mple.com", "not a valid SIP address"),
])
async def test_invalid_number_is_an_error_and_no_invite(env: tuple[Engine, WidgetHub], number: str,
                                                       message: str) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    reply = await w.send({"type": "dial", "source": "hubspot", "payload": {**PAYLOAD, "phoneNumber": number}})
    assert reply is not None and not reply["ok"] and reply["error"]["code"] == "invalid_number"
    assert message in w.sdk("sendError")[0]["data"]["message"]
    assert invites(engine) == [] and w.sdk("outgoingCall") == []
    # the same click may be retried once corrected elsewhere: it is not remembered as a duplicate
    reply2 = await w.send({"type": "dial", "source": "hubspot", "payload": {**PAYLOAD, "phoneNumber": number}})
    assert reply2 is not None and reply2["error"]["code"] == "invalid_number"


async def test_bad_payload_is_an_error(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    reply = await w.send({"type": "dial", "source": "hubspot", "payload": {"objectId": 5}})
    assert reply is not None and reply["error"]["code"] == "bad_sdk_payload"
    assert w.sdk("sendError")[0]["data"]["message"] == "HubSpot sent no phone number."
    assert invites(engine) == []


async def test_not_registered_and_login_changes(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, registrar=True)
    hub = WidgetHub(engine)
    try:
        w = Widget(hub)
        await w.ready()
        assert w.sdk("initialized")[0]["data"]["isLoggedIn"] is False
        reply = await w.send({"type": "dial", "source": "hubspot", "payload": PAYLOAD})
        assert reply is not None and reply["error"]["code"] == "not_registered"
        assert "not registered" in w.sdk("sendError")[0]["data"]["message"]
        assert invites(engine) == []
        register(engine, RegState.REGISTERED)
        register(engine, RegState.FAILED)
        assert w.methods()[-2:] == ["userLoggedIn", "userLoggedOut"]
        assert w.of("status")[-1]["status"]["logged_in"] is False
    finally:
        hub.close()
        engine.history.close()


async def test_sip_failure_reaches_the_rep(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    call_id = await dial(w)
    sip(engine, call_id, SipLegState.DISCONNECTED, 503, "Service Unavailable")
    assert w.sdk("callEnded")[0]["data"]["callEndStatus"] == "FAILED"
    assert "Service Unavailable" in w.sdk("sendError")[-1]["data"]["message"]
    busy = await dial(w, {**PAYLOAD, "phoneNumber": "+1 212 555 0486"})
    sip(engine, busy, SipLegState.DISCONNECTED, 486, "Busy Here")
    assert w.sdk("callEnded")[-1]["data"]["callEndStatus"] == "BUSY"
    # dialling again completed the failed call's engagement first
    assert [m["data"]["externalCallId"] for m in w.sdk("callCompleted")] == [call_id]


async def test_reload_mid_call_resyncs_without_a_second_engagement(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w1 = Widget(hub)
    await w1.ready()
    call_id = await dial(w1)
    await w1.send({"type": "engagement", "data": {"engagementId": 77}})
    sip(engine, call_id, SipLegState.RINGING, 180)
    w1.close()                                            # the HubSpot tab reloads
    sip(engine, call_id, SipLegState.CONFIRMED, 200)      # answered while no widget is there
    w2 = Widget(hub)
    hello = w2.frames[0]
    assert [c["call_id"] for c in hello["calls"]] == [call_id] and hello["calls"][0]["state"] == "ESTABLISHED"
    await w2.ready(engagementId=77)
    assert w2.sdk("initialized")[0]["data"]["engagementId"] == 77
    assert w2.methods() == ["initialized", "callAnswered"]
    sip(engine, call_id, SipLegState.DISCONNECTED, 200)
    assert w2.methods()[-1] == "callEnded" and w2.of("postcall")
    total_outgoing = len(w1.sdk("outgoingCall")) + len(w2.sdk("outgoingCall"))
    assert total_outgoing == 1


async def test_second_tab_shows_the_call_but_sends_nothing_for_it(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w1, w2 = Widget(hub), Widget(hub)
    await w1.ready()
    await w2.ready()
    call_id = await dial(w1)
    sip(engine, call_id, SipLegState.CONFIRMED, 200)
    views = [f["call"] for f in w2.of("call") if f["call"]["call_id"] == call_id]
    assert views[-1]["state"] == "ESTABLISHED" and views[-1]["owned"] is False
    # the second tab can still control it
    reply = await w2.send({"type": "command", "name": "mute", "args": {"call_id": call_id}})
    assert reply is not None and reply["ok"] and reply["result"]["muted"] is True
    sip(engine, call_id, SipLegState.DISCONNECTED, 200)
    assert w2.methods() == ["initialized"]
    assert w2.of("postcall") == [] and w1.of("postcall")
    w3 = Widget(hub)
    await w3.ready()
    assert w3.methods() == ["initialized"]


async def test_calls_placed_elsewhere_go_to_the_preferred_tab(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    side, remote, window = Widget(hub), Widget(hub), Widget(hub)
    await side.ready(iframeLocation="widget")
    await remote.ready(iframeLocation="remote", usesCallingWindow=True)
    await window.ready(iframeLocation="window", usesCallingWindow=True)
    await window.send({"type": "visibility", "data": {"isHidden": True}})
    assert engine.phone is not None
    engine.phone.dial("+14155550199")                        # from the desktop window / ctl
    # the visible side widget is preferred; the remote of calling-window mode never owns a call
    assert side.methods()[-1] == "outgoingCall"
    assert window.methods() == remote.methods() == ["initialized"]
    assert "dialingContext" not in side.sdk("outgoingCall")[0]["data"]


async def test_calling_window_mode_the_remote_never_owns(env: tuple[Engine, WidgetHub]) -> None:
    """usesCallingWindow: the navigation-bar frame only relays; the calling window owns calls and post-call."""
    engine, hub = env
    remote = Widget(hub)
    await remote.ready(iframeLocation="remote", usesCallingWindow=True)
    call_id = await dial(remote)                             # HubSpot relayed a click to the remote
    assert remote.methods() == ["initialized"]
    window = Widget(hub)
    await window.ready(iframeLocation="window", usesCallingWindow=True)
    await window.send({"type": "visibility", "data": {"isHidden": True}})
    assert window.methods() == ["initialized", "outgoingCall"]
    sip(engine, call_id, SipLegState.CONFIRMED, 200)
    sip(engine, call_id, SipLegState.DISCONNECTED, 200)
    assert window.methods()[-2:] == ["callAnswered", "callEnded"] and window.of("postcall")
    assert remote.methods() == ["initialized"] and remote.of("postcall") == []
    window.close()                                           # the rep closes the calling window
    ring_in(engine, "in-9")
    assert remote.methods() == ["initialized"]


async def test_next_call_completes_the_previous_one(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    first = await dial(w)
    await w.send({"type": "engagement", "data": {"engagementId": 1}})
    sip(engine, first, SipLegState.CONFIRMED, 200)
    sip(engine, first, SipLegState.DISCONNECTED, 200)
    await w.send({"type": "draft", "call_id": first, "notes": "half written", "disposition": ""})
    await dial(w, {**PAYLOAD, "phoneNumber": "+14155550177", "startTimestamp": 2})
    done = w.sdk("callCompleted")
    assert len(done) == 1 and done[0]["data"]["engagementId"] == 1
    assert done[0]["data"]["engagementProperties"]["hs_call_body"] == "half written"
    assert w.methods().index("callCompleted") < len(w.methods()) - 1     # before the new outgoingCall
    assert w.methods()[-1] == "outgoingCall"


async def test_idle_post_call_is_completed_by_the_backstop(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    call_id = await dial(w)
    await w.send({"type": "engagement", "data": {"engagementId": 5}})
    sip(engine, call_id, SipLegState.DISCONNECTED, 486, "Busy Here")
    await w.send({"type": "draft", "call_id": call_id, "notes": "try tomorrow", "disposition": ""})
    for _ in range(50):
        if w.sdk("callCompleted"):
            break
        await asyncio.sleep(0.05)
    data = w.sdk("callCompleted")[0]["data"]
    assert data["engagementProperties"]["hs_call_body"] == "try tomorrow"
    assert data["engagementProperties"]["hs_call_disposition"] == sdk.DEFAULT_OUTCOMES["Busy"]


async def test_page_closing_with_notes_open(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    call_id = await dial(w)
    sip(engine, call_id, SipLegState.DISCONNECTED, 200)
    reply = await w.send({"type": "complete", "call_id": call_id, "notes": "sent by the page", "sent": True})
    assert reply is not None and reply["result"] == {"completed": True}
    assert w.sdk("callCompleted") == []                  # the page sent it itself
    assert hub.ledger.get(call_id) is None or hub.ledger.get(call_id).completed  # type: ignore[union-attr]
    row = engine.history.get(call_id)
    assert row is not None and row["notes"] == "sent by the page"


async def test_only_a_closing_page_with_an_engagement_and_notes_leaves_the_notes_unconfirmed(
        env: tuple[Engine, WidgetHub]) -> None:
    """The page that sent callCompleted while closing cannot know it arrived: the hub says so on the bus (the
    CRM service writes the notes through the API). A page still open (engine unreachable) knows HubSpot got it;
    a call with no engagement or nothing typed has nothing to write."""
    engine, hub = env
    told: list[CompletionUnconfirmed] = []
    engine.bus.subscribe(CompletionUnconfirmed, told.append)
    w = Widget(hub)
    await w.ready()
    cases = [(5, "closing", "Budget approved", True), (6, "open", "Budget approved", False),
             (None, "closing", "Budget approved", False), (7, "closing", "", False)]
    expected = []
    for n, (engagement, how, notes, unconfirmed) in enumerate(cases):
        # a dial request of its own each time (the same one again would be the same call)
        call_id = await dial(w, dict(PAYLOAD, startTimestamp=PAYLOAD["startTimestamp"] + n))
        if engagement is not None:
            await w.send({"type": "engagement", "data": {"engagementId": engagement, "externalCallId": call_id}})
        sip(engine, call_id, SipLegState.DISCONNECTED, 200)
        reply = await w.send({"type": "complete", "call_id": call_id, "notes": notes, "sent": True,
                              "closing": how == "closing"})
        assert reply is not None and reply["result"] == {"completed": True}, reply
        if unconfirmed:
            expected.append(CompletionUnconfirmed(call_id, engagement, notes, ""))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert told == expected and len(told) == 1


async def test_post_call_moves_to_the_next_tab_when_the_owner_leaves(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w1 = Widget(hub)
    await w1.ready()
    call_id = await dial(w1)
    sip(engine, call_id, SipLegState.CONFIRMED, 200)
    w1.close()
    sip(engine, call_id, SipLegState.DISCONNECTED, 200)
    w2 = Widget(hub)
    await w2.ready()
    assert w2.methods() == ["initialized", "callEnded"]
    assert w2.of("postcall")[-1]["call"]["call_id"] == call_id


async def test_inbound_answered_with_caller_id(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    ring_in(engine)
    data = w.sdk("incomingCall")[0]["data"]
    assert data["fromNumber"] == "+14155550132" and data["toNumber"] == "+15551230000"
    assert data["createEngagement"] is True and data["externalCallId"] == "in-1"
    match = {"callerIdMatches": [{"callerIdType": "CONTACT", "firstName": "Maya", "lastName": "Chen",
                                  "objectCoordinates": {"portalId": 1, "objectId": 501, "objectTypeId": "0-1"}}]}
    await w.send({"type": "caller_id", "data": match})
    view = w.of("call")[-1]["call"]
    assert view["caller_name"] == "Maya Chen" and view["caller_lookup"] == "matched"
    assert view["caller"][0]["objectCoordinates"]["objectId"] == 501
    await w.send({"type": "engagement", "data": {"engagementId": 31}})
    reply = await w.send({"type": "command", "name": "answer", "args": {"call_id": "in-1"}})
    assert reply is not None and reply["ok"]
    assert ("answer", "in-1") in engine.sip.sent
    sip(engine, "in-1", SipLegState.CONFIRMED, 200)
    assert w.methods()[-1] == "callAnswered"
    sip(engine, "in-1", SipLegState.DISCONNECTED, 200)
    assert w.sdk("callEnded")[0]["data"]["callEndStatus"] == "COMPLETED"
    assert w.of("postcall") and not w.sdk("callCompleted")     # answered: the rep writes notes


async def test_inbound_missed_is_completed_automatically(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    ring_in(engine)
    await w.send({"type": "caller_id_failed", "data": {}})
    assert w.of("call")[-1]["call"]["caller_lookup"] == "none"
    await w.send({"type": "engagement", "data": {"engagementId": 32}})
    sip(engine, "in-1", SipLegState.DISCONNECTED, 487, "Request Terminated")
    assert w.sdk("callEnded")[0]["data"] == {"externalCallId": "in-1", "callEndStatus": "MISSED", "engagementId": 32}
    done = w.sdk("callCompleted")
    assert len(done) == 1 and done[0]["data"]["engagementId"] == 32
    assert done[0]["data"]["engagementProperties"]["hs_call_status"] == "NO_ANSWER"
    assert w.of("postcall") == []


async def test_missed_call_without_engagement_id_still_completes(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    ring_in(engine, "in-2")
    sip(engine, "in-2", SipLegState.DISCONNECTED, 487)
    assert w.sdk("callCompleted") == []
    for _ in range(40):
        if w.sdk("callCompleted"):
            break
        await asyncio.sleep(0.05)
    assert w.sdk("callCompleted")[0]["data"]["externalCallId"] == "in-2"


async def test_availability_and_end_call(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    await w.send({"type": "command", "name": "set_available", "args": {"available": False}})
    assert w.methods()[-1] == "userUnavailable"
    assert w.of("status")[-1]["status"]["available"] is False
    await w.send({"type": "command", "name": "set_available", "args": {"available": True}})
    assert w.methods()[-1] == "userAvailable"
    call_id = await dial(w)
    reply = await w.send({"type": "end_call"})
    assert reply is not None and reply["ok"]
    assert engine.sip.sent[-1] == ("hangup", call_id)


async def test_frames_are_validated(env: tuple[Engine, WidgetHub]) -> None:
    _, hub = env
    w = Widget(hub)
    for frame, code in (({"type": "command", "name": "history"}, "forbidden"),
                        ({"type": "command", "name": "account_save", "args": {"account": {}}}, "forbidden"),
                        ({"type": "command", "name": "settings_save", "args": {"settings": {}}}, "forbidden"),
                        ({"type": "command", "name": "transfer", "args": {"target": "+1"}}, "forbidden"),
                        ({"type": "command", "name": "rm -rf"}, "unknown_command"),
                        ({"type": "command", "name": "mute", "args": {"muted": "false"}}, "bad_args"),
                        ({"type": "command", "name": "hangup", "args": {"call_id": "9" * 5000}}, "bad_args"),
                        ({"type": "command", "name": "mute", "args": []}, "bad_frame"),
                        ({"type": "nope"}, "bad_frame"),
                        ({"type": "engagement", "data": {"engagementId": "x"}}, "bad_sdk_payload"),
                        ({"type": "complete", "call_id": "c", "disposition": "Busy"}, "bad_sdk_payload"),
                        ({"type": "dial", "source": "elsewhere"}, "bad_frame")):
        reply = await w.send(frame)
        assert reply is not None and reply["ok"] is False and reply["error"]["code"] == code, frame
    await hub.handle(w.session, ["not", "a", "dict"])          # ignored, no reply, no crash
    reply = await w.send({"type": "complete", "call_id": "c", "notes": "x"})
    assert reply is not None and reply["result"] == {"already": True}


async def test_country_code_of_the_payload_normalises_the_number(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    call_id = await dial(w, {"phoneNumber": "020 7946 0958", "countryCode": "GB", "objectId": 502})
    assert invites(engine) == [("make_call", call_id, "Office", "sip:+442079460958@pbx.example")]
    assert w.sdk("outgoingCall")[0]["data"]["toNumber"] == "+442079460958"


async def test_hide_widget_as_configured(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, hide_widget=True)
    hub = WidgetHub(engine)
    try:
        w = Widget(hub)
        await w.ready()
        call_id = await dial(w)
        sip(engine, call_id, SipLegState.DISCONNECTED, 486, "Busy Here")
        assert w.of("postcall")[-1]["completion"]["hideWidget"] is True
        await w.send({"type": "complete", "call_id": call_id, "notes": ""})
        assert w.sdk("callCompleted")[0]["data"]["hideWidget"] is True
    finally:
        hub.close()
        engine.history.close()


async def test_do_not_disturb_call_gets_no_engagement(env: tuple[Engine, WidgetHub]) -> None:
    engine, hub = env
    w = Widget(hub)
    await w.ready()
    await w.send({"type": "command", "name": "set_available", "args": {"available": False}})
    ring_in(engine, "in-dnd")
    assert ("hangup", "in-dnd", 486) in engine.sip.sent or engine.sip.sent[-1][:2] == ("hangup", "in-dnd")
    sip(engine, "in-dnd", SipLegState.DISCONNECTED, 486)
    assert engine.history.get("in-dnd")["end_status"] == "MISSED"          # type: ignore[index]
    assert not {"incomingCall", "callEnded", "callCompleted"} & set(w.methods())
    assert hub.ledger.get("in-dnd") is None and not hub.sdk_logged("in-dnd")


async def test_account_outcomes_replace_the_defaults(env: tuple[Engine, WidgetHub]) -> None:
    _, hub = env
    w = Widget(hub)
    assert [o["label"] for o in w.frames[0]["outcomes"]] == list(sdk.DEFAULT_OUTCOMES)
    own = "0a1b2c3d-0000-4000-8000-00000000000a"
    assert hub.set_outcomes({"results": [{"id": own.upper(), "label": "Demo booked"}, {"id": "x", "label": "bad"}]})
    assert w.of("outcomes")[-1]["outcomes"] == [{"label": "Demo booked", "id": own}]
    assert Widget(hub).frames[0]["outcomes"] == [{"label": "Demo booked", "id": own}]
    assert not hub.set_outcomes([])                          # the CRM gave none: the six defaults again
    assert len(w.of("outcomes")[-1]["outcomes"]) == 6
