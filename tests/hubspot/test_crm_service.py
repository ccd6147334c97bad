"""The CRM logging service on a real Phone (fake SIP port), real bus, history, outbox and widget hub, against the
local HTTPS server that enforces HubSpot's contract. Real SIP calls are in test_crm_calls.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from softphone.core.events import CallUpdated, Notice, SipIncomingCall, SipLegState
from softphone.hubspot.crm import CALL_TO_COMPANY, CALL_TO_CONTACT
from softphone.hubspot.events import CallerIdentified, CallLogged, CompletionUnconfirmed
from softphone.hubspot.logging_service import LoggingService
from softphone.hubspot.sdk import DEFAULT_OUTCOMES
from softphone.storage.outbox import FILENAME, Outbox
from softphone.widget.hub import WidgetHub
from tests.widget.support import FakeEngine, Widget, make_engine, ring_in, sip

from .conftest import CRM_TOKEN
from .crm_contract import READ, CrmContract

MAYA = "+14155550132"


class Rig:
    """An engine, the service under test and everything it published."""

    def __init__(self, tmp: Path, crm: CrmContract, token: str | None = CRM_TOKEN, **kw: Any) -> None:
        self.engine: FakeEngine = make_engine(tmp)
        self.engine.settings.hubspot.api_base_url = crm.base_url
        self.crm = crm
        self.token: str | None = token
        opts: dict[str, Any] = {"backoff_s": (0.05, 0.3), "index_lag_s": 0.4, "token_poll_s": 0.05,
                                "rejected_retry_s": 30.0, "lookup_timeout_s": 2.0}
        opts.update(kw)
        self.service = LoggingService(token_source=lambda: self.token, **opts)
        self.events: list[object] = []
        self.engine.bus.subscribe_all(self.events.append)
        self.sdk_calls: set[str] = set()
        self.engine.provide_sdk_log(self.sdk_calls.__contains__)

    async def start(self) -> Rig:
        await self.service.start(self.engine)
        return self

    async def stop(self) -> None:
        await self.service.stop()

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def history(self, call_id: str) -> dict[str, Any]:
        row = self.engine.history.get(call_id)
        assert row is not None
        return row

    def inbound(self, call_id: str, remote: str = MAYA, *, answer: bool = True) -> None:
        ring_in(self.engine, call_id, remote)
        if answer:
            sip(self.engine, call_id, SipLegState.CONFIRMED)
        sip(self.engine, call_id, SipLegState.DISCONNECTED, 200 if answer else 487)

    def outbound(self, number: str = MAYA) -> str:
        assert self.engine.phone is not None
        call_id = self.engine.phone.dial(number).call_id
        sip(self.engine, call_id, SipLegState.CONFIRMED)
        sip(self.engine, call_id, SipLegState.DISCONNECTED, 200)
        return call_id


async def until(pred: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def rig(tmp_path: Path, crm: CrmContract) -> Any:
    r = await Rig(tmp_path, crm).start()
    try:
        yield r
    finally:
        await r.stop()


def maya(crm: CrmContract) -> tuple[int, int]:
    acme = crm.add_company("Northwind Traders")
    return crm.add_contact("Maya", "Chen", phone="(415) 555-0132", company="Northwind Traders",
                           company_id=acme), acme


# ------------------------------------------------------------------------------------------ logging


async def test_outbound_call_no_widget_owned_is_logged_once_with_properties_and_associations(
        rig: Rig, crm: CrmContract) -> None:
    contact, company = maya(crm)
    call_id = rig.outbound()
    logged = await until(lambda: rig.of(CallLogged), "the call logged")
    [call] = crm.calls_for(call_id)
    p = call.properties
    assert (p["hs_call_direction"], p["hs_call_status"], p["hs_call_to_number"], p["hs_call_from_number"]) == (
        "OUTBOUND", "COMPLETED", MAYA, "+15551230000")
    assert p["hs_call_title"] == "Call to Maya Chen" and p["hs_call_duration"] == "0"
    assert p["hs_timestamp"].isdigit() and p["hs_call_external_id"] == call_id
    assert sorted((a["to"], a["id"], a["typeId"]) for a in call.associations) == [
        ("companies", company, CALL_TO_COMPANY), ("contacts", contact, CALL_TO_CONTACT)]
    assert logged == [CallLogged(call_id, call.id, True)]
    await until(lambda: rig.history(call_id)["engagement_id"] == call.id, "engagement id in history")
    assert len(crm.writes("POST")) == 1
    assert rig.service.outbox is not None and rig.service.outbox.counts()["pending"] == 0


async def test_missed_inbound_call_is_logged_as_inbound_no_answer(rig: Rig, crm: CrmContract) -> None:
    rig.inbound("in-1", answer=False)
    await until(lambda: rig.of(CallLogged), "the call logged")
    [call] = crm.calls_for("in-1")
    assert (call.properties["hs_call_direction"], call.properties["hs_call_status"]) == ("INBOUND", "NO_ANSWER")
    assert call.properties["hs_call_from_number"] == MAYA and call.properties["hs_call_to_number"] == "+15551230000"
    assert call.associations == []                       # nobody in HubSpot has that number
    assert call.properties["hs_call_title"] == "Call from +1 415-555-0132"


async def test_a_call_the_widget_logged_is_never_written_through_the_api(rig: Rig, crm: CrmContract) -> None:
    rig.sdk_calls.add("in-sdk")
    rig.inbound("in-sdk")
    rig.inbound("in-api")
    await until(lambda: rig.of(CallLogged), "the other call logged")
    assert crm.calls_for("in-sdk") == [] and len(crm.calls_for("in-api")) == 1
    assert rig.service.stats["sdk_logged"] == 1


async def test_notes_on_a_widget_logged_call_never_reach_the_api_and_demo_calls_are_not_logged(
        rig: Rig, crm: CrmContract) -> None:
    assert rig.engine.phone is not None
    rig.sdk_calls.add("in-sdk")
    rig.inbound("in-sdk")
    await asyncio.sleep(0.1)
    rig.sdk_calls.clear()                       # the hub may long have forgotten it when notes come
    rig.engine.phone.set_outcome("in-sdk", notes="Called back later")
    rig.engine.phone.handle(SipIncomingCall(call_id="demo-1", account="Demo line", remote="+14155550486"))
    sip(rig.engine, "demo-1", SipLegState.DISCONNECTED, 487)
    rig.inbound("in-api")
    await until(lambda: rig.of(CallLogged), "the real call logged")
    await asyncio.sleep(0.2)
    assert [c.properties["hs_call_external_id"] for c in crm.calls.values()] == ["in-api"]
    assert len(crm.of("POST", "/crm/v3/objects/contacts/search")) == 1    # the demo caller was not looked up


async def test_the_real_widget_hub_decides_which_calls_the_sdk_logged(tmp_path: Path, crm: CrmContract) -> None:
    """The engine answers ``sdk_logged`` from the widget hub's ledger: a call a ready widget session announced
    is the SDK's; one that ended while no session was ready is ours."""
    r = Rig(tmp_path, crm)
    hub = WidgetHub(r.engine)
    r.engine.provide_sdk_log(hub.sdk_logged)
    await r.start()
    try:
        r.inbound("before-widget")
        w = Widget(hub)
        await w.ready()
        r.inbound("with-widget")
        assert [m["data"]["externalCallId"] for m in w.sdk("incomingCall")] == ["with-widget"]
        await until(lambda: r.of(CallLogged), "the call no widget saw logged")
        await asyncio.sleep(0.2)
        assert len(crm.calls_for("before-widget")) == 1 and crm.calls_for("with-widget") == []
    finally:
        hub.close()
        await r.stop()


