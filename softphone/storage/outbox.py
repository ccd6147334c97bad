"""Durable outbox for CRM writes (SQLite, WAL, next to the call history): a call is written here before anything
is sent, and leaves only once HubSpot has it, so a crash, a restart or a day offline loses nothing.

One row per call (``key`` = our call id). ``version`` counts what must be written (the payload changed:
created, then notes added…); ``synced_version`` what HubSpot has. A row is *pending* while
``synced_version < version``. ``remote_id`` is the engagement HubSpot created: once known, later versions
update it, so one call never becomes two engagements.

The crash window between "HubSpot created it" and "we stored its id" is closed by ``in_doubt_since``: it is
committed *before* a create is sent and cleared only by an answer that settles it. A row still in doubt on the
next attempt (a crash, a timeout, a lost answer) is looked up at HubSpot before anything is created again.

Thread-safe (one connection, one lock) so the CLI may read while the engine writes (another process reads
through WAL). Pure storage: when and how to send is the service's business.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILENAME = "hubspot-outbox.db"

_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    key            TEXT PRIMARY KEY,
    payload        TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    synced_version INTEGER NOT NULL DEFAULT 0,
    remote_id      INTEGER,
    in_doubt_since REAL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_at        REAL NOT NULL,
    error          TEXT NOT NULL DEFAULT '',
    error_kind     TEXT NOT NULL DEFAULT '',
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at) WHERE synced_version < version;
"""

# error_kind values
RETRY = "retry"          # HubSpot unreachable / 5xx / 429: tried again on its own
REJECTED = "rejected"    # a 4xx: kept until the rep fixes the cause (token, scopes, data)


@dataclass(frozen=True)
class OutboxItem:
    key: str
    payload: dict[str, Any]
    version: int
    synced_version: int
    remote_id: int | None
    in_doubt_since: float | None
    attempts: int
    next_at: float
    error: str
    error_kind: str
    created_at: float
    updated_at: float

    @property
    def pending(self) -> bool:
        return self.synced_version < self.version


