"""Call state <-> LEDs and headset requests -> commands (pure)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from softphone.core.events import CallSnapshot, CallState, Direction
from softphone.headset.decode import FlashPressed, HookSwitch, LedState, MuteSwitch, RedialPressed
from softphone.headset.machine import Command, HeadsetMachine

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
S = CallState


def snap(cid: str, state: CallState, *, direction: Direction = Direction.INBOUND, muted: bool = False,
         remote: str = "+15551230000", account: str = "desk") -> CallSnapshot:
    return CallSnapshot(call_id=cid, direction=direction, account=account, remote=remote, state=state,
                        started_at=T0, muted=muted, held=state is S.HELD)


def machine(*calls: CallSnapshot) -> HeadsetMachine:
    m = HeadsetMachine()
    for c in calls:
        m.on_call(c)
    return m


@pytest.mark.parametrize(("calls", "leds"), [
    ((), LedState()),
    ((snap("a", S.INCOMING),), LedState(ring=True)),
    ((snap("a", S.OUTGOING, direction=Direction.OUTBOUND),), LedState(off_hook=True)),
    ((snap("a", S.ESTABLISHED, muted=True),), LedState(off_hook=True, mute=True)),
    # never clear Off-Hook because the only call is held
    ((snap("a", S.HELD),), LedState(off_hook=True, hold=True)),
    ((snap("a", S.ESTABLISHED), snap("b", S.INCOMING)), LedState(off_hook=True, ring=True)),
    ((snap("a", S.HELD, muted=True), snap("b", S.ESTABLISHED)), LedState(off_hook=True, hold=True)),
    ((snap("a", S.ESTABLISHED), snap("a", S.TERMINATED)), LedState()),
])
def test_leds_from_calls(calls: tuple[CallSnapshot, ...], leds: LedState) -> None:
    assert machine(*calls).leds == leds


def test_hook_answers_then_second_hook_event_declines_while_still_ringing() -> None:
    m = machine(snap("a", S.INCOMING))
    assert m.on_event(HookSwitch(True)) == [Command("answer", {"call_id": "a"})]
    assert m.leds == LedState(off_hook=True)              # optimistic: headsets following Off-Hook stay up
    assert m.on_event(HookSwitch(False)) == [Command("decline", {"call_id": "a"})]
    assert m.leds == LedState()


def test_second_off_hook_request_while_answering_also_declines() -> None:
    m = machine(snap("a", S.INCOMING))
    m.on_event(HookSwitch(True))
    assert m.on_event(HookSwitch(True)) == [Command("decline", {"call_id": "a"})]


def test_hook_on_established_call_hangs_up() -> None:
    m = machine(snap("a", S.INCOMING))
    m.on_event(HookSwitch(True))
    m.on_call(snap("a", S.ESTABLISHED))
    assert m.on_event(HookSwitch(False)) == [Command("hangup", {"call_id": "a"})]
    assert m.leds == LedState()
    m.on_call(snap("a", S.TERMINATED))
    assert m.leds == LedState()
    assert m.on_event(HookSwitch(False)) == []


def test_hook_prefers_established_over_held() -> None:
    m = machine(snap("h", S.HELD), snap("e", S.ESTABLISHED))
    assert m.on_event(HookSwitch(False)) == [Command("hangup", {"call_id": "e"})]
    assert m.leds == LedState(off_hook=True, hold=True)     # the held call keeps Off-Hook lit
    assert m.on_event(HookSwitch(False)) == [Command("hangup", {"call_id": "h"})]


def test_off_hook_with_nothing_ringing_does_nothing() -> None:
    assert machine().on_event(HookSwitch(True)) == []
    assert machine(snap("a", S.ESTABLISHED)).on_event(HookSwitch(True)) == []


def test_mute_targets_the_foreground_call_and_is_optimistic() -> None:
    m = machine(snap("h", S.HELD), snap("e", S.ESTABLISHED))
    assert m.on_event(MuteSwitch(True)) == [Command("mute", {"call_id": "e", "muted": True})]
    assert m.leds.mute
    assert m.on_event(MuteSwitch(True)) == []                 # already asked
    m.on_call(snap("e", S.ESTABLISHED, muted=True))
    assert m.on_event(MuteSwitch(False)) == [Command("mute", {"call_id": "e", "muted": False})]
    assert machine().on_event(MuteSwitch(True)) == []


def test_mute_changed_elsewhere_is_mirrored() -> None:
    m = machine(snap("a", S.ESTABLISHED))
    assert m.on_call(snap("a", S.ESTABLISHED, muted=True)).mute      # app / widget muted
    assert m.on_event(MuteSwitch(True)) == []                         # headset agrees: nothing to do


@pytest.mark.parametrize(("calls", "expected"), [
    ((snap("a", S.ESTABLISHED),), [Command("hold", {"call_id": "a"})]),
    ((snap("a", S.HELD),), [Command("resume", {"call_id": "a"})]),
    ((snap("a", S.HELD), snap("b", S.ESTABLISHED)), [Command("swap")]),
    ((snap("a", S.ESTABLISHED), snap("b", S.INCOMING)), [Command("answer", {"call_id": "b"})]),
    ((snap("a", S.INCOMING),), []),
    ((), []),
])
def test_flash(calls: tuple[CallSnapshot, ...], expected: list[Command]) -> None:
    assert machine(*calls).on_event(FlashPressed()) == expected


def test_redial_uses_last_outbound_number() -> None:
    m = HeadsetMachine(last_dialed=("+15550001111", None))
    assert m.on_event(RedialPressed()) == [Command("dial", {"number": "+15550001111"})]
    m.on_call(snap("o", S.OUTGOING, direction=Direction.OUTBOUND, remote="+15552223333", account="Demo line"))
    assert m.on_event(RedialPressed()) == []                           # busy with a call
    m.on_call(dataclasses.replace(snap("o", S.TERMINATED, direction=Direction.OUTBOUND, remote="+15552223333",
                                       account="Demo line")))
    assert m.on_event(RedialPressed()) == [Command("dial", {"number": "+15552223333", "account": "Demo line"})]
    assert HeadsetMachine().on_event(RedialPressed()) == []


def test_failed_command_restores_real_state() -> None:
    m = machine(snap("a", S.INCOMING))
    cmd = m.on_event(HookSwitch(True))[0]
    assert m.command_failed(cmd) == LedState(ring=True)
    m2 = machine(snap("a", S.ESTABLISHED))
    cmd = m2.on_event(HookSwitch(False))[0]
    assert m2.command_failed(cmd) == LedState(off_hook=True)
    cmd = m2.on_event(MuteSwitch(True))[0]
    assert m2.command_failed(cmd) == LedState(off_hook=True)


def test_call_waiting_answer_keeps_off_hook_and_stops_ring() -> None:
    m = machine(snap("a", S.ESTABLISHED), snap("b", S.INCOMING))
    assert m.on_event(HookSwitch(True)) == [Command("answer", {"call_id": "b"})]
    assert m.leds == LedState(off_hook=True)
    m.on_call(snap("a", S.HELD))
    m.on_call(snap("b", S.ESTABLISHED))
    assert m.leds == LedState(off_hook=True, hold=True)
