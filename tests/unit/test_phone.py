"""The core phone with fakes at the SIP and timer boundaries: rules, not wiring."""

from __future__ import annotations

import pytest

from softphone.core.events import (
    CallEndStatus,
    CallState,
    CallUpdated,
    Notice,
    PhoneChanged,
    RegState,
    SipCallProgress,
    SipIncomingCall,
    SipLegState,
    SipRegistration,
)
from softphone.core.phone import AccountInfo, Phone
from softphone.errors import InvalidNumber, NoSuchCall, NotRegistered, UnknownAccount
from tests.fakes import FakeClock, FakeScheduler, FakeSip


@pytest.fixture
def world():
    sip, sched, clock, events = FakeSip(), FakeScheduler(), FakeClock(), []
    ids = iter(f"c{i}" for i in range(100))
    phone = Phone(sip, events.append, clock, lambda: next(ids), sched,
                  [AccountInfo("office", "pbx.example.com", has_registrar=True),
                   AccountInfo("trunk", "10.0.0.1", has_registrar=False)], no_answer_timeout_s=30)
    phone.handle(SipRegistration("office", RegState.REGISTERED, 200))
    return phone, sip, sched, clock, events


def prog(cid: str, leg: SipLegState, code: int | None = None) -> SipCallProgress:
    return SipCallProgress(cid, leg, code)


def final_status(events: list, cid: str) -> CallEndStatus | None:
    last = [e.call for e in events if isinstance(e, CallUpdated) and e.call.call_id == cid][-1]
    return last.end_status


def test_dial_answer_hangup_completed(world) -> None:
    phone, sip, _, clock, events = world
    snap = phone.dial("+1 415 555 2671")
    assert sip.sent[0] == ("make_call", "c0", "office", "sip:+14155552671@pbx.example.com")
    phone.handle(prog("c0", SipLegState.RINGING, 180))
    clock.advance(3)
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    assert phone.call("c0").state is CallState.ESTABLISHED
    clock.advance(42)
    phone.hangup()
    phone.handle(prog("c0", SipLegState.DISCONNECTED, 200))
    done = phone.call(snap.call_id)
    assert done.end_status is CallEndStatus.COMPLETED
    assert done.duration_s == 42.0
    assert phone.calls() == []


def test_invalid_number_never_reaches_sip(world) -> None:
    phone, sip, *_ = world
    with pytest.raises(InvalidNumber):
        phone.dial("sip:a@b\r\nX: y")
    assert sip.sent == []


def test_not_registered_refused(world) -> None:
    phone, sip, *_ = world
    phone.handle(SipRegistration("office", RegState.FAILED, 503, "Service Unavailable"))
    with pytest.raises(NotRegistered) as exc:
        phone.dial("+14155552671", account="office")
    assert "Service Unavailable" in exc.value.message
    assert sip.sent == []
    # direct (no registrar) account still works and the default falls back to it
    phone.dial("+14155552671")
    assert sip.sent[0][2] == "trunk"


def test_unknown_account(world) -> None:
    with pytest.raises(UnknownAccount):
        world[0].dial("+14155552671", account="nope")


def test_cancel_while_ringing_is_canceled(world) -> None:
    phone, sip, _, _, events = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.RINGING, 180))
    phone.hangup()
    assert sip.sent[-1] == ("hangup", "c0")
    phone.handle(prog("c0", SipLegState.DISCONNECTED, 487))
    assert final_status(events, "c0") is CallEndStatus.CANCELED


def test_no_answer_timer(world) -> None:
    phone, sip, sched, _, events = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.RINGING, 180))
    sched.fire_all()
    assert sip.sent[-1] == ("hangup", "c0")
    phone.handle(prog("c0", SipLegState.DISCONNECTED, 487))
    assert final_status(events, "c0") is CallEndStatus.NO_ANSWER


def test_timer_cancelled_on_answer(world) -> None:
    phone, _, sched, _, _ = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    assert sched.pending == []


@pytest.mark.parametrize(("code", "status"), [(486, CallEndStatus.BUSY), (603, CallEndStatus.REJECTED),
                                              (480, CallEndStatus.NO_ANSWER), (503, CallEndStatus.FAILED)])
def test_failures(world, code: int, status: CallEndStatus) -> None:
    phone, _, _, _, events = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.DISCONNECTED, code))
    assert final_status(events, "c0") is status
    notices = [e for e in events if isinstance(e, Notice)]
    assert bool(notices) is (status is CallEndStatus.FAILED)


