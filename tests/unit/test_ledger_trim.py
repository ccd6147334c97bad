"""CallLedger keeps its memory bounded without forgetting what HubSpot is still owed.

Two rules: past ``keep`` records the oldest finished calls go first (never a live call, never one still waiting
for its ``callCompleted``); and of the completed calls only the last few stay, so late engagement ids and
duplicate completions from a widget still resolve.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from softphone.core.events import CallEndStatus, CallSnapshot, CallState, Direction
from softphone.hubspot.sdk import CallLedger

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)


def ledger(keep: int = 100) -> CallLedger:
    return CallLedger(own_number=lambda s: "+15551230000", keep=keep)


def call(cid: str) -> CallSnapshot:
    return CallSnapshot(call_id=cid, direction=Direction.OUTBOUND, account="Office", remote="+14155550132",
                        state=CallState.OUTGOING, started_at=T0)


def hang_up(s: CallSnapshot) -> CallSnapshot:
    return dataclasses.replace(s, state=CallState.TERMINATED, ended_at=T0 + timedelta(seconds=5),
                               end_status=CallEndStatus.NO_ANSWER)


def announced(led: CallLedger, cid: str) -> CallSnapshot:
    """A call HubSpot heard of (outgoingCall sent), still live."""
    s = call(cid)
    led.observe(s)
    assert [m.method for m in led.owed(cid)] == ["outgoingCall"]
    return s


def ended_unfinished(led: CallLedger, cid: str) -> None:
    """Ended and callEnded sent, callCompleted still owed."""
    s = announced(led, cid)
    led.observe(hang_up(s))
    assert [m.method for m in led.owed(cid)] == ["callEnded"]


def completed(led: CallLedger, cid: str, engagement_id: int) -> None:
    ended_unfinished(led, cid)
    assert led.engagement_created(None, engagement_id, external_call_id=cid) is not None
    assert led.complete(cid) is not None


def ids(led: CallLedger) -> list[str]:
    return [r.call_id for r in led.records()]


def test_past_keep_the_oldest_finished_call_goes_first_and_only_as_many_as_needed() -> None:
    led = ledger(keep=4)
    for n, cid in enumerate(("done0", "done1", "done2")):
        completed(led, cid, 100 + n)
    ended_unfinished(led, "owed")
    assert ids(led) == ["done0", "done1", "done2", "owed"]          # at keep: nothing dropped yet

    announced(led, "live1")                                           # one over: the oldest finished call goes
    assert ids(led) == ["done1", "done2", "owed", "live1"]
    assert led.by_engagement(100) is None and led.by_engagement(101) is not None

    announced(led, "live2")
    announced(led, "live3")
    assert ids(led) == ["owed", "live1", "live2", "live3"]


def test_live_calls_and_owed_completions_are_never_trimmed() -> None:
    led = ledger(keep=2)
    ended_unfinished(led, "owed")
    for cid in ("live1", "live2", "live3"):
        announced(led, cid)
    assert ids(led) == ["owed", "live1", "live2", "live3"]            # over keep, but all still needed
    assert [r.call_id for r in led.awaiting_completion()] == ["owed"]
    assert [r.call_id for r in led.live()] == ["live1", "live2", "live3"]


def test_only_the_last_ten_completed_calls_are_remembered() -> None:
    led = ledger()
    for n in range(12):
        completed(led, f"c{n}", 1000 + n)
    assert ids(led) == [f"c{n}" for n in range(2, 12)]
    assert led.by_engagement(1000) is None and led.by_engagement(1001) is None
    late = led.by_engagement(1002)                                    # a late id lookup still resolves
    assert late is not None and late.call_id == "c2"
    assert led.complete("c11") is None                                # a duplicate completion is refused