async def test_notes_added_later_update_the_same_engagement(rig: Rig, crm: CrmContract) -> None:
    call_id = rig.outbound()
    await until(lambda: rig.of(CallLogged), "the call logged")
    assert rig.engine.phone is not None
    rig.engine.phone.set_outcome(call_id, notes="Budget approved\nSend <the> quote",
                                 disposition=DEFAULT_OUTCOMES["Left live message"])
    await until(lambda: len(rig.of(CallLogged)) == 2, "the update")
    [call] = crm.calls_for(call_id)
    assert call.properties["hs_call_body"] == "Budget approved<br>Send &lt;the&gt; quote"
    assert call.properties["hs_call_disposition"] == DEFAULT_OUTCOMES["Left live message"]
    assert len(crm.writes("POST")) == 1 and len(crm.writes("PATCH")) == 1
    assert rig.of(CallLogged)[-1] == CallLogged(call_id, call.id, False)
    assert rig.history(call_id)["engagement_id"] == call.id


async def test_notes_a_closing_tab_sent_are_written_to_the_sdk_engagement_too(rig: Rig, crm: CrmContract) -> None:
    """A closing page's callCompleted may be lost (CompletionUnconfirmed): the panel's two properties go to
    HubSpot's own engagement as an update, a later edit updates it again, nothing is ever created, and an
    engagement HubSpot does not have is dropped without troubling the rep."""
    assert rig.engine.phone is not None
    rig.sdk_calls.add("in-sdk")
    rig.inbound("in-sdk")
    crm.add_call(7001, {"hs_call_title": "Call from Maya Chen", "hs_call_status": "COMPLETED"})
    live = DEFAULT_OUTCOMES["Left live message"]
    rig.engine.phone.set_outcome("in-sdk", notes="Budget approved", disposition=live)   # the hub stores it
    rig.engine.bus.publish(CompletionUnconfirmed("in-sdk", 7001, "Budget approved", live))   # then tells
    props = crm.calls[7001].properties
    await until(lambda: props.get("hs_call_body") == "Budget approved", "the notes on the engagement")
    assert props["hs_call_disposition"] == live
    assert props["hs_call_title"] == "Call from Maya Chen" and props["hs_call_status"] == "COMPLETED"
    assert await until(lambda: rig.of(CallLogged), "the answer") == [CallLogged("in-sdk", 7001, False)]
    rig.engine.phone.set_outcome("in-sdk", notes="Budget approved\nCall <Tuesday>")
    await until(lambda: props["hs_call_body"] == "Budget approved<br>Call &lt;Tuesday&gt;", "the edit")
    rig.engine.phone.set_outcome("in-sdk", notes="", disposition=live)
    await until(lambda: props["hs_call_body"] == "", "the notes cleared")
    assert props["hs_call_disposition"] == live
    await until(lambda: len(crm.writes("PATCH")) == 3, "the third update recorded")
    assert crm.writes("POST") == []
    assert all(set(w.body["properties"]) <= {"hs_call_body", "hs_call_disposition"} for w in crm.writes("PATCH"))

    rig.sdk_calls.add("in-gone")
    rig.inbound("in-gone")
    rig.engine.bus.publish(CompletionUnconfirmed("in-gone", 7999, "Never saved", ""))
    await until(lambda: crm.of("PATCH", "/crm/v3/objects/calls/7999"), "the update HubSpot refuses")
    outbox = rig.service.outbox
    assert outbox is not None
    await until(lambda: outbox.counts()["pending"] == 0, "the refused update dropped")
    await asyncio.sleep(0.2)
    assert rig.of(Notice) == [] and 7999 not in crm.calls and crm.writes("POST") == []
    assert len(crm.of("PATCH", "/crm/v3/objects/calls/7999")) == 1      # dropped, not retried


