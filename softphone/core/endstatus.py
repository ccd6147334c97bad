"""SIP result -> HubSpot ``callEndStatus``. One pure function, table-tested."""

from __future__ import annotations

from softphone.core.events import CallEndStatus, Direction

BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480})
REJECTED_CODES = frozenset({603})


def end_status(
    direction: Direction,
    *,
    answered: bool,
    sip_code: int | None,
    cancelled_by_us: bool = False,
    declined_by_us: bool = False,
    timed_out: bool = False,
    connection_lost: bool = False,
) -> CallEndStatus:
    """Map how a call ended to the SDK status.

    ``cancelled_by_us`` wins over the 487 the stack reports after our CANCEL; ``timed_out`` is our own
    no-answer timer. Inbound calls never answered are MISSED unless the rep declined them (REJECTED).
    ``connection_lost``: the network under the call changed and it could not be moved (answered or not, the
    conversation was cut: FAILED). Anything unrecognised — other 4xx-6xx, transport and TLS errors (no code) —
    is FAILED.
    """
    if connection_lost:
        return CallEndStatus.FAILED
    if answered:
        return CallEndStatus.COMPLETED
    if direction is Direction.INBOUND:
        return CallEndStatus.REJECTED if declined_by_us else CallEndStatus.MISSED
    if cancelled_by_us:
        return CallEndStatus.CANCELED
    if timed_out:
        return CallEndStatus.NO_ANSWER
    if sip_code in BUSY_CODES:
        return CallEndStatus.BUSY
    if sip_code in NO_ANSWER_CODES:
        return CallEndStatus.NO_ANSWER
    if sip_code in REJECTED_CODES:
        return CallEndStatus.REJECTED
    return CallEndStatus.FAILED
