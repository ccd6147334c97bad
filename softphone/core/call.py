"""Call state machine as data (h11-style): a transition table, illegal moves raise and change nothing."""

from __future__ import annotations

from softphone.core.events import CallState, SipLegState

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

# Local actions, independent of SIP progress.
_HOLD: dict[CallState, CallState] = {S.ESTABLISHED: S.HELD, S.HELD: S.HELD}
_RESUME: dict[CallState, CallState] = {S.HELD: S.ESTABLISHED, S.ESTABLISHED: S.ESTABLISHED}

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