def test_inbound_missed_and_declined(world) -> None:
    phone, sip, _, _, events = world
    phone.handle(SipIncomingCall("in1", "office", "+14155550000", "Bob"))
    assert sip.sent[-1] == ("ring", "in1")
    phone.handle(prog("in1", SipLegState.DISCONNECTED, 487))
    assert final_status(events, "in1") is CallEndStatus.MISSED
    phone.handle(SipIncomingCall("in2", "office", "+14155550000"))
    phone.decline()
    assert sip.sent[-1] == ("hangup", "in2", "603")
    phone.handle(prog("in2", SipLegState.DISCONNECTED, 603))
    assert final_status(events, "in2") is CallEndStatus.REJECTED


def test_call_waiting_answer_holds_first(world) -> None:
    phone, sip, _, _, _ = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    phone.handle(SipIncomingCall("in1", "office", "+14155550000"))
    phone.answer("in1")
    assert ("hold", "c0") in sip.sent
    assert sip.names()[-1] == "answer"
    assert phone.call("c0").state is CallState.HELD
    phone.handle(prog("in1", SipLegState.CONFIRMED, 200))
    phone.swap()
    assert phone.call("c0").state is CallState.ESTABLISHED
    assert phone.call("in1").state is CallState.HELD


def test_dnd_rejects_inbound_as_missed(world) -> None:
    phone, sip, _, _, events = world
    phone.set_available(False)
    phone.handle(SipIncomingCall("in1", "office", "+14155550000"))
    assert sip.sent[-1] == ("hangup", "in1", "486")
    phone.handle(prog("in1", SipLegState.DISCONNECTED, 486))
    assert final_status(events, "in1") is CallEndStatus.MISSED


def test_commands_without_call(world) -> None:
    phone = world[0]
    for fn in (phone.hangup, phone.answer, phone.hold, phone.resume, phone.swap):
        with pytest.raises(NoSuchCall):
            fn()
    with pytest.raises(InvalidNumber):
        phone.dtmf("12x")


def test_mute_and_dtmf(world) -> None:
    phone, sip, *_ = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    assert phone.mute(True).muted
    assert sip.sent[-1] == ("set_mute", "c0", "True")
    phone.dtmf("12#")
    assert sip.sent[-1] == ("send_dtmf", "c0", "12#", "rfc4733")


def test_transfer_blind_and_attended(world) -> None:
    phone, sip, *_ = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    phone.transfer("+14155550001")
    assert sip.sent[-1] == ("transfer", "c0", "sip:+14155550001@pbx.example.com")
    phone.dial("+14155550002")  # consultation call holds the first
    phone.handle(prog("c1", SipLegState.CONFIRMED, 200))
    phone.transfer("c1", call_id="c0")
    assert sip.sent[-1] == ("transfer_attended", "c0", "c1")


def test_illegal_transition_ignored(world) -> None:
    phone, *_ = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    phone.handle(prog("c0", SipLegState.RINGING, 180))  # late provisional: ignored
    assert phone.call("c0").state is CallState.ESTABLISHED


def test_inbound_ring_timeout_ends_as_missed(world) -> None:
    phone, sip, sched, _, events = world
    phone.handle(SipIncomingCall("in1", "office", "+14155550000"))
    assert sip.sent[-1] == ("ring", "in1")
    sched.fire_all()  # nobody answered within inbound_ring_timeout_s
    assert sip.sent[-1] == ("hangup", "in1", "480")
    phone.handle(prog("in1", SipLegState.DISCONNECTED, 480))
    assert final_status(events, "in1") is CallEndStatus.MISSED


def test_answered_inbound_call_has_no_ring_timer_left(world) -> None:
    phone, sip, sched, _, _ = world
    phone.handle(SipIncomingCall("in1", "office", "+14155550000"))
    phone.answer("in1")
    phone.handle(prog("in1", SipLegState.CONFIRMED, 200))
    sched.fire_all()
    assert sip.names()[-1] == "answer"


def test_dnd_refused_call_starts_no_ring_timer(world) -> None:
    phone, sip, sched, _, _ = world
    phone.set_available(False)
    phone.handle(SipIncomingCall("in1", "office", "+14155550000"))
    assert sched.pending == []
    assert "ring" not in sip.names()


