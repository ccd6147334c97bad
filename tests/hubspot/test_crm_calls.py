"""Every call lands in HubSpot, on real parts: the real engine (`softphone serve` with the CRM service), real SIP
calls (sipp as callee and caller), the real CLI, and the HTTPS stand-in that enforces HubSpot's CRM contract."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from softphone.hubspot.crm import CALL_TO_COMPANY, CALL_TO_CONTACT
from tests.peers import Sipp, free_port, sipps, stop_all, wait_for

from .conftest import CRM_TOKEN
from .crm_contract import CrmContract
from .crm_peers import CrmEngine, crm_config, need, trunk

pytestmark = pytest.mark.integration

MAYA = "+14155550132"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
WIDGET_SCENARIOS = Path(__file__).resolve().parents[1] / "widget" / "scenarios"

MakeEngine = Callable[..., CrmEngine]


@pytest.fixture
def engines(tmp_path: Path, crm: CrmContract) -> Iterator[MakeEngine]:
    with stop_all() as started:
        def make(*accounts: str, token: str | None = CRM_TOKEN, sip_port: int = 0, name: str = "engine",
                 opts: dict[str, Any] | None = None, start: bool = True) -> CrmEngine:
            e = CrmEngine(tmp_path / name, crm_config(*accounts, crm=crm, sip_port=sip_port), crm, token=token,
                          opts=opts)
            started.append(e)
            return e.start() if start else e

        yield make


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    need("sipp")
    with sipps(tmp_path) as make:
        yield make


class SippCaller:
    """A sipp UAC calling the engine directly: a real inbound call from +14155550132."""

    def __init__(self, scenario: Path, target_port: int, workdir: Path) -> None:
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(scenario), f"127.0.0.1:{target_port}", "-s", "+15551230000", "-i", "127.0.0.1",
             "-p", str(free_port()), "-mp", str(free_port()), "-m", "1", "-nostdin", "-nd"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(5)


@pytest.fixture
def caller(tmp_path: Path) -> Iterator[Callable[[Path, int], SippCaller]]:
    need("sipp")
    started: list[SippCaller] = []

    def make(scenario: Path, port: int) -> SippCaller:
        c = SippCaller(scenario, port, tmp_path)
        started.append(c)
        return c

    try:
        yield make
    finally:
        for c in started:
            c.stop()


def maya(crm: CrmContract) -> tuple[int, int]:
    acme = crm.add_company("Northwind Traders")
    return crm.add_contact("Maya", "Chen", phone="(415) 555-0132", company="Northwind Traders",
                           company_id=acme), acme


def talk(eng: CrmEngine, number: str = MAYA) -> str:
    """A desktop-dialer call (`ctl dial`): answered by the peer, hung up by the rep."""
    call_id = str(eng.ctl("dial", number=number)["call_id"])
    eng.wait_state(call_id, "ESTABLISHED")
    eng.ctl("hangup", call_id=call_id)
    eng.wait_state(call_id, "TERMINATED")
    return call_id


def assoc(crm: CrmContract, call_id: str) -> list[tuple[str, int, int]]:
    [call] = crm.calls_for(call_id)
    return sorted((a["to"], a["id"], a["typeId"]) for a in call.associations)


# ------------------------------------------------------------------------------------------------ logging


def test_desktop_dialer_call_is_logged_once_with_properties_and_association(
        engines: MakeEngine, sipp: Callable[..., Sipp], crm: CrmContract) -> None:
    contact, company = maya(crm)
    peer = sipp("uas_answer")
    eng = engines(trunk(peer.port))
    call_id = str(eng.ctl("dial", number=MAYA)["call_id"])
    eng.wait_state(call_id, "ESTABLISHED")
    named = wait_for(lambda: [e for e in eng.of("caller") if e["call_id"] == call_id], 10, what="callee's name")
    assert (named[0]["name"], named[0]["company"]) == ("Maya Chen", "Northwind Traders")
    assert named[0]["record_url"] == f"https://app.hubspot.com/contacts/{crm.portal_id}/record/0-1/{contact}"
    # every surface (window call panel, toast) gets name, company and the record link with the call itself
    live = wait_for(lambda: [c for c in eng.status()["calls"] if c["call_id"] == call_id
                             and c["remote_company"] == "Northwind Traders"], 10, what="company on the call")
    assert (live[0]["remote_name"], live[0]["record_url"]) == ("Maya Chen", named[0]["record_url"])
    eng.ctl("hangup", call_id=call_id)
    row = eng.wait_logged(call_id)
    [call] = crm.calls_for(call_id)
    p = call.properties
    assert row["engagement_id"] == call.id and row["end_status"] == "COMPLETED"
    assert (p["hs_call_direction"], p["hs_call_status"], p["hs_call_to_number"], p["hs_call_from_number"]) == (
        "OUTBOUND", "COMPLETED", MAYA, "+15551230000")
    assert p["hs_call_title"] == "Call to Maya Chen" and p["hs_call_external_id"] == call_id
    assert int(p["hs_call_duration"]) == round(row["duration_s"] * 1000) and int(p["hs_call_duration"]) > 0
    assert assoc(crm, call_id) == [("companies", company, CALL_TO_COMPANY), ("contacts", contact, CALL_TO_CONTACT)]
    assert len(crm.writes()) == 1 and peer.invites() == 1
    assert [e["call_id"] for e in eng.of("call_logged")] == [call_id]
    assert eng.outbox()["pending"] == []


def test_inbound_call_with_no_hubspot_tab_is_named_before_answer_and_logged_inbound(
        engines: MakeEngine, sipp: Callable[..., Sipp], caller: Callable[[Path, int], SippCaller],
        crm: CrmContract) -> None:
    contact, company = maya(crm)
    sip_port = free_port()
    eng = engines(trunk(sipp("uas_answer").port), sip_port=sip_port)
    caller(SCENARIOS / "uac_answered.xml", sip_port)
    ringing = eng.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", 10, "the ring")
    call_id = ringing["call_id"]
    named = wait_for(lambda: [e for e in eng.of("caller") if e["call_id"] == call_id], 10, what="caller's name")
    assert named[0]["name"] == "Maya Chen" and named[0]["contact_id"] == contact
    # the name came while it was still ringing: nothing but INCOMING had been published for the call
    assert {c["state"] for c in eng.call_events(call_id)} == {"INCOMING"}
    eng.ctl("answer", call_id=call_id)
    eng.wait_state(call_id, "TERMINATED", timeout=15)               # the caller hangs up after 1.5 s
    row = eng.wait_logged(call_id)
    [call] = crm.calls_for(call_id)
    p = call.properties
    assert (p["hs_call_direction"], p["hs_call_status"], p["hs_call_from_number"], p["hs_call_to_number"]) == (
        "INBOUND", "COMPLETED", MAYA, "+15551230000")
    assert p["hs_call_title"] == "Call from Maya Chen" and row["engagement_id"] == call.id
    assert assoc(crm, call_id) == [("companies", company, CALL_TO_COMPANY), ("contacts", contact, CALL_TO_CONTACT)]


def test_missed_inbound_call_from_an_unknown_number_is_logged_as_missed(
        engines: MakeEngine, sipp: Callable[..., Sipp], caller: Callable[[Path, int], SippCaller],
        crm: CrmContract) -> None:
    sip_port = free_port()
    eng = engines(trunk(sipp("uas_answer").port), sip_port=sip_port)
    caller(WIDGET_SCENARIOS / "uac_ring_cancel.xml", sip_port)
    missed = eng.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "TERMINATED", 15, "missed")
    eng.wait_logged(missed["call_id"])
    [call] = crm.calls_for(missed["call_id"])
    assert (call.properties["hs_call_direction"], call.properties["hs_call_status"]) == ("INBOUND", "NO_ANSWER")
    assert call.associations == [] and eng.of("caller") == []


# ------------------------------------------------------------------------------------------ nothing lost


def test_api_down_for_the_whole_call_then_back(engines: MakeEngine, sipp: Callable[..., Sipp],
                                               crm: CrmContract) -> None:
    maya(crm)
    eng = engines(trunk(sipp("uas_answer").port))
    crm.go_down()
    try:
        call_id = talk(eng)
        waiting = wait_for(lambda: [r for r in eng.outbox()["pending"] if r["attempts"] >= 2], 15,
                           what="failed attempts in the outbox")
        assert waiting[0]["call_id"] == call_id and "Cannot reach HubSpot" in waiting[0]["why"]
        assert eng.of("notice") == []                                 # being offline is not the rep's problem
    finally:
        crm.come_back()
    eng.wait_logged(call_id)
    assert len(crm.calls_for(call_id)) == 1 and len(crm.writes("POST")) == 1


def test_engine_restarted_with_a_pending_outbox_logs_once(engines: MakeEngine, sipp: Callable[..., Sipp],
                                                          crm: CrmContract) -> None:
    eng = engines(trunk(sipp("uas_answer").port))
    crm.go_down()
    call_id = talk(eng)
    wait_for(lambda: eng.outbox()["pending"], 10, what="the call queued")
    eng.stop()
    crm.come_back()
    eng.start()
    eng.wait_logged(call_id)
    assert len(crm.calls_for(call_id)) == 1 and len(crm.writes("POST")) == 1
    assert eng.outbox()["pending"] == []


def test_crash_after_hubspot_created_the_call_never_makes_a_second_one(
        engines: MakeEngine, sipp: Callable[..., Sipp], crm: CrmContract) -> None:
    eng = engines(trunk(sipp("uas_answer").port))
    crm.delay_answer[r"/crm/v3/objects/calls"] = 5.0                 # created, the answer still on its way
    call_id = talk(eng)
    wait_for(lambda: crm.calls_for(call_id), 10, what="HubSpot to create the call")
    eng.kill()
    crm.delay_answer.clear()
    assert eng.outbox()["pending"][0]["why"].startswith("sent, answer not received")
    eng.start()
    eng.wait_logged(call_id)
    assert len(crm.calls_for(call_id)) == 1 and len(crm.writes("POST")) == 1
    found = crm.of("POST", "/crm/v3/objects/calls/search")
    assert found and found[-1].body["filterGroups"][0]["filters"][0]["value"] == call_id


def test_429_storm_every_call_logged_within_the_rate_limit(engines: MakeEngine, sipp: Callable[..., Sipp],
                                                           crm: CrmContract) -> None:
    maya(crm)
    crm.rate_limit = (3, 2.0)                                          # far below the client's own pacing
    eng = engines(trunk(sipp("uas_answer").port))
    ids = [talk(eng) for _ in range(8)]
    for call_id in ids:
        eng.wait_logged(call_id, timeout=60)
    assert all(len(crm.calls_for(i)) == 1 for i in ids)
    assert crm.rate_limited >= 1
    assert crm.early == 0                                               # nothing sent before Retry-After


def test_bad_token_tells_the_rep_and_loses_nothing(engines: MakeEngine, sipp: Callable[..., Sipp],
                                                   crm: CrmContract) -> None:
    eng = engines(trunk(sipp("uas_answer").port), token=None, start=False)
    eng.connect("pat-na1-revoked-token", check=False)
    eng.start()
    ids = [talk(eng), talk(eng)]
    notice = wait_for(lambda: [n for n in eng.of("notice") if n["code"] == "hubspot_auth"], 15,
                      what="the rep told")
    assert len(notice) == 1 and notice[0]["level"] == "error"
    assert "HTTP 401" in notice[0]["message"] and "softphone hubspot connect" in notice[0]["message"]
    assert "revoked-token" not in notice[0]["message"]
    pending = eng.outbox()["pending"]
    assert sorted(r["call_id"] for r in pending) == sorted(ids)
    assert any(r["why"].startswith("refused by HubSpot") for r in pending)
    assert crm.calls == {}
    eng.connect(CRM_TOKEN)                                             # the rep fixes it while the engine runs
    for call_id in ids:
        eng.wait_logged(call_id)
    assert all(len(crm.calls_for(i)) == 1 for i in ids)
    assert [n["level"] for n in eng.of("notice") if n["code"].startswith("hubspot")][-1] == "info"
    assert "revoked-token" not in eng.stderr_path.read_text() + "".join(
        p.read_text(errors="replace") for p in (eng.data_dir / "logs").glob("*") if p.is_file())


def test_headset_redial_is_logged(tmp_path: Path, sipp: Callable[..., Sipp], crm: CrmContract) -> None:
    """A call placed by the headset's redial button (a virtual HID headset on a socket) lands in HubSpot too."""
    from tests.headset.hidfixtures import PACKED_HEADSET
    from tests.headset.socket_hid import VirtualHeadset

    contact, _ = maya(crm)
    sock = Path(f"/tmp/sp-crm-hs-{os.getpid()}-{time.monotonic_ns()}.sock")     # short: AF_UNIX path limit
    descriptor = tmp_path / "packed.hex"
    descriptor.write_text(" ".join(f"{b:02x}" for b in PACKED_HEADSET))
    headset = VirtualHeadset(sock)
    eng = CrmEngine(tmp_path / "desk", crm_config(trunk(sipp("uas_answer").port), crm=crm), crm, token=CRM_TOKEN,
                    env={"SOFTPHONE_TEST_HID_SOCKET": str(sock), "SOFTPHONE_TEST_HID_DESCRIPTOR": str(descriptor)})
    eng.launch = ("tests.hubspot.crm_headset_serve",)
    try:
        eng.start()
        wait_for(lambda: headset.connected, 15, what="the engine to open the headset")
        first = talk(eng)                                             # the number redial will call again
        headset.send(bytes([2, 0b1000]))                               # Redial pressed
        redialled = eng.wait_call(lambda c: c["direction"] == "outbound" and c["call_id"] != first, 10,
                                  "the redialled call")
        call_id = redialled["call_id"]
        eng.wait_state(call_id, "ESTABLISHED")
        eng.ctl("hangup", call_id=call_id)
        eng.wait_logged(first)
        eng.wait_logged(call_id)
    finally:
        eng.stop()
        headset.close()
    [call] = crm.calls_for(call_id)
    assert (call.properties["hs_call_direction"], call.properties["hs_call_to_number"]) == ("OUTBOUND", MAYA)
    assert ("contacts", contact, CALL_TO_CONTACT) in assoc(crm, call_id)
    assert len(crm.writes("POST")) == 2
