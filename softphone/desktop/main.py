"""``softphone run``: the desktop window, a client of the engine process.

Startup: forward to a running window if there is one (focus, or dial a ``tel:``/``sip:``/``callto:`` link),
else take the single-instance lock, start ``softphone serve`` detached when no engine answers, and open the
pywebview (Qt) window at once; the page (softphone://app, see resources.py) says "starting" until the event
stream connects.

Threads: Qt owns the main thread (tray, toast, window, the page's URL scheme); pywebview calls js_api methods
on fresh threads; ``EventPump`` reads engine events on its own asyncio thread; ``PageFeed`` runs the page's
scripts on its ``Worker``; forwarded requests arrive on the instance server's threads. Qt objects are touched
only through ``MainThread.post``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from softphone.desktop import resources
from softphone.desktop.bridge import Bridge
from softphone.desktop.engine import EngineClient, engine_listening, error_payload, open_client, spawn_engine
from softphone.desktop.instance import InstanceLock, WindowServer, forward
from softphone.desktop.links import dial_target
from softphone.desktop.prefs import Prefs
from softphone.desktop.pump import EventPump, PageFeed
from softphone.desktop.state import (
    DesktopState,
    Effect,
    HideToast,
    NotifyMissed,
    ShowToast,
    TrayChanged,
    TrayState,
    caller_label,
)

if TYPE_CHECKING:
    from softphone.desktop.toast import CallToast
    from softphone.desktop.tray import Tray

log = logging.getLogger(__name__)

T = TypeVar("T")
WINDOW_TITLE = "Softphone"
ENGINE_WAIT_S = 30.0
FORWARD_WAIT_S = 10.0
TEST_HOOKS_ENV = "SOFTPHONE_TEST_HOOKS"


def run_window(argv_links: list[str]) -> int:
    """Entry point of ``softphone run [LINK]`` and ``softphone tel:+1…``. Returns the process exit code."""
    from softphone.config import data_dir

    targets: list[str] = []
    for link in argv_links:
        target = dial_target(link)
        if target is None:
            print(f"softphone: not a tel:, sip: or callto: link: {link[:80]!r}", file=sys.stderr)
            return 2
        targets.append(target)
    ddir = data_dir()
    request: dict[str, Any] = {"op": "dial", "target": targets[0]} if targets else {"op": "focus"}
    deadline = time.monotonic() + FORWARD_WAIT_S
    while True:
        reply = forward(ddir, request)
        if reply is not None:
            if reply.get("ok"):
                return 0
            print(f"softphone: {reply.get('error', {}).get('message', 'failed')}", file=sys.stderr)
            return 1
        lock = InstanceLock.try_acquire(ddir)
        if lock is not None:
            break
        if time.monotonic() > deadline:
            print("softphone: another window is starting but does not answer.", file=sys.stderr)
            return 1
        time.sleep(0.2)
    try:
        shell = DesktopShell(ddir, open_client(ddir), Prefs(ddir),
                             test_hooks=os.environ.get(TEST_HOOKS_ENV) == "1")
        return shell.run(targets[0] if targets else None)
    finally:
        lock.release()


def _prepare_qt_environment() -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to run its sandbox as root (containers, CI); the page is our own local file.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.webenginecontext.debug=false")
    if os.environ.get("SOFTPHONE_GPU", "") not in ("1", "on", "yes"):
        # A small, mostly static page does not need OpenGL. Software rendering skips loading the GL stack
        # (Mesa's llvmpipe alone is ~45 MB of the window's PSS; measured 354 -> 281 MB for the window tree),
        # starts faster, and avoids the blank-window driver bugs QtWebEngine is known for.
        # SOFTPHONE_GPU=1 restores GPU rendering.
        os.environ.setdefault("QT_XCB_GL_INTEGRATION", "none")
        os.environ.setdefault("QT_QUICK_BACKEND", "software")
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--disable-gpu" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --disable-gpu").strip()


class DesktopShell:
    def __init__(self, data_dir: Path, client: EngineClient, prefs: Prefs, *,
                 test_hooks: bool = False) -> None:
        self.data_dir = data_dir
        self.client = client
        self.prefs = prefs
        self.test_hooks = test_hooks
        self.state = DesktopState()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="window-action")
        self._engine_proc: subprocess.Popen[bytes] | None = None
        self._quitting = False
        self._window: Any = None
        self._main: Any = None
        self._tray: Tray | None = None
        self._toast: CallToast | None = None
        self._feed: PageFeed | None = None
        self._pump: EventPump | None = None
        self._server: WindowServer | None = None
        self._scheme: Any = None
        self._dark = False
        self.started_at = time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    def run(self, dial: str | None = None) -> int:
        _prepare_qt_environment()
        import webview
        import webview.platforms.qt  # QtWebEngine must be imported before the QApplication
        from PySide6.QtGui import QGuiApplication, QIcon
        from PySide6.QtWidgets import QApplication

        from softphone.desktop.qtmain import MainThread, PageScheme, register_page_scheme
        from softphone.desktop.toast import CallToast
        from softphone.desktop.tray import Tray

        if QApplication.instance() is None:
            register_page_scheme()
        app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "softphone"])
        assert isinstance(app, QApplication)
        app.setApplicationName("Softphone")
        app.setDesktopFileName("softphone")
        app.setQuitOnLastWindowClosed(False)
        app_icon = QIcon(str(resources.icon("softphone")))
        app.setWindowIcon(app_icon)
        self._main = MainThread()
        self._dark = self._effective_dark()
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: self._theme_changed())

        self._server = WindowServer(self.data_dir, self._handle_request)
        self._server.start()
        if not engine_listening(self.data_dir):
            self._engine_proc = spawn_engine(self.data_dir)

        # tray and toast come right after the window is up (first turn of the Qt event loop)
        def make_shell_widgets() -> None:
            self._toast = CallToast(self._toast_action, app_icon, self._dark)
            self._tray = Tray(on_toggle_window=self.toggle_window, on_show=self.show_window,
                              on_dnd=self._set_dnd, on_quit=self.quit)
            with self._lock:
                pending: list[Effect] = [TrayChanged(self.state.tray_state(), self.state.tooltip())]
                pending += [ShowToast(c) for c in self.state.incoming()]
            self._apply_effects(pending)
        self._main.post(make_shell_widgets)
        bridge = Bridge(self.client, self.prefs, self)
        # No url here: pywebview would take softphone://… for a local path and start its own HTTP server. The
        # window opens blank and _load_page points it at the page once the scheme's handler is installed.
        self._window = webview.create_window(
            WINDOW_TITLE, html=" ", js_api=bridge,
            width=420, height=740, min_size=(360, 560), text_select=True,  # app.css decides (no inline style)
            background_color="#15181d" if self._dark else "#f6f7f9",
        )
        # the page reads its own files through the scheme only, never the file system through file: URLs
        webview.settings["ALLOW_FILE_URLS"] = False
        self._scheme = PageScheme()
        self._window.events.before_show += self._load_page
        self._window.events.closing += self._on_closing
        self._window.events.shown += self._on_shown
        try:
            webview.start(self._on_started, (dial,), gui="qt", private_mode=True,
                          icon=str(resources.icon("softphone")))
        finally:
            self._shutdown()
        return 0

    def _load_page(self) -> None:
        """On the Qt main thread, once the window's web view exists: serve softphone://app and open the page."""
        from PySide6.QtCore import QUrl

        view = self._window.native.webview
        self._scheme.install(view.page().profile())
        view.setUrl(QUrl(resources.PAGE_URL))

    def _on_shown(self) -> None:
        log.info("window shown %.2f s after start", time.monotonic() - self.started_at)

    def _on_started(self, dial: str | None) -> None:
        # run_js, not evaluate_js: evaluate_js wraps each script in eval() and serialises its result back,
        # which an event push needs neither of; runJavaScript from Qt runs the script as it is.
        self._feed = PageFeed(self._window.run_js)
        self._pump = EventPump(self.client, self._deliver)
        self._pump.start()
        if dial:
            self._dial(dial)

    def _shutdown(self) -> None:
        if self._pump is not None:
            self._pump.stop()
        if self._feed is not None:
            self._feed.close()
        if self._server is not None:
            self._server.stop()
        if self._tray is not None:
            self._tray.hide()
        self._executor.shutdown(wait=False, cancel_futures=True)
        proc = self._engine_proc
        if proc is not None and proc.poll() is None:
            with self._lock:
                busy = bool(self.state.calls)
            if busy:
                log.warning("a call is still active: the phone engine (pid %d) keeps running", proc.pid)
            else:
                # this window started the engine, so quitting the window quits the phone too
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def _on_closing(self) -> bool | None:
        """Close button: keep running in the tray (calls keep ringing); only ``quit`` really closes."""
        if self._quitting:
            return None
        native = self._window.native
        if native is not None:
            native.hide()
        return False

    # ------------------------------------------------------------------ Shell protocol (any thread)

    def hide_window(self) -> None:
        self._post(lambda: self._window.native.hide() if self._window.native is not None else None)

    def show_window(self) -> None:
        def show() -> None:
            native = self._window.native
            if native is None:
                return
            native.showNormal()
            native.raise_()
            native.activateWindow()
        self._post(show)

    def toggle_window(self) -> None:
        def toggle() -> None:
            native = self._window.native
            if native is not None and native.isVisible():
                native.hide()
            else:
                self.show_window()
        self._post(toggle)

    def quit(self) -> None:
        def do_quit() -> None:
            self._quitting = True
            if self._toast is not None:
                self._toast.hide()
            self._window.destroy()
        self._post(do_quit)

    def start_engine(self) -> bool:
        if self.client.is_running():
            return False
        if self._engine_proc is not None and self._engine_proc.poll() is None:
            return False
        self._engine_proc = spawn_engine(self.data_dir)
        return True

    def missed_seen(self) -> None:
        with self._lock:
            effects = self.state.seen_missed()
        self._post(lambda: self._apply_effects(effects))

    def shell_info(self) -> dict[str, Any]:
        from softphone.desktop.tray import Tray

        return {"dark": self._dark, "tray": Tray.available(), "data_dir": str(self.data_dir),
                "started_engine": self._engine_proc is not None}

    # ------------------------------------------------------------------ events

    def _deliver(self, event: dict[str, Any]) -> None:
        with self._lock:
            effects = self.state.apply(event)
        if self._feed is not None:
            self._feed.push(event)
        if effects:
            self._post(lambda: self._apply_effects(effects))

    def _apply_effects(self, effects: list[Effect]) -> None:
        if self._toast is None or self._tray is None:
            return          # not made yet: make_shell_widgets applies the current state when it runs
        for eff in effects:
            if isinstance(eff, ShowToast):
                if not self._window_active():
                    self._toast.show_incoming(eff.call)
            elif isinstance(eff, HideToast):
                self._toast.hide_call(eff.call_id)
            elif isinstance(eff, NotifyMissed):
                if not self._window_active():
                    self._toast.show_missed(eff.call)
            elif isinstance(eff, TrayChanged):
                self._tray.set_state(eff.state, eff.tooltip)
                self._tray.set_dnd(not self.state.available)
                native = self._window.native if self._window is not None else None
                if native is not None:
                    native.setWindowTitle(_window_title(eff.state, self.state.missed))

    def _window_active(self) -> bool:
        native = self._window.native if self._window is not None else None
        return bool(native is not None and native.isVisible() and native.isActiveWindow())

    def _toast_action(self, action: str, call: dict[str, Any]) -> None:
        call_id = call.get("call_id")
        if action == "answer":
            self.show_window()
            self._run_command("answer", call_id=call_id)
        elif action == "decline":
            self._run_command("decline", call_id=call_id)
        elif action == "callback":
            self.show_window()
            self._run_command("dial", number=call.get("remote"), account=call.get("account") or None)
        elif action == "open":
            self.show_window()

    def _run_command(self, name: str, **args: Any) -> None:
        args = {k: v for k, v in args.items() if v is not None}

        def run() -> None:
            try:
                self.client.command(name, **args)
            except Exception as exc:
                self._notice(error_payload(exc)["message"])
        self._executor.submit(run)

    def _notice(self, message: str, level: str = "error") -> None:
        if self._feed is not None:
            self._feed.push({"type": "notice", "level": level, "message": message, "code": "window"})

    def _set_dnd(self, dnd: bool) -> None:
        self._run_command("set_available", available=not dnd)

    def _effective_dark(self) -> bool:
        theme = self.prefs.get("theme")
        if theme in ("light", "dark"):
            return bool(theme == "dark")
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QGuiApplication

        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorScheme"):
            return bool(hints.colorScheme() == Qt.ColorScheme.Dark)
        return False

    def _theme_changed(self) -> None:
        self._dark = self._effective_dark()
        if self._toast is not None:
            self._toast.set_dark(self._dark)
        if self._feed is not None:
            dark = "true" if self._dark else "false"
            self._feed.run_js(f"window.softphoneApp && window.softphoneApp.setSystemDark({dark})")

    # ------------------------------------------------------------------ forwarded requests (instance socket)

    def _dial(self, target: str) -> dict[str, Any]:
        deadline = time.monotonic() + ENGINE_WAIT_S
        while not self.client.is_running():
            if time.monotonic() > deadline:
                err = {"code": "not_running", "message": "The phone engine did not start (see engine.log)."}
                self._notice(err["message"])
                return {"ok": False, "error": err}
            time.sleep(0.2)
        try:
            if self._confirm_links():
                # a link on a web page must not place a call by itself: the rep sees the number and presses Call
                shown = self.client.command("normalize", number=target)["display"]
                self.show_window()
                if self._feed is not None:
                    self._feed.run_js(f"window.softphoneApp && window.softphoneApp.offerLink({json.dumps(shown)})")
                return {"ok": True, "result": {"offered": shown}}
            result = self.client.command("dial", number=target)
        except Exception as exc:
            err = error_payload(exc)
            self._notice(err["message"])
            self.show_window()
            return {"ok": False, "error": err}
        self.show_window()
        return {"ok": True, "result": result}

    @staticmethod
    def _confirm_links() -> bool:
        from softphone import config as cfg

        try:
            return cfg.load().confirm_link_dial
        except Exception:
            return True          # an unreadable config never makes links dial on their own

    def _handle_request(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "focus":
            self.show_window()
            return {"ok": True}
        if op == "dial":
            target = dial_target(str(req.get("target", "")))
            if target is None:
                return {"ok": False, "error": {"code": "invalid_number",
                                               "message": "Not a tel:, sip: or callto: link."}}
            return self._dial(target)
        if op == "ping":
            return {"ok": True, "result": {"pid": os.getpid()}}
        if self.test_hooks:
            return self._test_hook(op, req)
        return {"ok": False, "error": {"code": "bad_request", "message": f"Unknown request {op!r}."}}

    def _test_hook(self, op: Any, req: dict[str, Any]) -> dict[str, Any]:
        """Drive the real window from tests (enabled only with SOFTPHONE_TEST_HOOKS=1)."""
        if self._window is None or self._window.native is None:
            return {"ok": False, "error": {"code": "not_ready", "message": "The window is not created yet."}}
        if op == "eval":
            script = (f"(() => {{ try {{ return JSON.stringify({{v: ({req['js']})}}); }}"
                      " catch (e) { return JSON.stringify({error: String(e)}); } })()")
            raw = self._window.run_js(script)
            box = json.loads(raw) if isinstance(raw, str) and raw else {"error": "script did not run (syntax?)"}
            if "error" in box:
                return {"ok": False, "error": {"code": "js", "message": box["error"]}}
            return {"ok": True, "result": box.get("v")}
        if op == "shell":
            return {"ok": True, "result": self._call_main(self._shell_snapshot)}
        if op == "toast_click":
            assert self._toast is not None
            toast = self._toast
            return {"ok": True, "result": self._call_main(lambda: toast.click(str(req["action"])))}
        if op == "grab":
            path, what = str(req["path"]), str(req.get("what", "window"))
            return {"ok": True, "result": self._call_main(lambda: self._grab(what, path))}
        if op == "close":               # what the title bar's close button does
            self._post(self._window.native.close)
            return {"ok": True}
        if op == "tray":
            assert self._tray is not None
            tray = self._tray
            action = {"show": tray.show_action, "dnd": tray.dnd_action, "quit": tray.quit_action}[str(req["action"])]
            self._post(action.trigger)
            return {"ok": True}
        if op in ("show", "hide", "quit"):
            {"show": self.show_window, "hide": self.hide_window, "quit": self.quit}[op]()
            return {"ok": True}
        return {"ok": False, "error": {"code": "bad_request", "message": f"Unknown request {op!r}."}}

    def _shell_snapshot(self) -> dict[str, Any]:
        assert self._toast is not None and self._tray is not None
        native = self._window.native
        with self._lock:
            missed, tray_state = self.state.missed, self.state.tray_state()
            foreground = self.state.foreground_call_id
        return {
            "window_visible": bool(native is not None and native.isVisible()),
            "window_title": native.windowTitle() if native is not None else "",
            "tray_state": tray_state.value, "tray_icon_state": self._tray.state.value,
            "tray_available": self._tray.available(), "dnd_checked": self._tray.dnd_action.isChecked(),
            "missed": missed, "foreground_call_id": foreground,
            "engine_connected": bool(self._pump and self._pump.connected),
            "toast": {"visible": self._toast.isVisible(), "mode": self._toast.mode,
                      "call_id": self._toast.call_id, "title": self._toast.windowTitle(),
                      "buttons": self._toast.button_rects()},
        }

    def _grab(self, what: str, path: str) -> bool:
        from PySide6.QtGui import QGuiApplication

        if what == "toast":
            assert self._toast is not None
            return bool(self._toast.grab().save(path))
        if what == "screen":
            screen = QGuiApplication.primaryScreen()
            return bool(screen.grabWindow(0).save(path))
        return bool(self._window.native.grab().save(path))

    # ------------------------------------------------------------------ threading helpers

    def _post(self, fn: Callable[[], Any]) -> None:
        if self._main is not None:
            self._main.post(fn)

    def _call_main(self, fn: Callable[[], T]) -> T:
        if self._main is None:
            raise RuntimeError("the Qt main thread is not running")
        result: T = self._main.call(fn)
        return result


def _window_title(state: TrayState, missed: int) -> str:
    extra = {
        TrayState.RINGING: "incoming call", TrayState.IN_CALL: "in call", TrayState.DND: "do not disturb",
        TrayState.OFFLINE: "offline",
    }.get(state)
    if state is TrayState.MISSED:
        extra = f"{missed} missed"
    return f"{WINDOW_TITLE} — {extra}" if extra else WINDOW_TITLE


__all__ = ["DesktopShell", "caller_label", "run_window"]
