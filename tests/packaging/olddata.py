"""A data folder as an older release left it, for upgrade tests: config with an account, its password in the
keyring, the widget's local CA, window preferences, and a call history in the first schema (before the
``codec``/``recording_path``/``quality`` columns; ``PRAGMA user_version`` 1).

Everything is written the way that release wrote it: the keyring entry and the certificates by the
source-tree code, the schema-1 database by its DDL (no code of that release is left to run it).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.peers import free_port

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "work"
PASSWORD = "upgrade-keeps-me"

SCHEMA_1 = """
CREATE TABLE calls (
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
    state          TEXT NOT NULL
);
CREATE INDEX calls_started ON calls (started_at DESC);
PRAGMA user_version = 1;
"""

OLD_ROWS = (
    ("old-call-1", "outbound", ACCOUNT, "+14155550100", "Ada Lovelace", "sip:alice@127.0.0.1",
     "2024-05-01T09:00:00+00:00", "2024-05-01T09:00:04+00:00", "2024-05-01T09:02:04+00:00", 120.0, "COMPLETED",
     200, "", 4242, "asked for a demo", "Connected", "TERMINATED"),
    ("old-call-2", "inbound", ACCOUNT, "+442071838750", "", "sip:alice@127.0.0.1",
     "2024-05-02T10:00:00+00:00", None, "2024-05-02T10:00:30+00:00", 0.0, "MISSED", 487, "Request Terminated",
     None, "", "", "TERMINATED"),
)


@dataclass
class OldData:
    config: Path
    data_dir: Path
    ca_sha256: str
    leaf_sha256: str
    prefs: dict[str, object]


def config_text(widget_port: int) -> str:
    return (
        'demo_line = "on"\n\n'
        "[[accounts]]\n"
        f'name = "{ACCOUNT}"\n'
        'sip_uri = "sip:alice@127.0.0.1"\n'
        'auth_username = "alice"\n'
        'default_country = "US"\n\n'
        "[widget]\n"
        f"port = {widget_port}\n"
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_old_data(env: dict[str, str]) -> OldData:
    """Fill the config/data/keyring locations named in ``env`` (SOFTPHONE_CONFIG, SOFTPHONE_DATA_DIR,
    XDG_DATA_HOME + PYTHON_KEYRING_BACKEND) as an older release would have."""
    config = Path(env["SOFTPHONE_CONFIG"])
    data_dir = Path(env["SOFTPHONE_DATA_DIR"])
    config.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config.write_text(config_text(free_port()))
    # keyring entry and certificates through the source-tree code (same storage formats as the release)
    src_env = {**env, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "softphone", "account", "set-password", ACCOUNT], env=src_env,
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, timeout=60)
    script = ("import sys; from pathlib import Path; from softphone.widget.certs import ensure_certificates; "
              "ensure_certificates(Path(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", script, str(data_dir)], env=src_env, check=True, timeout=60)
    db = sqlite3.connect(data_dir / "history.db")
    db.executescript(SCHEMA_1)
    db.executemany(f"INSERT INTO calls VALUES ({', '.join('?' * 17)})", OLD_ROWS)
    db.commit()
    db.close()
    prefs = {"first_run_done": True, "theme": "dark"}
    (data_dir / "window.json").write_text(json.dumps(prefs))
    certs = data_dir / "certs"
    return OldData(config, data_dir, _sha(certs / "ca.pem"), _sha(certs / "localhost.pem"), prefs)


def schema(data_dir: Path) -> tuple[int, set[str]]:
    db = sqlite3.connect(data_dir / "history.db")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        cols = {r[1] for r in db.execute("PRAGMA table_info(calls)")}
    finally:
        db.close()
    return version, cols


def ca_sha256(data_dir: Path) -> str:
    return _sha(data_dir / "certs" / "ca.pem")


def leaf_sha256(data_dir: Path) -> str:
    return _sha(data_dir / "certs" / "localhost.pem")