async def test_notes_a_closing_tab_sent_are_kept_local_when_not_connected(tmp_path: Path, crm: CrmContract) -> None:
    rig = await Rig(tmp_path, crm, token=None).start()
    try:
        rig.sdk_calls.add("in-sdk")
        rig.inbound("in-sdk")
        rig.engine.bus.publish(CompletionUnconfirmed("in-sdk", 7001, "Budget approved", ""))
        await asyncio.sleep(0.3)
        assert crm.requests == []
        assert rig.service.outbox is not None and rig.service.outbox.get("in-sdk") is None
    finally:
        await rig.stop()


# ------------------------------------------------------------------------------------------ outbox


async def test_hubspot_down_for_the_whole_call_then_back(rig: Rig, crm: CrmContract) -> None:
    crm.go_down()
    call_id = rig.outbound()
    outbox = rig.service.outbox
    assert outbox is not None
    await until(lambda: (lambda it: it is not None and it.attempts >= 2)(outbox.get(call_id)), "failed attempts")
    assert "Cannot reach HubSpot" in outbox.pending()[0].error and rig.of(Notice) == []
    crm.come_back()
    await until(lambda: rig.of(CallLogged), "the call logged after recovery")
    assert len(crm.calls_for(call_id)) == 1


async def test_5xx_and_timeouts_are_retried_without_duplicates(tmp_path: Path, crm: CrmContract) -> None:
    rig = await Rig(tmp_path, crm).start()
    try:
        crm.fail_next("POST", "/crm/v3/objects/calls", 502, times=2)
        call_id = rig.outbound()
        await until(lambda: rig.of(CallLogged), "logged after two 502s")
        assert len(crm.calls_for(call_id)) == 1
        assert [r.status for r in crm.writes("POST")] == [502, 502, 201]
    finally:
        await rig.stop()


