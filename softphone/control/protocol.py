"""Bus event → JSON for the control API event stream (and any other JSON surface)."""

from __future__ import annotations

from typing import Any

from softphone.core.events import (
    AvailabilityChanged,
    CallUpdated,
    DtmfReceived,
    Notice,
    RegistrationChanged,
)

SOCKET_NAME = "ctl.sock"
TOKEN_NAME = "ctl.token"


def event_to_json(ev: object) -> dict[str, Any] | None:
    if isinstance(ev, CallUpdated):
        return {"type": "call", "call": ev.call.to_json(),
                "previous_state": ev.previous_state.value if ev.previous_state else None}
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
    return None
