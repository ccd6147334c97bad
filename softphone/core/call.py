"""Call state machine as data (h11-style): a transition table, illegal moves raise and change nothing.

Every state change of a call goes through here: SIP reports (``next_state``) and the rep's hold/resume
(``hold_state`` / ``resume_state``). The "foreground call" rule — which call a bare hang-up, mute or DTMF acts
on — is here too, so the engine, the headset, the window and the widget can never disagree about it.
"""

from __future__ import annotations

from collections.abc import Iterable

from softphone.core.events import CallSnapshot, CallState, SipLegState

S = CallState


class IllegalTransition(Exception):
    """A SIP report that makes no sense in the current state; the state is left unchanged."""


# What a SIP leg report does to a call in a given state. Missing pairs are illegal.
_TRANSITIONS: dict[tuple[CallState, SipLegState], CallState] = {
    (S.OUTGOING, SipLegState.CALLING): S.OUTGOING,
    (S.OUTGOING, SipLegState.RINGING): S.RINGING,
    (S.OUTGOING, SipLegState.EARLY): S.EARLY,
    (S.RINGING, SipLegState.RINGING): S.RINGING,
    (S.RINGING, SipLegState.EARLY): S.EARLY,
    (S.EARLY, SipLegState.EARLY): S.EARLY,
    (S.EARLY, SipLegState.RINGING): S.EARLY,
    (S.INCOMING, SipLegState.EARLY): S.INCOMING,
    (S.INCOMING, SipLegState.RINGING): S.INCOMING,
    (S.ESTABLISHED, SipLegState.CONFIRMED): S.ESTABLISHED,
    (S.HELD, SipLegState.CONFIRMED): S.HELD,
}
for _s in (S.OUTGOING, S.RINGING, S.EARLY, S.INCOMING):
    _TRANSITIONS[(_s, SipLegState.CONNECTING)] = _s
    _TRANSITIONS[(_s, SipLegState.CONFIRMED)] = S.ESTABLISHED
for _s in (S.OUTGOING, S.RINGING, S.EARLY, S.INCOMING, S.ESTABLISHED, S.HELD):
    _TRANSITIONS[(_s, SipLegState.DISCONNECTED)] = S.TERMINATED

# The rep's own actions, independent of SIP progress: only a connected call can be held or resumed.
_HOLD: dict[CallState, CallState] = {S.ESTABLISHED: S.HELD}
_RESUME: dict[CallState, CallState] = {S.HELD: S.ESTABLISHED}

# The call the rep is most likely looking at: talking beats dialling beats held beats ringing-in; among
# equals, the newest. Answering or dialling puts the current conversation on hold, so this is also "the call
# that was touched last".
FOREGROUND_ORDER = (S.ESTABLISHED, S.EARLY, S.RINGING, S.OUTGOING, S.HELD, S.INCOMING)

RINGING_STATES = frozenset({S.OUTGOING, S.RINGING, S.EARLY, S.INCOMING})
TALKING_STATES = frozenset({S.ESTABLISHED, S.HELD})


def next_state(state: CallState, leg: SipLegState) -> CallState:
    try:
        return _TRANSITIONS[(state, leg)]
    except KeyError:
        raise IllegalTransition(f"{leg.value} in {state.value}") from None


def hold_state(state: CallState) -> CallState:
    try:
        return _HOLD[state]
    except KeyError:
        raise IllegalTransition(f"hold in {state.value}") from None


def resume_state(state: CallState) -> CallState:
    try:
        return _RESUME[state]
    except KeyError:
        raise IllegalTransition(f"resume in {state.value}") from None


def foreground(calls: Iterable[CallSnapshot]) -> CallSnapshot | None:
    """The foreground call among ``calls`` (given oldest first), or None."""
    ordered = list(calls)
    for state in FOREGROUND_ORDER:
        for c in reversed(ordered):
            if c.state is state:
                return c
    return None