async def test_a_create_whose_answer_was_lost_is_found_not_repeated(rig: Rig, crm: CrmContract) -> None:
    crm.search_lag_s = 0.3
    crm.lose_create_answers = 1
    call_id = rig.outbound()
    await until(lambda: rig.of(CallLogged), "the call logged")
    assert len(crm.calls_for(call_id)) == 1 and len(crm.writes("POST")) == 1
    assert rig.service.stats["found"] == 1
    searches = crm.of("POST", "/crm/v3/objects/calls/search")
    assert searches and searches[0].body["filterGroups"][0]["filters"][0] == {
        "propertyName": "hs_call_external_id", "operator": "EQ", "value": call_id}
    assert rig.history(call_id)["engagement_id"] == crm.calls_for(call_id)[0].id


async def test_restart_with_a_pending_outbox_logs_once(tmp_path: Path, crm: CrmContract) -> None:
    first = await Rig(tmp_path, crm).start()
    crm.go_down()
    call_id = first.outbound()
    outbox = first.service.outbox
    assert outbox is not None
    await until(lambda: outbox.pending() and outbox.pending()[0].attempts >= 1, "a failed attempt")
    await first.stop()
    crm.come_back()
    # the same data directory, a new engine
    second = Rig(tmp_path, crm)
    second.engine.history.close()
    second.engine = first.engine
    second.engine.bus.subscribe_all(second.events.append)
    await second.start()
    try:
        await until(lambda: second.of(CallLogged), "the call logged by the restarted service")
        assert len(crm.calls_for(call_id)) == 1
    finally:
        await second.stop()


async def test_crash_between_create_and_commit_never_makes_two_engagements(tmp_path: Path, crm: CrmContract) -> None:
    """The row is marked in doubt before the create is sent: after a crash the next engine looks first."""
    crm.search_lag_s = 0.2
    rig = Rig(tmp_path, crm)
    rig.engine.data_dir.mkdir(parents=True, exist_ok=True)
    # what a crash right after HubSpot created the call leaves behind: a queued row, in doubt, no id
    first = LoggingService(token_source=lambda: CRM_TOKEN)
    await first.start(rig.engine)
    crm.delay_answer[r"/crm/v3/objects/calls"] = 1.0
    call_id = rig.outbound()
    await until(lambda: crm.calls_for(call_id), "the create to reach HubSpot")
    await first.stop()                                   # the answer is never stored
    crm.delay_answer.clear()
    row = Outbox(rig.engine.data_dir / FILENAME).get(call_id)
    assert row is not None and row.in_doubt_since is not None and row.remote_id is None
    await rig.start()
    try:
        await until(lambda: rig.of(CallLogged), "the restarted service to settle the call")
        assert len(crm.calls_for(call_id)) == 1 and rig.service.stats["found"] == 1
    finally:
        await rig.stop()


