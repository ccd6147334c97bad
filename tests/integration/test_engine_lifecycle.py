"""The engine as a user meets it: CLI, demo line, registrar outages, crash recovery, ctl with nothing running."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

from tests.peers import PASSWORD, EngineProcess, account_toml, engine_config, engine_env, running, wait_for


def test_demo_line_with_no_config(engine_factory) -> None:
    """A newcomer with no config: the demo line answers any number; DTMF, hold, mute work; busy demo numbers."""
    eng = engine_factory("")  # no file content at all
    assert eng.ready["event"] == "ready" and eng.ready["demo_line"] is True
    accs = eng.status()["accounts"]
    assert [a["name"] for a in accs] == ["Demo line"] and accs[0]["demo"]
    call = eng.ctl("dial", number="+1 (415) 555-2671")
    est = eng.wait_state(call["call_id"], "ESTABLISHED")
    assert est["remote"] == "+14155552671"
    eng.ctl("dtmf", digits="42")
    eng.ctl("hold")
    eng.wait_state(call["call_id"], "HELD")
    eng.ctl("resume")
    eng.wait_state(call["call_id"], "ESTABLISHED")
    assert eng.ctl("mute")["muted"] is True
    eng.ctl("hangup")
    assert eng.wait_state(call["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    busy = eng.ctl("dial", number="+1 415 555 0486")
    assert eng.wait_state(busy["call_id"], "TERMINATED")["end_status"] == "BUSY"
    # the demo line can ring the rep too
    eng.ctl("demo_call_me")
    inc = eng.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="demo ring")
    eng.ctl("answer")
    eng.wait_state(inc["call_id"], "ESTABLISHED")
    eng.ctl("hangup")
    eng.wait_state(inc["call_id"], "TERMINATED")
    statuses = {r["call_id"]: r["end_status"] for r in eng.history()}
    assert statuses == {call["call_id"]: "COMPLETED", busy["call_id"]: "BUSY", inc["call_id"]: "COMPLETED"}


def test_ctl_cli_end_to_end(engine_factory) -> None:
    eng = engine_factory("")
    r = eng.cli("ctl", "dial", "+14155552671", "--json")
    assert r.returncode == 0, r.stderr
    cid = json.loads(r.stdout)["call_id"]
    eng.wait_state(cid, "ESTABLISHED")
    st = json.loads(eng.cli("ctl", "status", "--json", check=True).stdout)
    assert st["calls"][0]["call_id"] == cid
    for cmd in (["mute"], ["unmute"], ["hold"], ["resume"], ["dtmf", "1#"], ["hangup"]):
        assert eng.cli("ctl", *cmd).returncode == 0, cmd
    eng.wait_state(cid, "TERMINATED")
    r = eng.cli("ctl", "answer")
    assert r.returncode == 1 and "No incoming call" in r.stderr
    hist = json.loads(eng.cli("history", "--json", "--limit", "5", check=True).stdout)
    assert hist[0]["call_id"] == cid and hist[0]["end_status"] == "COMPLETED"
    assert cid in eng.cli("history", check=True).stdout or "+14155552671" in eng.cli("history").stdout


def test_ctl_without_engine_says_so(tmp_path) -> None:
    env = engine_env(tmp_path)
    r = subprocess.run([sys.executable, "-m", "softphone", "ctl", "status"], env=env, capture_output=True, text=True)
    assert r.returncode == 3 and "not running" in r.stderr


def test_control_channel_is_private_and_authenticated(engine_factory) -> None:
    eng = engine_factory("")
    sock = eng.data_dir / "ctl.sock"
    token = eng.data_dir / "ctl.token"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(eng.data_dir.stat().st_mode) == 0o700
    import httpx

    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://x") as c:
        r = c.post("/v1/command/dial", json={"number": "+14155552671"}, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
    assert eng.status()["calls"] == []


def test_single_instance(engine_factory) -> None:
    eng = engine_factory("")
    r = eng.cli("serve", timeout=20)
    assert r.returncode == 1 and "already running" in r.stderr


def test_broken_config_refuses_to_start(tmp_path) -> None:
    e = EngineProcess(tmp_path / "e", '[[accounts]]\nname = "x"\nsip_uri = "not-a-uri"\ntransport = "sctp"\n')
    r = e.cli("serve")
    assert r.returncode == 2
    assert "config.toml" in r.stderr and "sip_uri" in r.stderr and "transport" in r.stderr


def test_account_commands_and_password_only_in_keyring(tmp_path, kamailio) -> None:
    e = EngineProcess(tmp_path / "e", "")
    r = e.cli("account", "add", "office", "--sip-uri", f"sip:dave@127.0.0.1:{kamailio.udp}", "--registrar",
              kamailio.uri(), "--auth-username", "dave", check=True)
    assert "set-password" in r.stdout
    e.set_password("office", PASSWORD)
    listed = json.loads(e.cli("account", "list", "--json", check=True).stdout)
    assert listed[0]["name"] == "office" and listed[0]["password_stored"] is True
    cfgtext = (tmp_path / "e" / "config.toml").read_text()
    assert PASSWORD not in cfgtext
    bad = e.cli("account", "add", "x y!", "--sip-uri", "nope")
    assert bad.returncode == 2 and "sip_uri" in bad.stderr
    (tmp_path / "e" / "config.toml").write_text('sip_bind_address = "127.0.0.1"\n' + cfgtext)
    e.start()
    try:
        e.wait_registration("office")
        for p in e.dir.rglob("*"):
            if p.is_file() and "xdg-data" not in str(p):
                assert PASSWORD.encode() not in p.read_bytes(), p
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert PASSWORD not in out
    finally:
        e.stop()
    assert e.cli("account", "remove", "office").returncode == 0
    assert json.loads(e.cli("account", "list", "--json").stdout) == []


def test_registrar_restart_reregisters_and_keeps_the_call(tmp_path, engine_factory) -> None:
    """Kill the registrar mid-call: the call survives; when it comes back the account re-registers."""
    from tests.peers import Kamailio

    kam = Kamailio(tmp_path / "kam", auth=False).start()
    try:
        # TCP: the registrar's death is noticed at once (connection lost), not after a 32 s UDP timeout
        eng = engine_factory(engine_config(account_toml("office", "erin", kam, "tcp", auth=False)))
        eng.wait_registration("office")
        demo = engine_factory(engine_config(account_toml("office", "frank", kam, auth=False)), name="frank")
        demo.wait_registration("office")
        out = demo.ctl("dial", number=f"sip:erin@127.0.0.1:{kam.udp}")
        inc = eng.wait_call(lambda c: c["state"] == "INCOMING", what="incoming")
        eng.ctl("answer")
        eng.wait_state(inc["call_id"], "ESTABLISHED")
        kam.stop()
        eng.wait_registration("office", "FAILED", timeout=20)
        assert eng.status()["calls"][0]["state"] == "ESTABLISHED"  # a dead registrar drops no call
        kam.start()
        eng.wait_registration("office", "REGISTERED", timeout=30)
        eng.ctl("hangup")  # the BYE goes out over the new connection, through the restarted proxy
        assert eng.wait_state(inc["call_id"], "TERMINATED", timeout=15)["end_status"] == "COMPLETED"
        assert demo.wait_state(out["call_id"], "TERMINATED", timeout=15)["end_status"] == "COMPLETED"
    finally:
        kam.stop()


def test_crash_mid_call_closes_row_as_failed(engine_factory) -> None:
    eng = engine_factory("")
    call = eng.ctl("dial", number="+14155552671")
    eng.wait_state(call["call_id"], "ESTABLISHED")
    assert eng.proc is not None
    os.killpg(eng.proc.pid, signal.SIGKILL)
    eng.proc.wait(5)
    db = sqlite3.connect(eng.data_dir / "history.db")
    row = db.execute("SELECT state, end_status FROM calls WHERE call_id=?", (call["call_id"],)).fetchone()
    assert row == ("ESTABLISHED", None)  # written at each state change: the crash lost nothing
    db.close()
    eng.start()
    rows = {r["call_id"]: r for r in eng.history()}
    assert rows[call["call_id"]]["end_status"] == "FAILED" and rows[call["call_id"]]["ended_at"]


def test_doctor_report(engine_factory) -> None:
    eng = engine_factory("")
    r = eng.cli("doctor")
    assert "configuration is valid" in r.stdout and "engine is running" in r.stdout
    assert "demo line" in r.stdout


def test_stdout_is_one_json_line(tmp_path) -> None:
    e = EngineProcess(tmp_path / "e", "")
    e.start(watch_events=False)
    try:
        time.sleep(0.3)
    finally:
        e.stop()
    assert e.ready["event"] == "ready" and "accounts" in e.ready


def test_cli_account_changes_reach_the_running_engine(tmp_path, kamailio) -> None:
    """`softphone account add/set-password/remove` while the engine runs: it registers and unregisters live."""
    e = EngineProcess(tmp_path / "e", "")
    with running(e.start()):
        e.cli("account", "add", "office", "--sip-uri", f"sip:dave@127.0.0.1:{kamailio.udp}", "--registrar",
              kamailio.uri(), "--auth-username", "dave", check=True)
        e.set_password("office", PASSWORD)
        e.wait_registration("office", "REGISTERED")
        assert PASSWORD not in (tmp_path / "e" / "config.toml").read_text()
        e.cli("account", "remove", "office", check=True)
        wait_for(lambda: all(a["name"] != "office" for a in e.status()["accounts"]), 10,
                 what="account removed from the running engine")
