from datetime import datetime, timedelta, timezone
from pathlib import Path

from softphone.core.events import CallEndStatus, CallSnapshot, CallState, Direction
from softphone.storage.history import HistoryStore

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def snap(**kw) -> CallSnapshot:
    base = dict(call_id="c1", direction=Direction.OUTBOUND, account="office", remote="+14155552671",
                state=CallState.OUTGOING, started_at=T0)
    base.update(kw)
    return CallSnapshot(**base)


def test_row_per_call_updated_in_place(tmp_path: Path) -> None:
    h = HistoryStore(tmp_path / "h.db")
    h.upsert(snap())
    h.upsert(snap(state=CallState.ESTABLISHED, answered_at=T0 + timedelta(seconds=2)))
    h.upsert(snap(state=CallState.TERMINATED, answered_at=T0 + timedelta(seconds=2),
                  ended_at=T0 + timedelta(seconds=12), end_status=CallEndStatus.COMPLETED, sip_code=200))
    rows = h.list()
    assert len(rows) == 1
    r = rows[0]
    assert r["end_status"] == "COMPLETED" and r["duration_s"] == 10.0 and r["sip_code"] == 200
    assert r["started_at"] == "2026-01-01T12:00:00+00:00"
    for key in ("call_id", "direction", "account", "remote", "started_at", "answered_at", "ended_at",
                "duration_s", "end_status", "sip_code", "engagement_id", "notes", "disposition"):
        assert key in r


def test_crash_leftovers_closed_as_failed(tmp_path: Path) -> None:
    h = HistoryStore(tmp_path / "h.db")
    h.upsert(snap(state=CallState.ESTABLISHED, answered_at=T0))
    h.close()
    h2 = HistoryStore(tmp_path / "h.db")
    assert h2.close_orphans(T0 + timedelta(seconds=30)) == 1
    r = h2.get("c1")
    assert r is not None
    assert r["end_status"] == "FAILED" and r["ended_at"] and r["duration_s"] == 30.0
    assert h2.close_orphans(T0) == 0


def test_search_and_filter(tmp_path: Path) -> None:
    h = HistoryStore(tmp_path / "h.db")
    h.upsert(snap(call_id="a", remote_name="Ada Lovelace", end_status=CallEndStatus.BUSY))
    h.upsert(snap(call_id="b", remote="+442079460018", end_status=CallEndStatus.COMPLETED))
    assert [r["call_id"] for r in h.list(query="Ada")] == ["a"]
    assert [r["call_id"] for r in h.list(status="COMPLETED")] == ["b"]
    assert (tmp_path / "h.db").stat().st_mode & 0o777 == 0o600


def test_open_post_call_panels_come_back_as_the_calls_they_were(tmp_path: Path) -> None:
    """What an engine restart reads back: only ended calls still owed callCompleted, recent ones, as snapshots."""
    now = datetime.now(timezone.utc)
    h = HistoryStore(tmp_path / "h.db")
    ended = snap(state=CallState.TERMINATED, started_at=now - timedelta(seconds=30),
                 answered_at=now - timedelta(seconds=28), ended_at=now - timedelta(seconds=5),
                 end_status=CallEndStatus.COMPLETED, sip_code=200, engagement_id=77, notes="Call back Friday")
    h.upsert(ended)
    h.upsert(snap(call_id="c2", state=CallState.TERMINATED, started_at=now, ended_at=now,
                  end_status=CallEndStatus.BUSY))
    assert h.owed_postcalls() == []
    h.set_fields("c1", postcall_owed=1)
    h.set_fields("c2", postcall_owed=1)
    h.set_fields("c2", postcall_owed=0)
    [back] = h.owed_postcalls()
    assert back == ended and back.notes == "Call back Friday" and back.engagement_id == 77
    assert h.get("c1")["postcall_owed"] is True
    assert h.owed_postcalls(max_age_s=1) == []          # a panel left open for days is not brought back