async def test_429_storm_every_call_logged_and_retry_after_respected(rig: Rig, crm: CrmContract) -> None:
    crm.rate_limit = (4, 1.0)
    ids = [rig.outbound() for _ in range(12)]
    await until(lambda: len(rig.of(CallLogged)) == 12, "all 12 calls logged", timeout=30)
    assert all(len(crm.calls_for(i)) == 1 for i in ids)
    assert crm.rate_limited >= 1 and crm.early == 0


async def test_bad_token_tells_the_rep_and_loses_nothing(tmp_path: Path, crm: CrmContract) -> None:
    rig = await Rig(tmp_path, crm, token="pat-na1-revoked").start()
    try:
        ids = [rig.outbound() for _ in range(3)]
        notice = await until(lambda: rig.of(Notice), "a notice for the rep")
        assert len(notice) == 1 and notice[0].level == "error" and notice[0].code == "hubspot_auth"
        assert "HTTP 401" in notice[0].message and "softphone hubspot connect" in notice[0].message
        assert "pat-na1-revoked" not in notice[0].message
        await asyncio.sleep(0.3)
        sent = len(crm.requests)
        await asyncio.sleep(0.5)
        assert len(crm.requests) == sent                               # held: no request per call, no hammering
        assert rig.service.outbox is not None and len(rig.service.outbox.pending()) == 3
        rig.token = CRM_TOKEN                                          # `softphone hubspot connect`
        await until(lambda: len(rig.of(CallLogged)) == 3, "the kept calls logged")
        assert all(len(crm.calls_for(i)) == 1 for i in ids)
        assert rig.of(Notice)[-1].level == "info"
    finally:
        await rig.stop()


async def test_missing_scope_is_named_to_the_rep(tmp_path: Path, crm: CrmContract) -> None:
    crm.add_token("pat-read", {READ})
    rig = await Rig(tmp_path, crm, token="pat-read").start()
    try:
        rig.outbound()
        notice = await until(lambda: rig.of(Notice), "a notice")
        assert "crm.objects.contacts.write" in notice[0].message and notice[0].code == "hubspot_missing_scopes"
    finally:
        await rig.stop()


async def test_a_refused_call_is_kept_and_sent_once_its_data_is_fixed(rig: Rig, crm: CrmContract) -> None:
    assert rig.engine.phone is not None
    call_id = rig.engine.phone.dial(MAYA).call_id
    sip(rig.engine, call_id, SipLegState.CONFIRMED)
    rig.engine.phone.set_outcome(call_id, disposition="not-an-outcome-id")
    sip(rig.engine, call_id, SipLegState.DISCONNECTED, 200)
    notice = await until(lambda: rig.of(Notice), "the refusal told to the rep")
    assert notice[0].call_id == call_id and "HTTP 400" in notice[0].message
    assert "hs_call_disposition" in notice[0].message
    assert crm.calls_for(call_id) == []
    rig.engine.phone.set_outcome(call_id, disposition=DEFAULT_OUTCOMES["Connected"])
    await until(lambda: rig.of(CallLogged), "logged once fixed")
    assert crm.calls_for(call_id)[0].properties["hs_call_disposition"] == DEFAULT_OUTCOMES["Connected"]


