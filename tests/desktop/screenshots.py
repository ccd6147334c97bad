"""Screenshots of the window's main states, from the real engine (demo line) and the real window under Xvfb.

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
from tests.peers import EngineProcess, wait_for

ROOT = Path(__file__).resolve().parents[2]


def type_number(win: WindowProcess, text: str) -> None:
    win.eval(f"(() => {{ const n = document.getElementById('number'); n.value = {json.dumps(text)};"
             " n.dispatchEvent(new Event('input')); return true; })()")


def click(win: WindowProcess, selector: str) -> None:
    assert win.eval(f"(() => {{ const b = document.querySelector({json.dumps(selector)}); if (!b) return false;"
                    " b.click(); return true; })()"), selector


def grab(win: WindowProcess, path: Path, what: str = "window") -> None:
    time.sleep(0.4)          # let the last event paint
    win.grab(path, what)


def panel(win: WindowProcess) -> str:
    return str(win.debug()["panel"])


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="softphone-shots-"))
    x = Xvfb("1280x800x24").start()
    x.start_tray()
    eng = EngineProcess(work / "engine", "")
    win = WindowProcess({**eng.env, **x.env()}, work / "window.log")
    ok = False
    try:
        eng.start()
        (eng.data_dir / "window.json").write_text(json.dumps({"first_run_done": False, "theme": "light"}))
        win.start()
        time.sleep(1.0)
        grab(win, out / "01-welcome.png")
        click(win, "#guide-done")

        # a little history first, so the list is not empty
        for number in ("+1 415 555 2671", "+44 20 7946 0958"):
            call = eng.ctl("dial", number=number)
            eng.wait_state(call["call_id"], "ESTABLISHED")
            time.sleep(0.3)
            eng.ctl("hangup", call_id=call["call_id"])
            eng.wait_state(call["call_id"], "TERMINATED")
        eng.ctl("demo_call_me")
        inc = eng.wait_call(lambda c: c["state"] == "INCOMING", what="incoming")
        eng.ctl("decline", call_id=inc["call_id"])
        eng.wait_state(inc["call_id"], "TERMINATED")
        click(win, "#last-call-close")

        type_number(win, "(415) 555-0134")
        wait_for(lambda: "Calls" in win.debug()["hint"], 10, what="normalise hint")
        grab(win, out / "02-dialer.png")

        click(win, "#call-button")
        wait_for(lambda: win.debug()["callState"].startswith("00:0"), 15, what="call connected")
        time.sleep(2.2)
        grab(win, out / "03-in-call.png")

        click(win, "#btn-keypad")
        for d in "1234":
            click(win, f'#dtmfpad .key[data-digit="{d}"]')
            time.sleep(0.1)
        grab(win, out / "04-keypad.png")
        click(win, "#btn-keypad")

        for c in eng.status()["calls"]:
            eng.ctl("hangup", call_id=c["call_id"])
        wait_for(lambda: win.debug()["panel"] == "dialer", 10, what="back to dialer")

        eng.ctl("demo_call_me")
        wait_for(lambda: panel(win) == "incoming", 10, what="incoming panel")
        time.sleep(0.5)
        grab(win, out / "07-incoming.png")
        win.hook("hide")
        wait_for(lambda: win.shell()["toast"]["visible"] or (eng.ctl("decline") and False), 10, what="toast")
        time.sleep(0.4)
        grab(win, out / "08-toast.png", "toast")
        x.screenshot(out / "09-toast-desktop.png")
        win.hook("toast_click", action="answer")
        wait_for(lambda: win.debug()["panel"] == "call", 10, what="answered from toast")
        eng.ctl("hangup")
        wait_for(lambda: win.debug()["panel"] == "dialer", 10, what="hung up")

        click(win, "#tab-history")
        wait_for(lambda: len(win.debug()["history"]) >= 4, 10, what="history rows")
        time.sleep(0.3)
        grab(win, out / "10-history.png")

        click(win, "#tab-settings")
        time.sleep(1.0)
        grab(win, out / "11-settings.png")

        win.eval("(() => { document.documentElement.dataset.theme = 'dark'; return true; })()")
        click(win, "#tab-phone")
        call = eng.ctl("dial", number="+1 415 555 0199")
        eng.wait_state(call["call_id"], "ESTABLISHED")
        time.sleep(1.5)
        grab(win, out / "12-in-call-dark.png")
        eng.ctl("hangup")
        wait_for(lambda: win.debug()["panel"] == "dialer", 10, what="hung up")
        click(win, "#tab-history")
        time.sleep(0.8)
        grab(win, out / "13-history-dark.png")
        win.eval("(() => { document.documentElement.dataset.theme = 'light'; return true; })()")
        click(win, "#tab-phone")
        call = eng.ctl("dial", number="+1 415 555 0188")
        eng.wait_state(call["call_id"], "ESTABLISHED")
        time.sleep(1.0)
        eng.ctl("demo_call_me")
        wait_for(lambda: win.eval("!document.getElementById('waiting').hidden"), 10, what="call waiting")
        grab(win, out / "05-call-waiting.png")
        time.sleep(1.0)       # the demo line's answer to the call-waiting leg can stick (see the desktop report)
        click(win, "#waiting-answer")
        try:
            wait_for(lambda: win.eval("!!document.querySelector('.other-call')") and
                     not any(c["state"] == "INCOMING" for c in win.debug()["calls"]), 6, what="two calls")
            grab(win, out / "06-two-calls.png")
        except AssertionError as exc:
            print(f"no two-call screenshot: {exc}", file=sys.stderr)

        print(f"screenshots in {out}")
        ok = True
        return 0
    finally:
        win.stop()
        eng.stop()
        x.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "screenshots"))
