"""The real window on the real engine, under a private Xvfb with a real tray host.

alice = the rep: ``softphone serve`` (account on kamailio, demo line kept) + the window (``python -m
softphone.desktop``) as its client. bob = a second pjsua2 user agent (another engine) on the same kamailio.
The window is driven like a person would: DOM clicks and key presses in the page, a real mouse click on the
toast (xdotool), the real CLI forwarding a tel:/sip: link.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.desktop.harness import WindowProcess, Xvfb
from tests.peers import PASSWORD, EngineProcess, Kamailio, account_toml, engine_config, have
from tests.peers import wait_for as _wait_for

pytestmark = pytest.mark.integration
_WINDOWS: list[WindowProcess] = []


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    if not have("Xvfb"):
        pytest.fail("Xvfb is not installed: run `make test` (it installs the test peers)")
    x = Xvfb().start()
    x.start_tray()
    try:
        yield x
    finally:
        x.stop()


@pytest.fixture(scope="module")
def kam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    if not have("kamailio"):
        pytest.fail("kamailio is not installed: run `make test` (it installs the test peers)")
    k = Kamailio(tmp_path_factory.mktemp("kamailio")).start()
    try:
        yield k
    finally:
        k.stop()


def _engine(tmp: Path, name: str, kam: Kamailio, extra_env: dict[str, str] | None = None) -> EngineProcess:
    eng = EngineProcess(tmp / name, engine_config(account_toml("office", name, kam), demo="on"), env=extra_env)
    eng.set_password("office", PASSWORD)
    eng.start()
    eng.wait_registration("office")
    return eng


@pytest.fixture(scope="module")
def bob(tmp_path_factory: pytest.TempPathFactory, kam: Kamailio) -> Iterator[EngineProcess]:
    eng = _engine(tmp_path_factory.mktemp("bob"), "bob", kam)
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture(scope="module")
def carol(tmp_path_factory: pytest.TempPathFactory, kam: Kamailio) -> Iterator[EngineProcess]:
    eng = _engine(tmp_path_factory.mktemp("carol"), "carol", kam)
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory, kam: Kamailio, xvfb: Xvfb) -> Iterator[EngineProcess]:
    eng = _engine(tmp_path_factory.mktemp("alice"), "alice", kam, xvfb.env())
    try:
        yield eng
    finally:
        eng.stop()


@pytest.fixture(autouse=True)
def _no_call_left_over(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that failed mid-call leaves its calls up on the module's engines: end them, so the next test
    starts from an idle phone and fails only for its own reasons."""
    yield
    for name in ("alice", "bob", "carol"):
        if name not in request.fixturenames:
            continue
        eng: EngineProcess = request.getfixturevalue(name)
        if eng.proc is None or eng.proc.poll() is not None:
            continue
        for c in eng.status()["calls"]:
            with contextlib.suppress(Exception):
                eng.ctl("hangup", call_id=c["call_id"])
        _wait_for(lambda eng=eng: not eng.status()["calls"], 10, what=f"{name}'s calls ended")


@pytest.fixture(scope="module")
def window(alice: EngineProcess, xvfb: Xvfb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WindowProcess]:
    (alice.data_dir / "window.json").write_text(json.dumps({"first_run_done": True}))
    win = WindowProcess({**alice.env, **xvfb.env()}, tmp_path_factory.mktemp("window") / "window.log")
    _WINDOWS.append(win)
    win.start()
    try:
        wait_for(lambda: any(a["name"] == "office" and a["registration"] == "REGISTERED"
                             for a in win.debug()["accounts"]), 15, what="window sees the registration")
        yield win
    finally:
        log = win.log()
        win.stop()
        assert "Traceback" not in log, log[-4000:]