async def test_not_connected_or_logging_off_writes_nothing(tmp_path: Path, crm: CrmContract) -> None:
    rig = await Rig(tmp_path / "a", crm, token=None).start()
    try:
        rig.outbound()
        await asyncio.sleep(0.3)
        assert crm.requests == [] and rig.service.describe()["hubspot_crm"]["connected"] is False
    finally:
        await rig.stop()
    rig = Rig(tmp_path / "b", crm)
    rig.engine.settings.hubspot.log_calls = False
    await rig.start()
    try:
        rig.outbound()
        await asyncio.sleep(0.3)
        assert crm.writes() == []
    finally:
        await rig.stop()


# ------------------------------------------------------------------------------------------ caller names


async def test_caller_identified_without_delaying_the_ring(rig: Rig, crm: CrmContract) -> None:
    contact, _ = maya(crm)
    crm.delay[r"/crm/v3/objects/contacts/search"] = 0.3
    ring_in(rig.engine, "in-1", MAYA)
    # the ring went out at once: the call is INCOMING and nothing is known of the caller yet
    assert rig.engine.sip.names()[-1] == "ring"                       # type: ignore[attr-defined]
    assert rig.of(CallerIdentified) == []
    [who] = await until(lambda: rig.of(CallerIdentified), "the caller's name")
    assert who == CallerIdentified("in-1", MAYA, "Maya Chen", "Northwind Traders", contact,
                                   f"https://app.hubspot.com/contacts/{crm.portal_id}/record/0-1/{contact}")
    states = [e.call.state.value for e in rig.events if isinstance(e, CallUpdated)]
    assert states == ["INCOMING"]                                     # named before it was answered
    assert who.to_json()["type"] == "caller"


async def test_lookups_are_cached_and_failures_are_silent(rig: Rig, crm: CrmContract) -> None:
    maya(crm)
    ring_in(rig.engine, "in-1", MAYA)
    await until(lambda: rig.of(CallerIdentified), "first lookup")
    ring_in(rig.engine, "in-2", MAYA)
    await until(lambda: len(rig.of(CallerIdentified)) == 2, "second, from the cache")
    assert len(crm.of("POST", "/crm/v3/objects/contacts/search")) == 1
    crm.fail_next("POST", "/crm/v3/objects/contacts/search", 500)
    ring_in(rig.engine, "in-3", "+14155550999")
    await until(lambda: len(crm.of("POST", "/crm/v3/objects/contacts/search")) == 2, "the failing lookup")
    await asyncio.sleep(0.1)
    assert len(rig.of(CallerIdentified)) == 2 and rig.of(Notice) == []
    crm.add_contact("Raj", "Patel", phone="+14155550888")
    crm.delay[r"/crm/v3/objects/contacts/search"] = 3.0               # slower than the lookup's bound (2 s)
    ring_in(rig.engine, "in-4", "+14155550888")
    await until(lambda: len(crm.of("POST", "/crm/v3/objects/contacts/search")) == 3, "the slow answer", 10)
    await asyncio.sleep(0.1)
    assert len(rig.of(CallerIdentified)) == 2 and rig.of(Notice) == []   # given up on: no late name
    crm.delay.clear()
    ring_in(rig.engine, "in-5", "+14155550888")                        # the answer did land in the cache
    await until(lambda: len(rig.of(CallerIdentified)) == 3, "the name from the cache")
    assert rig.of(CallerIdentified)[-1].name == "Raj Patel"
    assert len(crm.of("POST", "/crm/v3/objects/contacts/search")) == 3


async def test_outbound_calls_get_the_name_too_and_sip_uris_are_not_looked_up(rig: Rig, crm: CrmContract) -> None:
    maya(crm)
    assert rig.engine.phone is not None
    rig.engine.phone.dial(MAYA)
    [who] = await until(lambda: rig.of(CallerIdentified), "the callee's name")
    assert who.name == "Maya Chen"
    rig.engine.phone.dial("sip:alice@example.com")
    await asyncio.sleep(0.2)
    assert len(crm.of("POST", "/crm/v3/objects/contacts/search")) == 1
