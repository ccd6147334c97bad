"""softphone.hubspot.sdk: payload validation, SnapShot → SDK payload mapping, dedupe and the call ledger."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from softphone.core.events import CallEndStatus, CallSnapshot, CallState, Direction
from softphone.hubspot import sdk
from softphone.hubspot.sdk import CallLedger, DialDeduper, SdkPayloadError

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
CONTEXT = {
    "phoneNumber": "+1 (415) 555-0132", "ownerId": 7, "subjectId": 501, "objectId": 501, "objectType": "CONTACT",
    "portalId": 123456, "countryCode": "US", "calleeInfo": {"calleeId": 501, "calleeObjectTypeId": "0-1"},
    "startTimestamp": 1772357400000, "toPhoneNumberSrc": "mobilephone",
}


def snap(**kw: object) -> CallSnapshot:
    base = dict(call_id="c1", direction=Direction.OUTBOUND, account="Office", remote="+14155550132",
                state=CallState.OUTGOING, started_at=T0)
    base.update(kw)
    return CallSnapshot(**base)  # type: ignore[arg-type]


def ended(s: CallSnapshot, status: CallEndStatus, *, answered: bool = True, talk_s: float = 42.5) -> CallSnapshot:
    ans = T0 + timedelta(seconds=3) if answered else None
    end = (ans or T0) + timedelta(seconds=talk_s if answered else 5)
    return dataclasses.replace(s, state=CallState.TERMINATED, answered_at=ans, ended_at=end, end_status=status)


# ------------------------------------------------------------------ onDialNumber


def test_parse_dial_number_keeps_the_whole_payload_as_context() -> None:
    req = sdk.parse_dial_number(CONTEXT)
    assert req.number == "+1 (415) 555-0132"
    assert req.country == "US"
    assert req.context == CONTEXT and req.context is not CONTEXT
    assert len(req.fingerprint) == 64


@pytest.mark.parametrize("payload, message", [
    (None, "without any details"),
    ("+1415", "without any details"),
    ({}, "no phone number"),
    ({"phoneNumber": "   "}, "no phone number"),
    ({"phoneNumber": 4155550132}, "not text"),
    ({"phoneNumber": "x" * 300}, "too long"),
    ({"phoneNumber": "+1415\r\nVia: evil"}, "control characters"),
    ({"phoneNumber": "+1415", "x": {1: 2}}, "non-text key"),
])
def test_parse_dial_number_refuses_bad_payloads(payload: object, message: str) -> None:
    with pytest.raises(SdkPayloadError, match=message):
        sdk.parse_dial_number(payload)


@pytest.mark.parametrize("code, expected", [("gb", "GB"), ("DE", "DE"), ("+44", None), ("", None), (44, None),
                                            ("USA", None)])
def test_country_code_only_when_it_is_a_region(code: object, expected: str | None) -> None:
    assert sdk.parse_dial_number({"phoneNumber": "020 7946 0958", "countryCode": code}).country == expected


def test_too_deep_context_is_refused() -> None:
    deep: dict[str, object] = {"phoneNumber": "+1"}
    cur = deep
    for _ in range(12):
        nxt: dict[str, object] = {}
        cur["n"] = nxt
        cur = nxt
    with pytest.raises(SdkPayloadError, match="nested"):
        sdk.parse_dial_number(deep)


def test_fingerprint_is_stable_and_per_click() -> None:
    a = sdk.parse_dial_number(CONTEXT)
    b = sdk.parse_dial_number(dict(reversed(list(CONTEXT.items()))))
    c = sdk.parse_dial_number({**CONTEXT, "startTimestamp": CONTEXT["startTimestamp"] + 1})  # type: ignore[operator]
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.target_key == c.target_key


# ------------------------------------------------------------------ other host payloads


@pytest.mark.parametrize("value, expected", [(123, 123), ("456", 456), (7.0, 7)])
def test_engagement_id_accepts_numbers(value: object, expected: int) -> None:
    assert sdk.parse_engagement_id(value) == expected


@pytest.mark.parametrize("value", [None, True, 0, -5, "12a", 1.5, 2**70, {}, "  "])
def test_engagement_id_refuses_nonsense(value: object) -> None:
    with pytest.raises(SdkPayloadError):
        sdk.parse_engagement_id(value)


def test_outcome_validation() -> None:
    guid = sdk.DEFAULT_OUTCOMES["Busy"]
    assert sdk.parse_outcome("hi", guid.upper()) == ("hi", guid)
    assert sdk.parse_outcome(None, None) == ("", "")
    with pytest.raises(SdkPayloadError, match="outcome"):
        sdk.parse_outcome("", "busy")
    with pytest.raises(SdkPayloadError, match="too long"):
        sdk.parse_outcome("x" * (sdk.MAX_NOTES + 1), "")
    with pytest.raises(SdkPayloadError):
        sdk.parse_outcome(5, "")


def test_caller_id_matches_are_parsed_and_cleaned() -> None:
    coords = {"portalId": 123456, "objectId": 501, "objectTypeId": "0-1"}
    data = {"callerIdMatches": [
        {"callerIdType": "CONTACT", "objectCoordinates": coords, "firstName": "Maya", "lastName": "Chen",
         "email": "maya@example.com"},
        {"callerIdType": "COMPANY", "objectCoordinates": {**coords, "objectId": "601", "objectTypeId": "0-2"},
         "name": "Northwind\x07 Traders"},
        {"callerIdType": "CONTACT", "objectCoordinates": {"portalId": 1}, "firstName": "No", "lastName": "Coords"},
        {"callerIdType": "TICKET", "objectCoordinates": coords, "name": "x"},
        "garbage",
    ]}
    matches = sdk.parse_caller_id_matches(data)
    assert [m.name for m in matches] == ["Maya Chen", "Northwind Traders"]
    assert matches[1].object_coordinates == {"portalId": 123456, "objectId": 601, "objectTypeId": "0-2"}
    assert sdk.describe(matches) == "Maya Chen (+1 more)"
    assert sdk.parse_caller_id_matches({"callerIdMatches": "no"}) == []
    assert sdk.parse_caller_id_matches(None) == []


# ------------------------------------------------------------------ widget -> host payloads


def test_outgoing_call_payload() -> None:
    s = snap(dialing_context=CONTEXT)
    msg = sdk.outgoing_call(s, from_number="+15551230000")
    assert msg.method == "outgoingCall"
    assert msg.data == {
        "createEngagement": True, "toNumber": "+14155550132", "fromNumber": "+15551230000",
        "callStartTime": int(T0.timestamp() * 1000), "externalCallId": "c1", "dialingContext": CONTEXT,
    }
    assert "dialingContext" not in sdk.outgoing_call(snap(), from_number="x").data


def test_incoming_answered_ended_payloads() -> None:
    s = snap(direction=Direction.INBOUND, state=CallState.INCOMING, local="+15551230000")
    assert sdk.incoming_call(s, to_number="fallback").data == {
        "createEngagement": True, "fromNumber": "+14155550132", "toNumber": "+15551230000",
        "callStartTime": int(T0.timestamp() * 1000), "externalCallId": "c1"}
    assert sdk.incoming_call(dataclasses.replace(s, local=""), to_number="rep").data["toNumber"] == "rep"
    assert sdk.call_answered(s).data == {"externalCallId": "c1"}
    e = ended(s, CallEndStatus.MISSED, answered=False)
    assert sdk.call_ended(e, 99).data == {"externalCallId": "c1", "callEndStatus": "MISSED", "engagementId": 99}
    assert "engagementId" not in sdk.call_ended(e, None).data


@pytest.mark.parametrize("status, hs_status, suggested", [
    (CallEndStatus.COMPLETED, "COMPLETED", "Connected"),
    (CallEndStatus.BUSY, "BUSY", "Busy"),
    (CallEndStatus.NO_ANSWER, "NO_ANSWER", "No answer"),
    (CallEndStatus.CANCELED, "CANCELED", None),
    (CallEndStatus.FAILED, "FAILED", None),
    (CallEndStatus.REJECTED, "BUSY", "Busy"),
    (CallEndStatus.MISSED, "NO_ANSWER", "No answer"),
])
def test_end_status_mapping(status: CallEndStatus, hs_status: str, suggested: str | None) -> None:
    e = ended(snap(), status, answered=status is CallEndStatus.COMPLETED)
    props = sdk.engagement_properties(e, own_number="+15551230000")
    assert props["hs_call_status"] == hs_status
    assert sdk.suggested_outcome(e) == (sdk.DEFAULT_OUTCOMES[suggested] if suggested else "")


def test_call_completed_payload_escapes_notes() -> None:
    e = ended(snap(), CallEndStatus.COMPLETED, talk_s=42.5)
    msg = sdk.call_completed(e, 777, own_number="+15551230000", hide_widget=False,
                             notes="Budget <approved>\n& next call Tuesday",
                             disposition=sdk.DEFAULT_OUTCOMES["Connected"])
    assert msg.method == "callCompleted"
    assert msg.data["engagementId"] == 777 and msg.data["externalCallId"] == "c1"
    assert msg.data["hideWidget"] is False
    props = msg.data["engagementProperties"]
    assert props == {
        "hs_timestamp": str(int(T0.timestamp() * 1000)),
        "hs_call_direction": "OUTBOUND",
        "hs_call_duration": "42500",
        "hs_call_from_number": "+15551230000",
        "hs_call_to_number": "+14155550132",
        "hs_call_status": "COMPLETED",
        "hs_call_body": "Budget &lt;approved&gt;<br>&amp; next call Tuesday",
        "hs_call_disposition": sdk.DEFAULT_OUTCOMES["Connected"],
    }
    inbound = ended(snap(direction=Direction.INBOUND, local="+15551230000"), CallEndStatus.MISSED, answered=False)
    p2 = sdk.engagement_properties(inbound, own_number="rep")
    assert (p2["hs_call_direction"], p2["hs_call_from_number"], p2["hs_call_to_number"], p2["hs_call_duration"]) == \
        ("INBOUND", "+14155550132", "+15551230000", "0")
    assert "hs_call_body" not in p2


def test_initialized_and_error_payloads() -> None:
    assert sdk.initialized(logged_in=True, available=False).data == {"isLoggedIn": True, "isAvailable": False}
    assert sdk.initialized(logged_in=False, available=True, engagement_id=5).data["engagementId"] == 5
    assert sdk.send_error("x" * 900).data == {"message": "x" * 500}
    assert sdk.SdkMessage("a", {}, "c").to_json() == {"type": "sdk", "method": "a", "data": {}, "call_id": "c"}


# ------------------------------------------------------------------ dedupe


def test_deduper_same_click_and_double_click() -> None:
    d = DialDeduper()
    first = sdk.parse_dial_number(CONTEXT)
    assert d.duplicate_of(first, 100.0) is None
    d.remember(first, "call-1", 100.0)
    second_click = sdk.parse_dial_number({**CONTEXT, "startTimestamp": 1})
    assert d.duplicate_of(second_click, 102.0) == "call-1"           # double click, new timestamp
    assert d.duplicate_of(second_click, 104.0) is None               # a deliberate redial later
    assert d.duplicate_of(first, 130.0) == "call-1"                  # the same click re-delivered
    assert d.duplicate_of(first, 161.0) is None                      # the click is forgotten after a minute
    d.remember(first, "call-2", 200.0)
    d.forget(first)
    assert d.duplicate_of(first, 200.5) is None                      # a refused dial may be retried
    d.remember(second_click, "call-3", 300.0)
    third_click = sdk.parse_dial_number({**CONTEXT, "startTimestamp": 2})
    assert d.duplicate_of(third_click, 301.0, in_progress=lambda c: True) == "call-3"
    assert d.duplicate_of(third_click, 301.0, in_progress=lambda c: False) is None   # ended: a real redial


# ------------------------------------------------------------------ the ledger


def ledger() -> CallLedger:
    return CallLedger(own_number=lambda s: "+15551230000", hide_widget=True)


def test_ledger_sends_each_message_once_in_order() -> None:
    led = ledger()
    s = snap(dialing_context=CONTEXT)
    led.observe(s)
    assert [m.method for m in led.owed("c1")] == ["outgoingCall"]
    assert led.owed("c1") == []
    rec = led.engagement_created(None, 4242)
    assert rec is not None and rec.engagement_id == 4242
    est = dataclasses.replace(s, state=CallState.ESTABLISHED, answered_at=T0 + timedelta(seconds=2))
    led.observe(est)
    led.observe(est)
    assert [m.method for m in led.owed("c1")] == ["callAnswered"]
    done = ended(s, CallEndStatus.COMPLETED)
    led.observe(done)
    owed = led.owed("c1")
    assert [m.method for m in owed] == ["callEnded"]
    assert owed[0].data["engagementId"] == 4242
    assert led.awaiting_completion() == [led.get("c1")]
    completed = led.complete("c1", notes="ok", disposition=sdk.DEFAULT_OUTCOMES["Connected"])
    assert completed is not None and completed.data["engagementId"] == 4242 and completed.data["hideWidget"] is True
    assert led.complete("c1") is None
    assert led.owed("c1") == []


def test_ledger_catch_up_after_missing_owner() -> None:
    """Nobody could deliver while the call progressed: the first owner gets start, answer and end at once."""
    led = ledger()
    s = snap()
    led.observe(s)
    led.observe(dataclasses.replace(s, state=CallState.ESTABLISHED, answered_at=T0))
    assert [m.method for m in led.owed("c1")] == ["outgoingCall", "callAnswered"]


def test_call_unknown_to_hubspot_is_dropped_when_it_ends() -> None:
    led = ledger()
    s = snap()
    led.observe(s)
    assert led.observe(ended(s, CallEndStatus.BUSY, answered=False)) is None
    assert led.get("c1") is None and led.owed("c1") == [] and led.complete("c1") is None
    assert led.observe(ended(snap(call_id="c9"), CallEndStatus.FAILED, answered=False)) is None


def test_engagement_matching_prefers_external_call_id_then_owner() -> None:
    led = ledger()
    for cid, owner in (("a", "w1"), ("b", "w2")):
        led.observe(snap(call_id=cid))
        led.set_owner(cid, owner)
        led.owed(cid)
    rec_b = led.engagement_created("w2", 2)
    assert rec_b is not None and rec_b.call_id == "b"
    rec_a = led.engagement_created(None, 1, external_call_id="a")
    assert rec_a is not None and rec_a.call_id == "a"
    assert led.by_engagement(1) is rec_a
    assert led.engagement_created("w3", 3) is None
    assert led.engagement_failed("w1") is None          # a has its id already


def test_mark_completed_and_needs_rep() -> None:
    led = ledger()
    inbound = snap(direction=Direction.INBOUND, state=CallState.INCOMING)
    led.observe(inbound)
    led.owed("c1")
    led.observe(ended(inbound, CallEndStatus.MISSED, answered=False))
    rec = led.get("c1")
    assert rec is not None and not rec.needs_rep
    led.owed("c1")
    assert led.mark_completed("c1") is True
    assert led.mark_completed("c1") is False
    answered_in = ended(snap(call_id="c2", direction=Direction.INBOUND), CallEndStatus.COMPLETED)
    led.observe(snap(call_id="c2", direction=Direction.INBOUND, state=CallState.INCOMING))
    led.owed("c2")
    rec2 = led.observe(answered_in)
    assert rec2 is not None and rec2.needs_rep


def test_from_number_is_the_reps_phone_number_never_a_login_name() -> None:
    assert sdk.from_number("+14155550100", "rep") == "+14155550100"
    assert sdk.from_number(None, "+15551230000") == "+15551230000"
    assert sdk.from_number(None, "rep") is None
    assert sdk.from_number(None, "1001") is None
    e = ended(snap(), CallEndStatus.COMPLETED)
    out = sdk.outgoing_call(e, from_number=None).data
    assert "fromNumber" not in out
    assert "hs_call_from_number" not in sdk.engagement_properties(e, own_number=None)
    assert sdk.engagement_properties(e, own_number="+14155550100")["hs_call_from_number"] == "+14155550100"


def test_transferred_once_and_only_before_call_ended() -> None:
    led = ledger()
    led.observe(snap())
    assert led.transferred("c1") is None                    # HubSpot never heard of it
    led.owed("c1")
    msg = led.transferred("c1")
    assert msg is not None and (msg.method, msg.data) == ("callTransferred", {"externalCallId": "c1"})
    assert led.transferred("c1") is None
