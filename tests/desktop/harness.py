"""Real-part harness for the desktop window: a private Xvfb, an optional tray host (trayer), the window
process (``python -m softphone.desktop``) and its test hooks over the per-user window socket.

Shared by tests/desktop and bench/desktop_*.py. Everything started here is stopped by its owner.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from softphone.desktop.instance import forward, socket_path
from tests.peers import wait_for


class Xvfb:
    """``Xvfb -displayfd``: the server picks a free display itself (no races with parallel suites)."""

    def __init__(self, size: str = "1280x800x24") -> None:
        self.size = size
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""
        self.tray: subprocess.Popen[bytes] | None = None

    def start(self) -> Xvfb:
        if not shutil.which("Xvfb"):
            raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
        r, w = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", self.size, "-nolisten", "tcp",
                                      "-noreset"], pass_fds=(w,), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(w)
        with os.fdopen(r, "rb") as fh:
            num = fh.readline().strip().decode()
        if not num:
            self.stop()
            raise RuntimeError("Xvfb did not report a display")
        self.display = f":{num}"
        return self

    def start_tray(self) -> bool:
        """An XEmbed system tray (trayer) so QSystemTrayIcon has somewhere to live."""
        if not shutil.which("trayer"):
            return False
        self.tray = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--width", "10",
                                      "--height", "28", "--transparent", "false", "--tint", "0x303030"],
                                     env={**os.environ, "DISPLAY": self.display}, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.3)
        return self.tray.poll() is None

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}

    def screenshot(self, path: Path) -> None:
        subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, "DISPLAY": self.display},
                       check=True, timeout=30)

    def stop(self) -> None:
        for p in (self.tray, self.proc):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self.tray = self.proc = None


class WindowProcess:
    """The real window (``python -m softphone.desktop``) with test hooks enabled."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**env, "SOFTPHONE_TEST_HOOKS": "1", "QTWEBENGINE_DISABLE_SANDBOX": "1"}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def data_dir(self) -> Path:
        return Path(self.env["SOFTPHONE_DATA_DIR"])

    def start(self, *links: str, wait: bool = True, timeout: float = 60) -> WindowProcess:
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "softphone.desktop", *links], env=self.env,
                                     stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if wait:
            wait_for(lambda: self._alive_and(self.ping), timeout, 0.1, what="window socket")
            wait_for(lambda: self._alive_and(self.page_ready), timeout, 0.2, what="page loaded")
        return self

    def _alive_and(self, fn: Any) -> Any:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"window exited with {self.proc.returncode}: {self.log()[-3000:]}")
        return fn()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def request(self, op: str, **kw: Any) -> dict[str, Any]:
        reply = forward(self.data_dir, {"op": op, **kw}, timeout_s=30)
        if reply is None:
            raise ConnectionError("no window socket")
        return reply

    def hook(self, op: str, **kw: Any) -> Any:
        reply = self.request(op, **kw)
        if not reply.get("ok"):
            raise AssertionError(f"window hook {op} failed: {reply}")
        return reply.get("result")

    def ping(self) -> bool:
        if not socket_path(self.data_dir).exists():
            return False
        try:
            return bool(self.request("ping").get("ok"))
        except OSError:
            return False

    def page_ready(self) -> bool:
        reply = self.request("eval", js="!!(window.softphoneApp && window.pywebview && window.pywebview.api"
                                     " && typeof window.pywebview.api.command === 'function')")
        return bool(reply.get("ok") and reply.get("result"))

    def eval(self, js: str) -> Any:
        return self.hook("eval", js=js)

    def debug(self) -> dict[str, Any]:
        result: dict[str, Any] = self.eval("window.softphoneApp.debug()")
        return result

    def shell(self) -> dict[str, Any]:
        result: dict[str, Any] = self.hook("shell")
        return result

    def grab(self, path: Path, what: str = "window") -> None:
        assert self.hook("grab", path=str(path), what=what), f"grab {what} failed"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.request("quit")
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


def pss_kb(root_pid: int) -> int:
    """Proportional set size of a process and all its descendants (smaps_rollup), in kB."""
    total = 0
    for pid in [root_pid, *descendants(root_pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
    return total


def rss_kb(root_pid: int) -> int:
    total = 0
    for pid in [root_pid, *descendants(root_pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d.name))
    out: list[int] = []
    stack = [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out
