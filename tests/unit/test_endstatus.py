import pytest

from softphone.core.endstatus import end_status
from softphone.core.events import CallEndStatus as S
from softphone.core.events import Direction

OUT, IN = Direction.OUTBOUND, Direction.INBOUND


@pytest.mark.parametrize(
    ("direction", "kw", "expected"),
    [
        (OUT, {"answered": True, "sip_code": 200}, S.COMPLETED),
        (IN, {"answered": True, "sip_code": 200}, S.COMPLETED),
        (OUT, {"answered": False, "sip_code": 486}, S.BUSY),
        (OUT, {"answered": False, "sip_code": 600}, S.BUSY),
        (OUT, {"answered": False, "sip_code": 480}, S.NO_ANSWER),
        (OUT, {"answered": False, "sip_code": 408}, S.NO_ANSWER),
        (OUT, {"answered": False, "sip_code": 487, "timed_out": True}, S.NO_ANSWER),
        (OUT, {"answered": False, "sip_code": 487, "cancelled_by_us": True}, S.CANCELED),
        (OUT, {"answered": False, "sip_code": 603}, S.REJECTED),
        (OUT, {"answered": False, "sip_code": 503}, S.FAILED),
        (OUT, {"answered": False, "sip_code": 404}, S.FAILED),
        (OUT, {"answered": False, "sip_code": None}, S.FAILED),  # transport / TLS error
        (OUT, {"answered": False, "sip_code": 500}, S.FAILED),
        (IN, {"answered": False, "sip_code": 487}, S.MISSED),
        (IN, {"answered": False, "sip_code": 603, "declined_by_us": True}, S.REJECTED),
        (IN, {"answered": False, "sip_code": 486}, S.MISSED),
    ],
)
def test_end_status_table(direction: Direction, kw: dict, expected: S) -> None:
    assert end_status(direction, **kw) is expected


def test_answered_wins_over_everything() -> None:
    assert end_status(OUT, answered=True, sip_code=486, cancelled_by_us=True) is S.COMPLETED


def test_a_lost_connection_fails_even_an_answered_call() -> None:
    assert end_status(OUT, answered=True, sip_code=200, connection_lost=True) is S.FAILED
    assert end_status(IN, answered=False, sip_code=None, connection_lost=True) is S.FAILED