class Outbox:
    def __init__(self, path: Path, *, clock: Any = time.time) -> None:
        self.path = path
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=5.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a row acknowledged as queued (or an id stored) survives a power cut, not only a crash
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_DDL)
        with contextlib.suppress(OSError):
            path.chmod(0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ writes

    def put(self, key: str, payload: dict[str, Any], *, now: float | None = None) -> OutboxItem:
        """Queue ``payload`` for ``key`` (the whole desired state). An unchanged payload is a no-op; a changed
        one becomes a new version, due at once (a rejected row gets another chance with the new data)."""
        now = self._clock() if now is None else now
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        with self._lock:
            row = self._db.execute("SELECT payload FROM outbox WHERE key=?", (key,)).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO outbox (key, payload, version, synced_version, next_at, created_at, updated_at) "
                    "VALUES (?, ?, 1, 0, ?, ?, ?)", (key, text, now, now, now))
            elif row["payload"] != text:
                self._db.execute(
                    "UPDATE outbox SET payload=?, version=version+1, next_at=?, error='', error_kind='', "
                    "attempts=0, updated_at=? WHERE key=?", (text, now, now, key))
        item = self.get(key)
        assert item is not None
        return item

    def mark_in_doubt(self, key: str, *, now: float | None = None) -> None:
        """About to send a create: from here until an answer settles it, HubSpot may or may not have it."""
        now = self._clock() if now is None else now
        with self._lock:
            self._db.execute("UPDATE outbox SET in_doubt_since=COALESCE(in_doubt_since, ?), updated_at=? "
                             "WHERE key=?", (now, now, key))

    def clear_doubt(self, key: str) -> None:
        """An answer proved nothing was created (e.g. a 4xx or 429)."""
        with self._lock:
            self._db.execute("UPDATE outbox SET in_doubt_since=NULL WHERE key=?", (key,))

    def set_remote_id(self, key: str, remote_id: int, *, synced_version: int | None = None,
                      now: float | None = None) -> None:
        """HubSpot has it as ``remote_id``: created from ``synced_version`` of the payload, or found by its
        external id (``synced_version`` None: what it holds is unknown, so the current version is sent as an
        update)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._db.execute("UPDATE outbox SET remote_id=?, in_doubt_since=NULL, updated_at=? WHERE key=?",
                             (remote_id, now, key))
            if synced_version is not None:
                self._db.execute("UPDATE outbox SET synced_version=MAX(synced_version, ?), error='', "
                                 "error_kind='', attempts=0 WHERE key=?", (synced_version, key))

    def synced(self, key: str, version: int, *, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        with self._lock:
            self._db.execute("UPDATE outbox SET synced_version=MAX(synced_version, ?), error='', error_kind='', "
                             "attempts=0, updated_at=? WHERE key=?", (version, now, key))

    def failed(self, key: str, error: str, kind: str, next_at: float, *, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        with self._lock:
            self._db.execute("UPDATE outbox SET error=?, error_kind=?, next_at=?, attempts=attempts+1, "
                             "updated_at=? WHERE key=?", (error[:1000], kind, next_at, now, key))

    def defer(self, key: str, next_at: float) -> None:
        """Not an attempt: just come back later (e.g. waiting out HubSpot's search index lag)."""
        with self._lock:
            self._db.execute("UPDATE outbox SET next_at=? WHERE key=?", (next_at, key))

    def retry_now(self, kind: str | None = None, *, now: float | None = None) -> int:
        """Make waiting rows due now (all, or those failed with ``kind``): the rep fixed something."""
        now = self._clock() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "UPDATE outbox SET next_at=? WHERE synced_version < version AND (? IS NULL OR error_kind=?)",
                (now, kind, kind))
            return cur.rowcount

    def prune(self, older_than_s: float, *, now: float | None = None) -> int:
        """Forget rows HubSpot has had for a while (kept meanwhile so late notes update the same engagement)."""
        now = self._clock() if now is None else now
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE synced_version >= version AND updated_at < ?",
                                   (now - older_than_s,))
            return cur.rowcount

    # ------------------------------------------------------------------ reads

    def get(self, key: str) -> OutboxItem | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM outbox WHERE key=?", (key,)).fetchone()
        return _item(r) if r else None

    def due(self, now: float | None = None, limit: int = 50) -> list[OutboxItem]:
        now = self._clock() if now is None else now
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox WHERE synced_version < version AND next_at <= ? "
                                    "ORDER BY next_at, created_at LIMIT ?", (now, limit)).fetchall()
        return [_item(r) for r in rows]

    def next_due_at(self) -> float | None:
        with self._lock:
            r = self._db.execute("SELECT MIN(next_at) FROM outbox WHERE synced_version < version").fetchone()
        return float(r[0]) if r and r[0] is not None else None

    def pending(self) -> list[OutboxItem]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox WHERE synced_version < version "
                                    "ORDER BY created_at").fetchall()
        return [_item(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            r = self._db.execute(
                "SELECT COUNT(*) FILTER (WHERE synced_version < version), "
                "COUNT(*) FILTER (WHERE synced_version < version AND error_kind='rejected'), "
                "COUNT(*) FILTER (WHERE synced_version >= version) FROM outbox").fetchone()
        return {"pending": int(r[0] or 0), "rejected": int(r[1] or 0), "done": int(r[2] or 0)}


def _item(r: sqlite3.Row) -> OutboxItem:
    return OutboxItem(key=r["key"], payload=json.loads(r["payload"]), version=int(r["version"]),
                      synced_version=int(r["synced_version"]),
                      remote_id=int(r["remote_id"]) if r["remote_id"] is not None else None,
                      in_doubt_since=float(r["in_doubt_since"]) if r["in_doubt_since"] is not None else None,
                      attempts=int(r["attempts"]), next_at=float(r["next_at"]), error=str(r["error"]),
                      error_kind=str(r["error_kind"]), created_at=float(r["created_at"]),
                      updated_at=float(r["updated_at"]))


def open_readonly(path: Path) -> Outbox | None:
    """The outbox for listing (``softphone hubspot outbox``); None when there has never been one."""
    if not path.exists():
        return None
    return Outbox(path)