def wait_for(pred: Any, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    """peers.wait_for, plus the window's page state in the failure message."""
    try:
        return _wait_for(pred, timeout, interval, what)
    except AssertionError as exc:
        live = _WINDOWS[-1] if _WINDOWS else None
        state = ""
        if live is not None:
            try:
                d = live.debug()
                state = json.dumps({k: d[k] for k in ("panel", "callState", "engine", "view")}) + " calls=" + \
                    json.dumps([(c["call_id"][:8], c["state"]) for c in d["calls"]])
            except Exception as e2:
                state = f"(no page state: {e2})"
        raise AssertionError(f"{exc}; page: {state}") from None


def js(win: WindowProcess, body: str) -> Any:
    return win.eval(f"(() => {{ {body} }})()")


def click(win: WindowProcess, selector: str, timeout: float = 10.0) -> None:
    """Click once the element is there and enabled, as a rep would: the page renders what the engine said a
    moment ago, so a control may still be off for a beat after the engine's state changed."""
    wait_for(lambda: js(win, f"const el = document.querySelector({json.dumps(selector)}); "
                             "if (!el || el.disabled) return false; el.click(); return true;"),
             timeout, what=f"{selector} clickable")


def key(win: WindowProcess, name: str, target: str = "document.activeElement || document.body") -> None:
    js(win, f"const t = {target}; t.dispatchEvent(new KeyboardEvent('keydown', "
            f"{{key: {json.dumps(name)}, bubbles: true, cancelable: true}})); return true;")


def real_click(xvfb: Xvfb, rect: list[int]) -> bool:
    """A real pointer click through the X server (what a rep does)."""
    if not shutil.which("xdotool"):
        return False
    x, y, w, h = rect
    subprocess.run(["xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "1"],
                   env={"DISPLAY": xvfb.display, "PATH": "/usr/bin:/bin"}, check=True, timeout=10)
    return True


def seen(eng: EngineProcess) -> set[str]:
    return {c["call_id"] for c in eng.call_events()}


def new_incoming(eng: EngineProcess, before: set[str], what: str) -> dict[str, Any]:
    return eng.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING"
                         and c["call_id"] not in before, what=what)


def ui_call(win: WindowProcess, call_id: str) -> dict[str, Any] | None:
    return next((c for c in win.debug()["calls"] if c["call_id"] == call_id), None)


def test_dial_from_dialer_then_escape_hangs_up(window: WindowProcess, alice: EngineProcess,
                                                bob: EngineProcess, kam: Kamailio) -> None:
    # Enter in the number field dials (the page normalises and shows errors inline)
    b0, a0 = seen(bob), seen(alice)
    js(window, "const n = document.getElementById('number'); n.focus(); n.value = 'sip:bob@127.0.0.1:"
               f"{kam.udp}'; n.dispatchEvent(new Event('input')); return true;")
    key(window, "Enter", "document.getElementById('number')")
    inc = new_incoming(bob, b0, "bob rings")
    out = alice.wait_call(lambda c: c["direction"] == "outbound" and c["state"] in ("RINGING", "EARLY")
                          and c["call_id"] not in a0, what="alice ringing")
    wait_for(lambda: window.debug()["panel"] == "call" and window.debug()["callState"] == "Ringing…", 10,
             what="call panel ringing")
    assert window.shell()["tray_icon_state"] == "call"
    bob.ctl("answer", call_id=inc["call_id"])
    alice.wait_state(out["call_id"], "ESTABLISHED")
    wait_for(lambda: window.debug()["callState"].startswith("00:"), 10, what="timer running")

    # digits typed during the call are DTMF (keyboard, no field focused)
    js(window, "document.activeElement && document.activeElement.blur(); return true;")
    key(window, "5", "document.body")
    wait_for(lambda: any(e.get("type") == "dtmf" and e.get("digit") == "5" for e in bob.events), 10,
             what="bob receives DTMF 5")

    # in-call controls: mute and hold go to the engine and come back as state
    click(window, "#btn-mute")
    wait_for(lambda: (ui_call(window, out["call_id"]) or {}).get("muted") is True, 10, what="muted")
    click(window, "#btn-mute")
    wait_for(lambda: (ui_call(window, out["call_id"]) or {}).get("muted") is False, 10, what="unmuted")

    key(window, "Escape")
    done = alice.wait_state(out["call_id"], "TERMINATED")
    assert done["end_status"] == "COMPLETED"
    wait_for(lambda: window.debug()["panel"] == "dialer", 10, what="back to the dialer")
    assert window.shell()["tray_icon_state"] == "ready"


def test_paste_is_normalised_to_e164_by_the_engine(window: WindowProcess) -> None:
    js(window, "const n = document.getElementById('number'); n.value = ''; n.focus();"
               "const dt = new DataTransfer(); dt.setData('text/plain', '  (415) 555-2671 ');"
               "n.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));"
               "return true;")
    wait_for(lambda: window.debug()["number"] == "+14155552671", 10, what="pasted number in E.164")
    js(window, "const n = document.getElementById('number'); n.value = '';"
               "const dt = new DataTransfer(); dt.setData('text/plain', 'call me <sip:x>');"
               "n.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));"
               "return true;")
    wait_for(lambda: "not a phone number" in window.debug()["hint"], 10, what="inline error for junk")
    js(window, "document.getElementById('number').value = ''; return true;")


def test_incoming_call_answered_from_the_toast_while_hidden(window: WindowProcess, alice: EngineProcess,
                                                            bob: EngineProcess, xvfb: Xvfb,
                                                            kam: Kamailio) -> None:
    window.hook("hide")
    wait_for(lambda: not window.shell()["window_visible"], 10, what="window hidden")
    a0 = seen(alice)
    out = bob.ctl("dial", number=f"sip:alice@127.0.0.1:{kam.udp}")
    inc = new_incoming(alice, a0, "alice rings")
    toast = wait_for(lambda: (lambda t: t if t["visible"] else None)(window.shell()["toast"]), 10, what="toast")
    assert toast["call_id"] == inc["call_id"]
    assert "bob" in toast["title"]
    assert window.shell()["tray_icon_state"] == "ringing"
    if not real_click(xvfb, toast["buttons"]["answer"]):
        window.hook("toast_click", action="answer")
    alice.wait_state(inc["call_id"], "ESTABLISHED")
    bob.wait_state(out["call_id"], "ESTABLISHED")
    wait_for(lambda: window.shell()["window_visible"], 10, what="answering shows the window")
    wait_for(lambda: window.debug()["panel"] == "call", 10, what="call panel after answer")
    assert not window.shell()["toast"]["visible"]
    bob.ctl("hangup", call_id=out["call_id"])
    assert alice.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    wait_for(lambda: window.debug()["panel"] == "dialer", 10, what="back to the dialer")


def test_missed_call_is_counted_and_listed(window: WindowProcess, alice: EngineProcess, bob: EngineProcess,
                                           kam: Kamailio) -> None:
    a0 = seen(alice)
    out = bob.ctl("dial", number=f"sip:alice@127.0.0.1:{kam.udp}")
    inc = new_incoming(alice, a0, "alice rings")
    bob.ctl("hangup", call_id=out["call_id"])                    # caller gives up: missed for alice
    assert alice.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "MISSED"
    wait_for(lambda: window.debug()["missed"] == 1, 10, what="missed badge")
    assert window.shell()["missed"] == 1


def test_history_shows_both_calls_and_calls_back(window: WindowProcess, alice: EngineProcess,
                                                  bob: EngineProcess) -> None:
    click(window, "#tab-history")
    rows = wait_for(lambda: (lambda h: h if len(h) >= 3 else None)(window.debug()["history"]), 10,
                    what="history rows")
    assert window.debug()["missed"] == 0 and window.shell()["missed"] == 0     # looking clears the badge
    assert {r["direction"] for r in rows} == {"inbound", "outbound"}
    assert {r["end_status"] for r in rows} >= {"COMPLETED", "MISSED"}
    click(window, '.chip[data-filter="missed"]')
    wait_for(lambda: [r["end_status"] for r in window.debug()["history"]] == ["MISSED"], 10, what="missed filter")
    click(window, '.chip[data-filter="all"]')
    wait_for(lambda: len(window.debug()["history"]) >= 3, 10, what="all again")
    # one click calls back. (The outbound row: in this loopback topology bob's From URI lacks kamailio's port,
    # so calling back his inbound rows would leave the proxy; with a real PBX both work the same.)
    b0 = seen(bob)
    row = next(r for r in rows if r["direction"] == "outbound")
    click(window, f'.h-row[data-call-id="{row["call_id"]}"] .h-call')
    inc = new_incoming(bob, b0, "call back rings bob")
    wait_for(lambda: window.debug()["view"] == "phone" and window.debug()["panel"] == "call", 10,
             what="call back switches to the call panel")
    bob.ctl("decline", call_id=inc["call_id"])
    wait_for(lambda: window.debug()["panel"] == "dialer", 10, what="declined")


def test_links_forward_to_the_running_window(window: WindowProcess, alice: EngineProcess, bob: EngineProcess,
                                             kam: Kamailio) -> None:
    env = {**window.env}
    env.pop("SOFTPHONE_TEST_HOOKS", None)
    window.hook("hide")
    before, b0 = seen(alice), seen(bob)
    # the real CLI, as xdg-open runs it for a sip: link: forwards to this window, which shows the number in the
    # dialer and waits for the rep (a link on a web page must never place a call by itself)
    bob_uri = f"sip:bob@127.0.0.1:{kam.udp}"
    r = subprocess.run([sys.executable, "-m", "softphone", bob_uri], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: window.shell()["window_visible"], 10, what="forwarding focuses the window")
    wait_for(lambda: window.debug()["number"] == bob_uri, 10, what="the link fills the dialer")
    time.sleep(1.0)
    assert seen(bob) == b0 and seen(alice) == before           # nothing was dialled on its own
    click(window, "#call-button")                              # the rep confirms
    inc = new_incoming(bob, b0, "the confirmed link rings bob")
    bob.ctl("decline", call_id=inc["call_id"])
    # tel: goes the same way, shown in E.164 (kamailio does not know the number: the call fails, but it is placed)
    r = subprocess.run([sys.executable, "-m", "softphone", "tel:+1-415-555-2671"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: window.debug()["number"] == "+14155552671", 10, what="tel: fills the dialer")
    key(window, "Enter", "document.getElementById('number')")
    tel = alice.wait_call(lambda c: c["call_id"] not in before and c["remote"] == "+14155552671",
                          what="tel: dialled after Enter")
    if tel["state"] != "TERMINATED":
        with contextlib.suppress(Exception):
            alice.ctl("hangup", call_id=tel["call_id"])
        alice.wait_state(tel["call_id"], "TERMINATED", 15)
    # a bad link is refused before anything is sent
    r = subprocess.run([sys.executable, "-m", "softphone", "tel:%0D%0AINVITE"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    # `softphone run` again only focuses the one window
    window.hook("hide")
    r = subprocess.run([sys.executable, "-m", "softphone", "run"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: window.shell()["window_visible"], 10, what="second run focuses the window")
    wait_for(lambda: window.debug()["panel"] == "dialer", 15, what="calls over")


def test_dnd_from_the_page_reaches_engine_and_tray(window: WindowProcess, alice: EngineProcess) -> None:
    click(window, "#dnd-toggle")
    wait_for(lambda: alice.status()["available"] is False, 10, what="engine DND")
    wait_for(lambda: window.shell()["tray_icon_state"] == "dnd" and window.shell()["dnd_checked"], 10,
             what="tray DND")
    click(window, "#dnd-toggle")
    wait_for(lambda: alice.status()["available"] is True, 10, what="engine available")
    wait_for(lambda: window.shell()["tray_icon_state"] in ("ready", "missed"), 10, what="tray ready")


def test_close_button_keeps_running_in_the_tray(window: WindowProcess, alice: EngineProcess,
                                              bob: EngineProcess, kam: Kamailio) -> None:
    window.hook("show")
    wait_for(lambda: window.shell()["window_visible"], 10, what="shown")
    window.hook("close")
    wait_for(lambda: not window.shell()["window_visible"], 10, what="closed to the tray")
    assert window.proc is not None and window.proc.poll() is None
    # still reachable: the tray menu's DND acts on the engine, and calls still ring (toast)
    window.hook("tray", action="dnd")
    wait_for(lambda: alice.status()["available"] is False, 10, what="DND from the tray menu")
    window.hook("tray", action="dnd")
    wait_for(lambda: alice.status()["available"] is True, 10, what="DND off from the tray menu")
    a0 = seen(alice)
    out = bob.ctl("dial", number=f"sip:alice@127.0.0.1:{kam.udp}")
    inc = new_incoming(alice, a0, "alice rings while closed")
    wait_for(lambda: window.shell()["toast"]["visible"], 10, what="toast while closed")
    window.hook("toast_click", action="decline")
    assert alice.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "REJECTED"
    bob.wait_state(out["call_id"], "TERMINATED")
    window.hook("tray", action="show")
    wait_for(lambda: window.shell()["window_visible"], 10, what="shown from the tray menu")


def _talk_to_bob(window: WindowProcess, alice: EngineProcess, bob: EngineProcess, kam: Kamailio) -> tuple[str, str]:
    """bob calls alice and she answers in the window; returns (alice's call id, bob's call id)."""
    a0 = seen(alice)
    out = bob.ctl("dial", number=f"sip:alice@127.0.0.1:{kam.udp}")
    inc = new_incoming(alice, a0, "alice rings")
    window.hook("show")
    wait_for(lambda: window.debug()["panel"] == "incoming", 10, what="incoming panel")
    click(window, "#incoming-answer")
    alice.wait_state(inc["call_id"], "ESTABLISHED")
    wait_for(lambda: window.debug()["panel"] == "call", 10, what="call panel")
    return inc["call_id"], out["call_id"]


def test_blind_transfer_from_the_call_panel(window: WindowProcess, alice: EngineProcess, bob: EngineProcess,
                                            carol: EngineProcess, kam: Kamailio) -> None:
    a, b = _talk_to_bob(window, alice, bob, kam)
    c0 = seen(carol)
    click(window, "#btn-transfer")
    js(window, f"document.getElementById('transfer-target').value = 'sip:carol@127.0.0.1:{kam.udp}'; return true;")
    click(window, "#transfer-blind")
    inc = new_incoming(carol, c0, "carol rings (blind transfer)")
    assert "bob" in inc["remote"]
    carol.ctl("answer", call_id=inc["call_id"])
    assert alice.wait_state(a, "TERMINATED")["end_status"] == "COMPLETED"
    wait_for(lambda: window.debug()["panel"] == "dialer", 10, what="alice is out of the call")
    carol.ctl("hangup", call_id=inc["call_id"])
    bob.wait_state(b, "TERMINATED")


def test_attended_transfer_from_the_call_panel(window: WindowProcess, alice: EngineProcess,
                                               bob: EngineProcess, carol: EngineProcess, kam: Kamailio) -> None:
    a1, _b = _talk_to_bob(window, alice, bob, kam)
    c0, b0 = seen(carol), seen(bob)
    click(window, "#btn-transfer")
    js(window, f"document.getElementById('transfer-target').value = 'sip:carol@127.0.0.1:{kam.udp}'; return true;")
    click(window, "#transfer-consult")
    consult = new_incoming(carol, c0, "carol rings (consultation)")
    wait_for(lambda: alice.status()["calls"][0]["state"] == "HELD", 10, what="bob held while consulting")
    carol.ctl("answer", call_id=consult["call_id"])
    wait_for(lambda: js(window, "return !document.getElementById('attended-bar').hidden && "
                                "!document.getElementById('attended-complete').disabled;"), 10,
             what="complete-transfer button ready")
    assert len(window.debug()["calls"]) == 2
    click(window, "#attended-complete")
    alice.wait_state(a1, "TERMINATED")
    wait_for(lambda: window.debug()["panel"] == "dialer", 15, what="alice dropped out")
    bob_new = bob.wait_call(lambda x: x["call_id"] not in b0 and x["state"] == "ESTABLISHED", what="bob-carol")
    assert bob_new["remote"].startswith("sip:carol")
    bob.ctl("hangup", call_id=bob_new["call_id"])


def test_call_waiting_and_swap_in_the_window(window: WindowProcess, alice: EngineProcess, bob: EngineProcess,
                                             carol: EngineProcess, kam: Kamailio) -> None:
    a1, b = _talk_to_bob(window, alice, bob, kam)
    a0 = seen(alice)
    out = carol.ctl("dial", number=f"sip:alice@127.0.0.1:{kam.udp}")
    a2 = new_incoming(alice, a0, "carol waits")["call_id"]
    wait_for(lambda: js(window, "return !document.getElementById('waiting').hidden;"), 10, what="waiting banner")
    click(window, "#waiting-answer")
    alice.wait_state(a2, "ESTABLISHED")
    alice.wait_state(a1, "HELD")
    wait_for(lambda: js(window, "return !document.getElementById('btn-swap').hidden;"), 10, what="swap button")
    click(window, "#btn-swap")
    alice.wait_state(a1, "ESTABLISHED")
    alice.wait_state(a2, "HELD")
    wait_for(lambda: (window.debug()["foreground"] or {}).get("call_id") == a1, 10, what="panel follows swap")
    click(window, "#btn-hangup")                 # ends the foreground call (bob)
    alice.wait_state(a1, "TERMINATED")
    bob.wait_state(b, "TERMINATED")
    carol.ctl("hangup", call_id=out["call_id"])
    wait_for(lambda: window.debug()["panel"] == "dialer", 10, what="all calls over")


def test_escape_ends_the_engines_foreground_call(window: WindowProcess, alice: EngineProcess, bob: EngineProcess,
                                                 carol: EngineProcess, kam: Kamailio) -> None:
    """Two calls on hold: mute and Esc in the window act on the call the engine names as the foreground (the
    newest), the one the headset and the widget would act on, never on a call of the page's own choosing."""
    a1, b1 = _talk_to_bob(window, alice, bob, kam)
    a0, c0 = seen(alice), seen(carol)
    click(window, "#btn-add")
    js(window, f"document.getElementById('number').value = 'sip:carol@127.0.0.1:{kam.udp}'; return true;")
    key(window, "Enter", "document.getElementById('number')")
    inc = new_incoming(carol, c0, "carol rings")
    a2 = alice.wait_call(lambda c: c["direction"] == "outbound" and c["call_id"] not in a0, what="alice calls carol")
    alice.wait_state(a1, "HELD")
    carol.ctl("answer", call_id=inc["call_id"])
    alice.wait_state(a2["call_id"], "ESTABLISHED")
    wait_for(lambda: window.debug()["panel"] == "call" and window.debug()["foregroundCallId"] == a2["call_id"], 10,
             what="the call panel shows carol")
    click(window, "#btn-hold")
    alice.wait_state(a2["call_id"], "HELD")                # both calls held now
    wait_for(lambda: alice.status()["foreground_call_id"] == a2["call_id"], 10, what="engine: newest held call")
    wait_for(lambda: window.debug()["foregroundCallId"] == a2["call_id"]
             and window.shell()["foreground_call_id"] == a2["call_id"], 10, what="page and shell follow the engine")

    click(window, "#btn-mute")
    wait_for(lambda: (ui_call(window, a2["call_id"]) or {}).get("muted") is True, 10, what="carol's call muted")
    assert not next(c for c in alice.status()["calls"] if c["call_id"] == a1)["muted"]

    key(window, "Escape")
    assert alice.wait_state(a2["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    carol.wait_state(inc["call_id"], "TERMINATED")
    assert [(c["call_id"], c["state"]) for c in alice.status()["calls"]] == [(a1, "HELD")]
    wait_for(lambda: window.debug()["foregroundCallId"] == a1, 10, what="bob's call is the foreground now")
    key(window, "Escape")
    alice.wait_state(a1, "TERMINATED")
    bob.wait_state(b1, "TERMINATED")
    wait_for(lambda: window.debug()["panel"] == "dialer", 10, what="all calls over")


def test_window_crash_never_drops_the_call(window: WindowProcess, alice: EngineProcess, bob: EngineProcess,
                                           kam: Kamailio, xvfb: Xvfb, tmp_path: Path) -> None:
    b0 = seen(bob)
    out = alice.ctl("dial", number=f"sip:bob@127.0.0.1:{kam.udp}")
    inc = new_incoming(bob, b0, "bob rings")
    bob.ctl("answer", call_id=inc["call_id"])
    alice.wait_state(out["call_id"], "ESTABLISHED")
    assert window.proc is not None
    window.proc.kill()                                   # Qt WebEngine dies
    window.proc.wait(10)
    assert alice.status()["calls"][0]["state"] == "ESTABLISHED"
    again = WindowProcess(window.env, tmp_path / "window2.log")
    _WINDOWS.append(again)
    again.start()
    try:
        wait_for(lambda: again.debug()["panel"] == "call", 15, what="reopened window shows the live call")
        click(again, "#btn-hangup")
        assert alice.wait_state(out["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    finally:
        again.stop()


def test_window_starts_the_engine_and_stops_it_on_quit(xvfb: Xvfb, tmp_path: Path) -> None:
    """`softphone run` with nothing running: the window starts `softphone serve` itself, shows "starting"
    until the event stream connects, and quitting the idle window stops the engine it started."""
    from tests.peers import engine_env

    (tmp_path / "config.toml").write_text(engine_config(demo="on"))
    env = engine_env(tmp_path)
    data = Path(env["SOFTPHONE_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "window.json").write_text(json.dumps({"first_run_done": True}))
    win = WindowProcess({**env, **xvfb.env()}, tmp_path / "window.log")
    _WINDOWS.append(win)
    win.start()
    try:
        wait_for(lambda: win.debug()["engine"]["connected"] and win.debug()["accounts"], 30,
                 what="spawned engine connected")
        assert win.debug()["accounts"][0]["demo"] is True
        call = win.eval("(() => { const n = document.getElementById('number'); n.value = '+1 415 555 2671';"
                        " document.getElementById('call-button').click(); return true; })()")
        assert call
        wait_for(lambda: str(win.debug()["callState"]).startswith("00:"), 15, what="demo line answers")
        click(win, "#btn-hangup")
        wait_for(lambda: win.debug()["panel"] == "dialer", 10, what="hung up")
        ctl = data / "ctl.sock"
        assert ctl.exists()
    finally:
        win.stop()
    wait_for(lambda: not ctl.exists(), 20, what="engine stopped with the window")
