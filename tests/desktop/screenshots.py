"""Screenshots of the window's main states: the real engine and window under Xvfb, registered on kamailio; a
second engine ("Jordan Lee") calls in, phone numbers go through kamailio to a sipp UAS that answers and echoes.

    .venv/bin/python -m tests.desktop.screenshots [OUT_DIR]      (default: assets/screenshots)

Not a test: a tool to look at the design (and refresh the README pictures) after UI changes.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.desktop.harness import WindowProcess, Xvfb
from tests.peers import PASSWORD, EngineProcess, Kamailio, Sipp, account_toml, engine_config, wait_for

ROOT = Path(__file__).resolve().parents[2]


def js(win: WindowProcess, body: str) -> object:
    return win.eval(f"(() => {{ {body} }})()")


def type_number(win: WindowProcess, text: str) -> None:
    js(win, f"const n = document.getElementById('number'); n.value = {json.dumps(text)};"
            " n.dispatchEvent(new Event('input')); return true;")


def click(win: WindowProcess, selector: str) -> None:
    assert js(win, f"const b = document.querySelector({json.dumps(selector)}); if (!b) return false;"
                   " b.click(); return true;"), selector


def theme(win: WindowProcess, name: str) -> None:
    js(win, f"document.documentElement.dataset.theme = {json.dumps(name)}; return true;")


def grab(win: WindowProcess, path: Path, what: str = "window") -> None:
    time.sleep(0.4)          # let the last event paint
    win.grab(path, what)


def panel(win: WindowProcess) -> str:
    return str(win.debug()["panel"])


def engine(tmp: Path, name: str, display: str, kam: Kamailio, env: dict[str, str] | None = None) -> EngineProcess:
    acc = account_toml("Sales line", name, kam, extra=f'display_name = "{display}"')
    eng = EngineProcess(tmp / name, engine_config(acc, demo="off"), env=env)
    eng.set_password("Sales line", PASSWORD)
    eng.start()
    eng.wait_registration("Sales line")
    return eng


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="softphone-shots-"))
    x = Xvfb("1280x800x24").start()
    x.start_tray()
    sipp = Sipp("uas", workdir=work, extra=["-rtp_echo"]).start()
    kam = Kamailio(work / "kamailio", gateway_port=sipp.port).start()
    alice = engine(work, "alex", "Alex Rivera", kam, x.env())
    bob = engine(work, "jordan", "Jordan Lee", kam)
    alex_uri = f"sip:alex@127.0.0.1:{kam.udp}"
    win = WindowProcess({**alice.env, **x.env()}, work / "window.log")
    ok = False
    try:
        (alice.data_dir / "window.json").write_text(json.dumps({"first_run_done": False}))
        win.start()
        wait_for(lambda: any(a["registration"] == "REGISTERED" for a in win.debug()["accounts"]), 15,
                 what="registered")
        grab(win, out / "01-welcome.png")
        click(win, "#guide-done")

        # (order matters: the engine refuses a 7th call in its lifetime today, see the desktop report)
        type_number(win, "(415) 555-0134")
        wait_for(lambda: "Calls" in str(win.debug()["hint"]), 10, what="normalise hint")
        grab(win, out / "02-dialer.png")

        click(win, "#call-button")
        wait_for(lambda: str(win.debug()["callState"]).startswith("00:0"), 15, what="call connected")
        time.sleep(3.5)
        grab(win, out / "03-in-call.png")
        click(win, "#btn-keypad")
        for d in "1234":
            click(win, f'#dtmfpad .key[data-digit="{d}"]')
            time.sleep(0.1)
        grab(win, out / "04-keypad.png")
        click(win, "#keypad-close")
        click(win, "#btn-transfer")
        js(win, "document.getElementById('transfer-target').value = '+1 415 555 0100'; return true;")
        grab(win, out / "05-transfer.png")
        click(win, "#transfer-cancel")

        # call waiting: Jordan calls while the rep is on the phone
        second = bob.ctl("dial", number=alex_uri)
        wait_for(lambda: js(win, "return !document.getElementById('waiting').hidden;"), 10, what="waiting")
        grab(win, out / "06-call-waiting.png")
        click(win, "#waiting-answer")
        wait_for(lambda: js(win, "return !!document.querySelector('.other-call');") and
                 not any(c["state"] == "INCOMING" for c in win.debug()["calls"]), 10, what="two calls")
        time.sleep(1.2)
        grab(win, out / "07-two-calls.png")
        bob.ctl("hangup", call_id=second["call_id"])
        wait_for(lambda: len(win.debug()["calls"]) == 1, 10, what="one call left")
        for c in win.debug()["calls"]:
            alice.ctl("hangup", call_id=c["call_id"])
        wait_for(lambda: panel(win) == "dialer", 10, what="calls over")

        out_call = bob.ctl("dial", number=alex_uri)
        wait_for(lambda: panel(win) == "incoming", 10, what="incoming panel")
        grab(win, out / "08-incoming.png")
        win.hook("hide")
        wait_for(lambda: win.shell()["toast"]["visible"], 10, what="toast")
        grab(win, out / "09-toast.png", "toast")
        x.screenshot(out / "10-toast-on-desktop.png")
        win.hook("toast_click", action="answer")
        wait_for(lambda: panel(win) == "call", 10, what="answered from toast")
        time.sleep(1.0)
        bob.ctl("hangup", call_id=out_call["call_id"])
        wait_for(lambda: panel(win) == "dialer", 10, what="call over")

        # one more for the history: a missed call
        out_call = bob.ctl("dial", number=alex_uri)
        inc = alice.wait_call(lambda c: c["state"] == "INCOMING", what="incoming")
        bob.ctl("hangup", call_id=out_call["call_id"])
        alice.wait_state(inc["call_id"], "TERMINATED")
        time.sleep(0.5)
        grab(win, out / "11-dialer-after-call.png")

        click(win, "#tab-history")
        wait_for(lambda: len(win.debug()["history"]) >= 4, 10, what="history rows")
        grab(win, out / "12-history.png")
        click(win, "#tab-settings")
        time.sleep(1.0)
        grab(win, out / "13-settings.png")

        theme(win, "dark")
        click(win, "#tab-phone")
        call = alice.ctl("dial", number="+1 415 555 0199")
        alice.wait_state(call["call_id"], "ESTABLISHED")
        time.sleep(3.5)
        grab(win, out / "14-in-call-dark.png")
        alice.ctl("hangup", call_id=call["call_id"])
        wait_for(lambda: panel(win) == "dialer", 10, what="hung up")
        click(win, "#last-call-close")
        grab(win, out / "15-dialer-dark.png")
        click(win, "#tab-history")
        time.sleep(0.8)
        grab(win, out / "16-history-dark.png")
        print(f"screenshots in {out}")
        ok = True
        return 0
    finally:
        win.stop()
        bob.stop()
        alice.stop()
        kam.stop()
        sipp.stop()
        x.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "screenshots"))
