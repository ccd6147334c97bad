"""The window's store (ui/app/store.js, run in node) and the shell's DesktopState fold the same events into the
same state: which calls are live, which one is in the foreground, logged in, do-not-disturb, missed calls.

Two sequences: a written one that visits every event kind (engine link lost and back, registration, missed,
the window's "missed seen"), and one recorded from a real engine (demo line: two calls, hold, swap, an
incoming call) so the events are the engine's own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from softphone.desktop.state import DesktopState
from softphone.widget import assets
from tests.peers import EngineProcess, engine_config, wait_for

DRIVER = Path(__file__).with_name("store_driver.mjs")


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The window's page as it ships (ui/app with ui/common at ./common), so the store imports what it will."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: run `make test` (it installs nodejs), or apt-get install nodejs")
    page = tmp_path_factory.mktemp("page")
    for src, rel in assets.page_files("app"):
        (page / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, page / rel)
    # the browser loads these as modules (<script type="module">); node before 20.19 only does for .js files
    # under a package.json that says so (Debian 12 ships node 18)
    (page / "package.json").write_text('{"type": "module"}\n')
    return (page / "store.js").as_uri()


def js_states(store_url: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = subprocess.run(["node", str(DRIVER), store_url], input=json.dumps(events), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    states: list[dict[str, Any]] = json.loads(r.stdout)
    return states


def py_states(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    st = DesktopState()
    out = []
    for ev in events:
        if ev.get("type") == "missed_seen":
            st.seen_missed()
        else:
            st.apply(ev)
        fg = st.foreground()
        out.append({
            "connected": st.connected,
            "available": st.available,
            "logged_in": st.logged_in,
            "foreground_call_id": st.foreground_call_id,
            "foreground": fg["call_id"] if fg else None,
            "calls": [[c["call_id"], c["state"]] for c in st.calls.values()],
            "incoming": [c["call_id"] for c in st.incoming()],
            "accounts": [[a.get("name"), a.get("registration"), a.get("sip_code"), a.get("reason") or ""]
                         for a in st.accounts],
            "missed": st.missed,
        })
    return out


def assert_same(store_url: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    js, py = js_states(store_url, events), py_states(events)
    assert len(js) == len(py) == len(events)
    for i, (a, b) in enumerate(zip(js, py, strict=True)):
        assert a == b, f"after event {i} {json.dumps(events[i])[:300]}:\n  window {a}\n  shell  {b}"
    return js


def call(call_id: str, state: str, direction: str = "inbound", **kw: Any) -> dict[str, Any]:
    return {"type": "call", "call": {"call_id": call_id, "state": state, "direction": direction,
                                     "remote": "+14155552671", **kw}, "previous_state": None}


def phone(fg: str | None, logged_in: bool = True, available: bool = True) -> dict[str, Any]:
    return {"type": "phone", "foreground_call_id": fg, "logged_in": logged_in, "available": available}


def test_written_sequence_folds_alike(store_url: str) -> None:
    accounts = [{"name": "office", "domain": "pbx.example", "demo": False, "registration": "REGISTERED",
                 "sip_code": 200, "reason": "OK"},
                {"name": "Demo line", "domain": "demo.invalid", "demo": True, "registration": "NONE",
                 "sip_code": None, "reason": ""}]
    events: list[dict[str, Any]] = [
        {"type": "engine", "connected": True},
        {"type": "status", "status": {"available": True, "logged_in": True, "foreground_call_id": None,
                                      "accounts": accounts, "calls": []}},
        call("a", "OUTGOING", "outbound"), phone("a"),
        call("a", "ESTABLISHED", "outbound"),
        call("b", "INCOMING"), {"type": "notice", "level": "info", "message": "x"},
        call("a", "HELD", "outbound"), phone("a"),
        call("b", "ESTABLISHED"), phone("b"),
        {"type": "dtmf", "call_id": "b", "digit": "5"},
        call("c", "OUTGOING", "outbound"), call("c", "RINGING", "outbound"),   # a newer call: still b until told
        phone("b"),
        call("c", "TERMINATED", "outbound", end_status="BUSY"),
        call("b", "TERMINATED", end_status="COMPLETED"), phone("a"),
        call("a", "TERMINATED", "outbound", end_status="COMPLETED"), phone(None),
        call("d", "INCOMING"), phone("d"),
        call("d", "TERMINATED", end_status="MISSED"), phone(None),
        call("e", "INCOMING"), phone("e"),
        call("e", "TERMINATED", end_status="MISSED"), phone(None),
        {"type": "missed_seen"},
        {"type": "registration", "account": "office", "state": "FAILED", "sip_code": 403, "reason": "Forbidden"},
        phone(None, logged_in=True),
        {"type": "availability", "available": False}, phone(None, available=False),
        call("f", "INCOMING"), phone("f", available=False),
        {"type": "engine", "connected": False, "message": "The phone engine stopped."},
        {"type": "engine", "connected": True},
        {"type": "status", "status": {"available": True, "logged_in": False, "foreground_call_id": "g",
                                      "accounts": accounts[:1], "calls": [
                                          call("g", "ESTABLISHED", "outbound")["call"],
                                          call("h", "TERMINATED")["call"]]}},
    ]
    states = assert_same(store_url, events)
    # and the sequence says what it should (so an agreement on nonsense fails too)
    assert states[10]["foreground"] == "b" and states[14]["foreground"] == "b"
    assert states[22]["missed"] == 1 and states[26]["missed"] == 2 and states[28]["missed"] == 0
    assert states[30]["logged_in"] is True and states[29]["accounts"][0][1:] == ["FAILED", 403, "Forbidden"]
    assert states[32]["available"] is False
    assert states[35]["calls"] == [] and states[35]["foreground"] is None
    assert states[37]["foreground"] == "g" and states[37]["logged_in"] is False


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    eng = EngineProcess(tmp_path_factory.mktemp("engine"), engine_config(demo="on"))
    eng.start()
    try:
        yield eng
    finally:
        eng.stop()


def test_a_real_engines_events_fold_alike(store_url: str, engine: EngineProcess) -> None:
    engine.ctl("demo_call_me")
    ringing = engine.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="demo rings")
    engine.ctl("decline", call_id=ringing["call_id"])
    engine.wait_state(ringing["call_id"], "TERMINATED")
    first = engine.ctl("dial", number="+14155550101")
    engine.wait_state(first["call_id"], "ESTABLISHED")
    second = engine.ctl("dial", number="+14155550102")
    engine.wait_state(second["call_id"], "ESTABLISHED")
    engine.wait_state(first["call_id"], "HELD")
    engine.ctl("swap")
    engine.wait_state(first["call_id"], "ESTABLISHED")
    foreground = engine.status()["foreground_call_id"]
    assert foreground == first["call_id"]
    wait_for(lambda: any(e.get("type") == "phone" and e.get("foreground_call_id") == foreground
                         for e in engine.events[-3:]), 10, what="the last phone event")
    events = list(engine.events)
    assert {"status", "call", "phone"} <= {e["type"] for e in events}
    states = assert_same(store_url, events)
    assert states[-1]["foreground"] == foreground
    assert [c[0] for c in states[-1]["calls"]] == [first["call_id"], second["call_id"]]
    for c in (first, second):
        engine.ctl("hangup", call_id=c["call_id"])
