"""Events and value types that cross the event bus.

Inputs (``Sip*``) are what the SIP adapter observed; outputs (``CallUpdated``, ``RegistrationChanged`` …) are what
every surface (history, widget, window, headset, ctl) subscribes to. All are frozen: a subscriber can never
change what another one sees.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class StrEnum(str, Enum):
    """``enum.StrEnum`` for 3.10: values serialise as plain strings."""

    def __str__(self) -> str:
        return str(self.value)


class CallEndStatus(StrEnum):
    """The seven statuses of the HubSpot SDK ``callEnded.callEndStatus``."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    BUSY = "BUSY"
    NO_ANSWER = "NO_ANSWER"
    REJECTED = "REJECTED"
    MISSED = "MISSED"


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class CallState(StrEnum):
    """baresip-like call states."""

    OUTGOING = "OUTGOING"        # INVITE sent, nothing heard yet
    RINGING = "RINGING"          # 180 heard (outbound)
    EARLY = "EARLY"              # 183 / early media (outbound)
    INCOMING = "INCOMING"        # inbound, ringing locally
    ESTABLISHED = "ESTABLISHED"
    HELD = "HELD"                # we put it on hold
    TERMINATED = "TERMINATED"


class RegState(StrEnum):
    NONE = "NONE"                # no registrar configured: ready to call directly
    REGISTERING = "REGISTERING"
    REGISTERED = "REGISTERED"
    FAILED = "FAILED"            # will retry with backoff
    UNREGISTERED = "UNREGISTERED"


class SipLegState(StrEnum):
    """What the SIP stack reports for a call leg (pjsip invite session states, simplified)."""

    CALLING = "CALLING"
    RINGING = "RINGING"
    EARLY = "EARLY"
    CONNECTING = "CONNECTING"
    CONFIRMED = "CONFIRMED"
    DISCONNECTED = "DISCONNECTED"


# ---------------------------------------------------------------- adapter -> core


@dataclass(frozen=True)
class SipCallProgress:
    call_id: str
    state: SipLegState
    sip_code: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class SipIncomingCall:
    call_id: str
    account: str
    remote: str                 # number or URI of the caller, already cleaned for display
    remote_name: str = ""
    to: str = ""                # our number/URI as dialled by the caller


@dataclass(frozen=True)
class SipNewCall:
    """A call the stack created on its own: we were transferred (REFER → new outbound call) or another call
    replaced one of ours (attended transfer target, INVITE with Replaces → already-answered inbound call)."""

    call_id: str
    direction: Direction
    account: str
    remote: str
    replaces: str | None = None
    remote_name: str = ""


@dataclass(frozen=True)
class SipBusyIncoming:
    """A legitimate call arrived while every call slot of the SIP stack was taken: refused (486) before the stack
    could report it, but the rep must still see who called."""

    account: str
    remote: str
    remote_name: str = ""


@dataclass(frozen=True)
class SipConnectionLost:
    """The network under a live call changed and its media never came back (the far end refused or never
    answered the re-INVITE that moves it): the call must end with a reason, not stay up in silence."""

    call_id: str
    reason: str


@dataclass(frozen=True)
class SipNetworkChanged:
    """The path to the accounts' servers changed (router restart, new address): pjsua re-registers and moves
    the live calls; the rep is told."""

    why: str


@dataclass(frozen=True)
class SipRegistration:
    account: str
    state: RegState
    sip_code: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class SipDtmfReceived:
    call_id: str
    digit: str


@dataclass(frozen=True)
class SipMediaUpdate:
    """Media state changed (remote hold, codec negotiated)."""

    call_id: str
    remote_hold: bool = False
    codec: str = ""


@dataclass(frozen=True)
class SipTransferProgress:
    call_id: str
    sip_code: int
    final: bool


# ---------------------------------------------------------------- core -> surfaces


@dataclass(frozen=True)
class CallSnapshot:
    """Everything a surface needs about one call; the history row is built from it."""

    call_id: str
    direction: Direction
    account: str
    remote: str
    state: CallState
    started_at: datetime
    remote_name: str = ""
    local: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_status: CallEndStatus | None = None
    sip_code: int | None = None
    reason: str = ""
    muted: bool = False
    held: bool = False
    remote_hold: bool = False
    engagement_id: int | None = None
    notes: str = ""
    disposition: str = ""
    codec: str = ""
    remote_company: str = ""           # the CRM contact's company, once known
    record_url: str = ""               # the contact's record in HubSpot, once known
    dialing_context: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def duration_s(self) -> float | None:
        if self.answered_at is None:
            return 0.0 if self.ended_at is not None else None
        end = self.ended_at
        if end is None:
            return None
        return round((end - self.answered_at).total_seconds(), 3)

    @property
    def active(self) -> bool:
        return self.state is not CallState.TERMINATED

    def to_json(self) -> dict[str, Any]:
        """The history/ctl JSON shape (field names are an interface)."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, Enum):
                v = v.value
            d[f.name] = v
        d["duration_s"] = self.duration_s
        return d


@dataclass(frozen=True)
class CallUpdated:
    call: CallSnapshot
    previous_state: CallState | None = None


@dataclass(frozen=True)
class CallTransferred:
    """The far end accepted our transfer of ``call_id`` to ``to`` (a number/URI; ``attended``: to the party of
    another of our calls). The call ends right after."""

    call_id: str
    to: str
    attended: bool = False


@dataclass(frozen=True)
class RegistrationChanged:
    account: str
    state: RegState
    sip_code: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class AvailabilityChanged:
    available: bool


@dataclass(frozen=True)
class DtmfReceived:
    call_id: str
    digit: str


@dataclass(frozen=True)
class PhoneChanged:
    """Facts derived from all calls and accounts, computed once by the phone and published when one changes:
    which call a bare hang-up/mute/DTMF acts on, whether HubSpot should see the rep as logged in, DND."""

    foreground_call_id: str | None
    logged_in: bool
    available: bool


@dataclass(frozen=True)
class Notice:
    """A message for the rep (error or warning) tied, where relevant, to a call."""

    level: str                  # "error" | "warning" | "info"
    message: str
    code: str = ""
    call_id: str | None = None


def event_to_json(ev: object) -> dict[str, Any] | None:
    """The one JSON shape of every bus event (control API stream, window, widget frames); None = not shared."""
    if isinstance(ev, CallUpdated):
        return {"type": "call", "call": ev.call.to_json(),
                "previous_state": ev.previous_state.value if ev.previous_state else None}
    if isinstance(ev, PhoneChanged):
        return {"type": "phone", "foreground_call_id": ev.foreground_call_id, "logged_in": ev.logged_in,
                "available": ev.available}
    if isinstance(ev, CallTransferred):
        return {"type": "transferred", "call_id": ev.call_id, "to": ev.to, "attended": ev.attended}
    if isinstance(ev, RegistrationChanged):
        return {"type": "registration", "account": ev.account, "state": ev.state.value,
                "sip_code": ev.sip_code, "reason": ev.reason}
    if isinstance(ev, AvailabilityChanged):
        return {"type": "availability", "available": ev.available}
    if isinstance(ev, DtmfReceived):
        return {"type": "dtmf", "call_id": ev.call_id, "digit": ev.digit}
    if isinstance(ev, Notice):
        return {"type": "notice", "level": ev.level, "message": ev.message, "code": ev.code,
                "call_id": ev.call_id}
    # events of other packages (the CRM's caller names …) carry their own shape, so the core imports none of them
    to_json = getattr(ev, "to_json", None)
    if callable(to_json):
        data = to_json()
        if isinstance(data, dict) and "type" in data:
            return data
    return None