def test_foreground_is_published_once_per_change(world) -> None:
    phone, _, _, _, events = world

    def summaries() -> list[PhoneChanged]:
        return [e for e in events if isinstance(e, PhoneChanged)]

    base = len(summaries())
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    phone.dial("+14155552672")          # holds c0; the new call is in front
    phone.handle(prog("c1", SipLegState.CONFIRMED, 200))
    got = [s.foreground_call_id for s in summaries()[base:]]
    assert got == ["c0", "c1"]          # no repeats: published only when it changes
    assert phone.status()["foreground_call_id"] == "c1"
    phone.hangup()                      # a bare hang-up ends the foreground call
    phone.handle(prog("c1", SipLegState.DISCONNECTED, 200))
    assert phone.call("c1").state is CallState.TERMINATED
    assert summaries()[-1].foreground_call_id == "c0"
    assert summaries()[-1].logged_in is True


def test_foreground_prefers_newest_among_equals() -> None:
    from datetime import datetime, timezone

    from softphone.core.call import foreground
    from softphone.core.events import CallSnapshot, Direction

    t = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def snap(cid: str, state: CallState) -> CallSnapshot:
        return CallSnapshot(cid, Direction.INBOUND, "a", "+1", state, t)

    calls = [snap("old", CallState.HELD), snap("mid", CallState.HELD), snap("ring", CallState.INCOMING)]
    fg = foreground(calls)
    assert fg is not None and fg.call_id == "mid"
    calls.append(snap("talk", CallState.ESTABLISHED))
    fg = foreground(calls)
    assert fg is not None and fg.call_id == "talk"
    assert foreground([snap("x", CallState.TERMINATED)]) is None


def test_hold_and_resume_follow_the_state_table(world) -> None:
    from softphone.core.call import IllegalTransition, hold_state, resume_state

    phone, sip, *_ = world
    phone.dial("+14155552671")
    with pytest.raises(NoSuchCall):
        phone.hold()                    # still ringing: nothing to hold
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    assert phone.hold().state is CallState.HELD
    assert phone.resume().state is CallState.ESTABLISHED
    assert sip.names()[-2:] == ["hold", "resume"]
    with pytest.raises(IllegalTransition):
        hold_state(CallState.RINGING)
    with pytest.raises(IllegalTransition):
        resume_state(CallState.ESTABLISHED)


def test_a_call_arriving_with_every_line_in_use_is_recorded(world) -> None:
    from softphone.core.phone import MAX_CALLS

    phone, sip, _, _, events = world
    for i in range(MAX_CALLS):
        phone.handle(SipIncomingCall(f"in{i}", "office", f"+1415555010{i}"))
    phone.handle(SipIncomingCall("late", "office", "+14155550199"))
    assert sip.sent[-1] == ("hangup", "late", "486")
    phone.handle(prog("late", SipLegState.DISCONNECTED, 486))
    last = [e.call for e in events if isinstance(e, CallUpdated) and e.call.call_id == "late"][-1]
    assert last.end_status is CallEndStatus.MISSED and "lines were in use" in last.reason


def test_accepted_transfer_is_published_before_the_call_ends(world) -> None:
    from softphone.core.events import CallTransferred, SipTransferProgress

    phone, sip, _, _, events = world
    phone.dial("+14155552671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    phone.transfer("+1 415 555 0001")
    phone.handle(SipTransferProgress("c0", 100, False))
    assert not [e for e in events if isinstance(e, CallTransferred)]
    phone.handle(SipTransferProgress("c0", 200, True))
    assert [e for e in events if isinstance(e, CallTransferred)] == [CallTransferred("c0", "+14155550001", False)]
    assert sip.sent[-1] == ("hangup", "c0")


def test_call_lost_after_a_network_change_ends_failed_with_the_reason(world) -> None:
    """An answered call the network could not move is hung up (BYE) and ends FAILED, not COMPLETED, with the
    reason the rep reads; one notice says so (no second "failed: SIP 200" notice)."""
    from softphone.core.events import SipConnectionLost

    phone, sip, _, _, events = world
    phone.dial("+1 415 555 2671")
    phone.handle(prog("c0", SipLegState.CONFIRMED, 200))
    phone.handle(SipConnectionLost("c0", "The network changed and the call could not be moved"))
    assert sip.sent[-1][:2] == ("hangup", "c0")
    phone.handle(prog("c0", SipLegState.DISCONNECTED, 200))
    done = phone.call("c0")
    assert done.end_status is CallEndStatus.FAILED
    assert "network" in done.reason
    assert [n.code for n in events if isinstance(n, Notice)] == ["call_lost"]


def test_a_network_change_is_told(world) -> None:
    from softphone.core.events import SipNetworkChanged

    phone, _, _, _, events = world
    phone.handle(SipNetworkChanged("rep: 198.51.100.1:5060 -> 198.51.100.1:40000"))
    assert [n.code for n in events if isinstance(n, Notice)] == ["network_changed"]
