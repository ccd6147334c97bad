"""Call history in SQLite (WAL): one row per call, written at every state change so a crash loses nothing.

The column names are an interface (``softphone history --json``, the widget's externalCallId = ``call_id``).
Rows left open by a crash are closed as FAILED on the next start.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from softphone.core.events import CallEndStatus, CallSnapshot, CallState, CallUpdated, Direction

SCHEMA_VERSION = 2

_COLUMNS = (
    "call_id", "direction", "account", "remote", "remote_name", "local", "started_at", "answered_at",
    "ended_at", "duration_s", "end_status", "sip_code", "reason", "engagement_id", "notes", "disposition",
    "state", "codec", "recording_path", "quality", "postcall_owed",
)

_DDL = """
CREATE TABLE IF NOT EXISTS calls (
    call_id        TEXT PRIMARY KEY,
    direction      TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    account        TEXT NOT NULL,
    remote         TEXT NOT NULL,
    remote_name    TEXT NOT NULL DEFAULT '',
    local          TEXT NOT NULL DEFAULT '',
    started_at     TEXT NOT NULL,
    answered_at    TEXT,
    ended_at       TEXT,
    duration_s     REAL,
    end_status     TEXT,
    sip_code       INTEGER,
    reason         TEXT NOT NULL DEFAULT '',
    engagement_id  INTEGER,
    notes          TEXT NOT NULL DEFAULT '',
    disposition    TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL,
    codec          TEXT NOT NULL DEFAULT '',
    recording_path TEXT,
    quality        TEXT,
    postcall_owed  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at DESC);
"""


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat() if dt is not None else None


class HistoryStore:
    """Thread-safe (one connection, one lock): the runtime writes, CLI and window read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=5.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_DDL)
        self._migrate()
        with contextlib.suppress(OSError):
            path.chmod(0o600)

    def _migrate(self) -> None:
        have = {r[1] for r in self._db.execute("PRAGMA table_info(calls)")}
        for col, decl in (("recording_path", "TEXT"), ("quality", "TEXT"), ("codec", "TEXT NOT NULL DEFAULT ''"),
                          ("postcall_owed", "INTEGER NOT NULL DEFAULT 0")):
            if col not in have:
                self._db.execute(f"ALTER TABLE calls ADD COLUMN {col} {decl}")
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --------------------------------------------------------------- writes

    def on_call_updated(self, event: CallUpdated) -> None:
        self.upsert(event.call)

    def upsert(self, c: CallSnapshot) -> None:
        row = {
            "call_id": c.call_id,
            "direction": c.direction.value,
            "account": c.account,
            "remote": c.remote,
            "remote_name": c.remote_name,
            "local": c.local,
            "started_at": _iso(c.started_at),
            "answered_at": _iso(c.answered_at),
            "ended_at": _iso(c.ended_at),
            "duration_s": c.duration_s,
            "end_status": c.end_status.value if c.end_status else None,
            "sip_code": c.sip_code,
            "reason": c.reason,
            "engagement_id": c.engagement_id,
            "notes": c.notes,
            "disposition": c.disposition,
            "state": c.state.value,
            "codec": c.codec,
        }
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        updates = ", ".join(f"{k}=excluded.{k}" for k in row if k != "call_id")
        with self._lock:
            self._db.execute(
                f"INSERT INTO calls ({cols}) VALUES ({marks}) ON CONFLICT(call_id) DO UPDATE SET {updates}",  # noqa: S608
                row,
            )

    def set_fields(self, call_id: str, **fields: Any) -> None:
        """Adapter-owned extras (recording path, quality JSON) that are not part of the core snapshot."""
        allowed = {"recording_path", "quality", "notes", "disposition", "engagement_id", "postcall_owed"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"not settable: {sorted(bad)}")
        vals = {k: (json.dumps(v) if k == "quality" and not isinstance(v, str) else v) for k, v in fields.items()}
        sets = ", ".join(f"{k}=:{k}" for k in vals)
        with self._lock:
            self._db.execute(f"UPDATE calls SET {sets} WHERE call_id=:call_id", {**vals, "call_id": call_id})  # noqa: S608

    def close_orphans(self, now: datetime) -> int:
        """Close rows a crash left open: FAILED, ended now."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE calls SET end_status='FAILED', state='TERMINATED', ended_at=:now, "
                "reason=CASE WHEN reason='' THEN 'Interrupted: the app stopped during the call' ELSE reason END, "
                "duration_s=CASE WHEN answered_at IS NULL THEN 0 ELSE "
                "  round((julianday(:now) - julianday(answered_at)) * 86400.0, 3) END "
                "WHERE ended_at IS NULL",
                {"now": _iso(now)},
            )
            return cur.rowcount

    # --------------------------------------------------------------- reads

    def list(self, limit: int = 50, query: str = "", status: str | None = None,
             direction: str | None = None) -> list[dict[str, Any]]:
        where: list[str] = []
        args: dict[str, Any] = {}
        if query:
            # the rep's text is matched literally: % and _ are not wildcards here
            where.append("(remote LIKE :q ESCAPE '\\' OR remote_name LIKE :q ESCAPE '\\' "
                         "OR notes LIKE :q ESCAPE '\\')")
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args["q"] = f"%{escaped}%"
        if status:
            where.append("end_status = :status")
            args["status"] = status
        if direction:
            where.append("direction = :direction")
            args["direction"] = direction
        sql = "SELECT * FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT :limit"
        if limit < 1:
            raise ValueError("limit must be at least 1")
        args["limit"] = min(int(limit), 10000)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [self._row(r) for r in rows]

    def owed_postcalls(self, max_age_s: float = 86400.0) -> builtins.list[CallSnapshot]:
        """Ended calls whose post-call panel was open (HubSpot still owed ``callCompleted``) when the engine
        stopped, newest last: the widget hub completes them after a restart."""
        since = _iso(datetime.now(timezone.utc) - timedelta(seconds=max_age_s))
        with self._lock:
            rows = self._db.execute("SELECT * FROM calls WHERE postcall_owed=1 AND ended_at IS NOT NULL "
                                    "AND ended_at >= ? ORDER BY ended_at", (since,)).fetchall()
        return [snapshot_from_row(self._row(r)) for r in rows]

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM calls WHERE call_id=?", (call_id,)).fetchone()
        return self._row(r) if r else None

    @staticmethod
    def _row(r: sqlite3.Row) -> dict[str, Any]:
        d = {k: r[k] for k in _COLUMNS}
        d["postcall_owed"] = bool(d.get("postcall_owed"))
        if d.get("quality"):
            with contextlib.suppress(ValueError):
                d["quality"] = json.loads(d["quality"])
        return d


def snapshot_from_row(row: dict[str, Any]) -> CallSnapshot:
    """An ended call as the core describes it, from its history row."""
    def when(v: Any) -> datetime | None:
        return datetime.fromisoformat(v) if isinstance(v, str) and v else None

    started = when(row["started_at"])
    assert started is not None
    return CallSnapshot(
        call_id=row["call_id"], direction=Direction(row["direction"]), account=row["account"], remote=row["remote"],
        state=CallState.TERMINATED, started_at=started, remote_name=row["remote_name"] or "",
        local=row["local"] or "", answered_at=when(row["answered_at"]), ended_at=when(row["ended_at"]),
        end_status=CallEndStatus(row["end_status"]) if row["end_status"] else None, sip_code=row["sip_code"],
        reason=row["reason"] or "", engagement_id=row["engagement_id"], notes=row["notes"] or "",
        disposition=row["disposition"] or "", codec=row["codec"] or "")
