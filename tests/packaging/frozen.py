"""The frozen app (dist/softphone) as a rep would get it: copied away from the source tree and run with a clean
environment. Builds it first only when it is missing or stale (packaging/build_inputs.py digest), within a time
budget; otherwise fails with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.peers import first_line

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist" / "softphone"
BUILD_SCRIPT = ROOT / "packaging" / "build-linux.sh"
# Measured here: a build takes ~2-3 min on 2 shared cores. The budget leaves room for a loaded machine.
BUILD_BUDGET_S = float(os.environ.get("SOFTPHONE_PACKAGE_BUILD_BUDGET_S", "900"))
PACKAGE_TEST_ENV = "SOFTPHONE_PACKAGE_TEST"


def pyproject_version() -> str:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def inputs_digest() -> str:
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import build_inputs
    finally:
        sys.path.pop(0)
    return str(build_inputs.digest(ROOT))


def build_state() -> tuple[bool, str]:
    """(fresh, why): is dist/softphone a build of the current sources?"""
    info_path = DIST / "BUILD-INFO.json"
    if not (DIST / "softphone").is_file() or not info_path.is_file():
        return False, f"no build in {DIST}"
    try:
        info = json.loads(info_path.read_text())
    except ValueError:
        return False, "BUILD-INFO.json is unreadable"
    if info.get("inputs_sha256") != inputs_digest():
        return False, f"the build ({info.get('built_at')}, {info.get('git_commit', '')[:10]}) is older than the sources"
    return True, "up to date"


def ensure_build() -> dict[str, Any]:
    """Return BUILD-INFO of a fresh build, building it if needed within BUILD_BUDGET_S. Raises AssertionError
    (a test failure, never a pass) when no fresh build can be had."""
    fresh, why = build_state()
    if not fresh:
        log = ROOT / "build" / "package-test-build.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(["bash", str(BUILD_SCRIPT)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(BUILD_BUDGET_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise AssertionError(
                    f"{why}, and building it did not finish within the {BUILD_BUDGET_S:.0f} s budget "
                    f"(SOFTPHONE_PACKAGE_BUILD_BUDGET_S). Run `make package` first; log: {log}") from None
        if rc != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{why}; `bash packaging/build-linux.sh` failed ({rc}) after "
                                 f"{time.monotonic() - start:.0f} s:\n{tail}")
        fresh, why = build_state()
        assert fresh, f"rebuilt, but the build is still not current: {why}"
    info: dict[str, Any] = json.loads((DIST / "BUILD-INFO.json").read_text())
    return info


def install_copy(dest: Path) -> Path:
    """Copy the build where no source tree is (like unpacking the tarball); returns the executable."""
    target = dest / "softphone"
    shutil.copytree(DIST, target, symlinks=True)
    return target / "softphone"


def clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A rep's session, minus everything a developer shell has (no PYTHONPATH, no venv, no repo on PATH)."""
    for d in ("home", "config", "data", "xdg-data", "xdg-config", "xdg-cache", "runtime"):
        (home / d).mkdir(parents=True, exist_ok=True)
    (home / "runtime").chmod(0o700)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home / "home"),
        "LANG": "C.UTF-8",
        "SOFTPHONE_CONFIG": str(home / "config" / "config.toml"),
        "SOFTPHONE_DATA_DIR": str(home / "data"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        "SOFTPHONE_AUDIO": "off",
    }
    env.update(extra or {})
    return env


class FrozenApp:
    """One installed copy plus one user's environment; every process started here is stopped by ``stop``."""

    def __init__(self, exe: Path, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.exe = exe
        self.home = home
        self.env = clean_env(home, extra_env)
        self.cwd = home / "home"
        self.serve_proc: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}

    @property
    def data_dir(self) -> Path:
        return Path(self.env["SOFTPHONE_DATA_DIR"])

    def run(self, *args: str, input: str | None = None, timeout: float = 60, check: bool = True,
            env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([str(self.exe), *args], env={**self.env, **(env_extra or {})}, cwd=self.cwd,
                           capture_output=True, text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"softphone {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)

    def serve(self, timeout: float = 60) -> dict[str, Any]:
        stderr = (self.home / "serve.stderr").open("ab")
        self.serve_proc = subprocess.Popen([str(self.exe), "serve"], env=self.env, cwd=self.cwd,
                                           stdout=subprocess.PIPE, stderr=stderr, text=True,
                                           start_new_session=True)
        line = first_line(self.serve_proc, timeout)
        if not line:
            self.stop()
            raise AssertionError("the frozen engine printed no ready line:\n"
                                 + (self.home / "serve.stderr").read_text(errors="replace")[-3000:])
        self.ready = json.loads(line)
        return self.ready

    def wait_history(self, call_id: str, pred: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        row: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            rows = self.json("history", "--json", "--limit", "50")
            row = next((r for r in rows if r["call_id"] == call_id), None)
            if row is not None and pred(row):
                return row
            time.sleep(0.3)
        raise AssertionError(f"history row for {call_id} never matched (last: {row})")

    def wait_call_state(self, call_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            st = self.json("ctl", "status", "--json")
            last = next((c for c in st.get("calls", []) if c["call_id"] == call_id), None)
            if last is not None and last["state"] == state:
                return dict(last)
            time.sleep(0.2)
        raise AssertionError(f"call {call_id} never reached {state} (last: {last})")

    def own_processes(self) -> list[int]:
        """Processes running this copy's binary (the engine a window spawned, QtWebEngineProcess...)."""
        root = str(self.exe.parent)
        pids = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(d / "exe").startswith(root):
                    pids.append(int(d.name))
        return pids

    def stop(self) -> None:
        p = self.serve_proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        self.serve_proc = None
        for pid in self.own_processes():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self.own_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.own_processes():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def mapped_files(pid: int) -> set[str]:
    out: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/"):
                out.add(parts[5])
    return out
