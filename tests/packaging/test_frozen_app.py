"""The frozen app (PyInstaller one-folder build) on a machine without the source tree: copied to a temp folder,
run from outside the repository with a clean environment (no PYTHONPATH, no venv, private config/data/keyring).

Run with `make package-test` (SOFTPHONE_PACKAGE_TEST=1). The build is made first only when dist/softphone is
missing or older than the sources, within SOFTPHONE_PACKAGE_BUILD_BUDGET_S; no build → failure, not a pass.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.desktop.harness import WindowProcess, Xvfb
from tests.packaging import olddata
from tests.packaging.frozen import BUILD_BUDGET_S, ROOT, FrozenApp, mapped_files, pyproject_version
from tests.peers import free_port, have, wait_for

DEMO = "Demo line"
# The first test may have to build (minutes); each later one takes seconds.
pytestmark = [pytest.mark.frozen, pytest.mark.timeout(BUILD_BUDGET_S + 300)]


def _not_from_source_tree(paths: set[str]) -> None:
    leaked = sorted(p for p in paths if p.startswith(str(ROOT)))
    assert not leaked, f"the frozen app loaded files from the source tree: {leaked[:10]}"


def test_version_and_native_selftest(frozen_app: FrozenApp, frozen_build: dict[str, Any]) -> None:
    want = pyproject_version()
    assert frozen_build["version"] == want
    assert frozen_app.run("--version").stdout.strip() == f"softphone {want}"
    r = frozen_app.run("--bundle-selftest", env_extra={"QT_QPA_PLATFORM": "offscreen"}, check=False)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"], r.stdout + r.stderr[-3000:]
    assert report["frozen"] is True and report["softphone_version"] == want
    assert report["pjsua2"]["tls_session"]["version"] == "TLSv1.2"
    assert report["python_ssl"]["openssl"].startswith("OpenSSL 3") and report["qt"]["encrypted"]
    # PulseAudio devices (pulsectl) and echo cancellation (pywebrtc_audio) are imported by name at run time
    assert report["modules"]["missing"] == {} and "pulsectl" in report["modules"]["checked"], report["modules"]
    # programs outside the bundle (browser, xdg-mime, certutil) get the user's environment, not ours
    assert report["children"]["ok"] and report["children"]["own_child"] == f"softphone {want}", report["children"]
    root = str(frozen_app.exe.parent)
    libs = report["tls_libraries"]
    ours = [p for p in libs if p.endswith(".so.1.0.2k")]
    assert ours and all(p.startswith(f"{root}/_internal/pjsua2_python.libs/") for p in ours), libs
    assert any(Path(p).name == "libssl.so.3" for p in libs), libs
    _not_from_source_tree(set(libs))


def test_serve_calls_the_demo_line_and_records_history(frozen_app: FrozenApp) -> None:
    ready = frozen_app.serve()
    assert ready["event"] == "ready" and ready["demo_line"] is True, ready
    maps = mapped_files(ready["pid"])
    _not_from_source_tree(maps)
    assert any(p.startswith(str(frozen_app.exe.parent)) and "_pjsua2" in p for p in maps)

    dial = json.loads(frozen_app.run("ctl", "dial", "+14155552671", "--json").stdout)
    frozen_app.wait_call_state(dial["call_id"], "ESTABLISHED")
    frozen_app.run("ctl", "hangup")
    row = frozen_app.wait_history(dial["call_id"], lambda r: r["end_status"] is not None)
    assert row["end_status"] == "COMPLETED" and row["remote"] == "+14155552671" and row["direction"] == "outbound"

    # the widget, the CRM sandbox and the vendored SDK are served from the bundle over the local CA
    ca = frozen_app.data_dir / "certs" / "ca.pem"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10) as http:
        page = http.get(ready["widget_url"])
        assert page.status_code == 200 and "<html" in page.text.lower()
        sdk = http.get(ready["widget_url"] + "vendor/calling-extensions-sdk.js")
        assert sdk.status_code == 200 and len(sdk.content) > 10_000
        sandbox = http.get(ready["widget_url"] + "sandbox")
        assert sandbox.status_code == 200


def test_newer_build_reads_an_older_data_folder(frozen_app: FrozenApp) -> None:
    """An upgrade: data left by an older release (schema-1 history, config, keyring password, local CA,
    window prefs) is used as is by the frozen build; history is migrated in place."""
    old = olddata.make_old_data(frozen_app.env)
    config_before = old.config.read_bytes()
    rows = frozen_app.json("history", "--json")
    assert {r["call_id"] for r in rows} == {"old-call-1", "old-call-2"}
    accounts = frozen_app.json("account", "list", "--json")
    assert [(a["name"], a["password_stored"]) for a in accounts] == [(olddata.ACCOUNT, True)]

    frozen_app.serve()
    dial = json.loads(frozen_app.run("ctl", "dial", "+14155552671", "--account", DEMO, "--json").stdout)
    frozen_app.wait_call_state(dial["call_id"], "ESTABLISHED")
    frozen_app.run("ctl", "hangup")
    frozen_app.wait_history(dial["call_id"], lambda r: r["end_status"] == "COMPLETED")
    frozen_app.stop()

    version, cols = olddata.schema(old.data_dir)
    assert version == 2 and {"codec", "recording_path", "quality"} <= cols
    statuses = {r["call_id"]: r["end_status"] for r in frozen_app.json("history", "--json")}
    assert statuses == {"old-call-1": "COMPLETED", "old-call-2": "MISSED", dial["call_id"]: "COMPLETED"}
    assert olddata.ca_sha256(old.data_dir) == old.ca_sha256
    assert olddata.leaf_sha256(old.data_dir) == old.leaf_sha256
    assert old.config.read_bytes() == config_before


def test_audio_goes_through_the_users_pulseaudio(frozen_app: FrozenApp) -> None:
    """Sound devices come from the rep's own PulseAudio (libpulse and libasound are the system's, not bundled):
    `doctor` lists the server's devices, and a tone played into the microphone comes back on the speaker
    through a real call to an RTP-echoing peer (sipp)."""
    from tests.audio import harness

    for tool in ("pulseaudio", "sipp"):
        if not have(tool):
            pytest.fail(f"{tool} is not installed: run `make setup`")
    with harness.pulse_daemon() as pulse:
        peer = harness.EchoPeer(calls=2)
        frozen_app.env.update({"PULSE_SERVER": pulse.server, "SOFTPHONE_AUDIO": "on"})
        Path(frozen_app.env["SOFTPHONE_CONFIG"]).write_text(
            '[[accounts]]\nname = "direct"\nsip_uri = "sip:alice@127.0.0.1"\n\n'
            "[audio]\necho_cancellation = false\nnoise_suppression = false\n\n"
            f"[widget]\nport = {free_port()}\n")
        mic = harness.MicFeeder(pulse, "micfeed", harness.tone(1000, 1.0))
        spk = harness.MonitorRecorder(pulse, "speaker")
        try:
            doctor = frozen_app.run("doctor", check=False).stdout
            assert "backend='pulse'" in doctor and "name='mic'" in doctor, doctor
            frozen_app.serve()
            dial = json.loads(frozen_app.run("ctl", "dial", peer.uri, "--json").stdout)
            frozen_app.wait_call_state(dial["call_id"], "ESTABLISHED")

            def echoed() -> bool:
                x = spk.samples()[-harness.RATE // 2:]
                return len(x) == harness.RATE // 2 and harness.rms_dbfs(x) > -40 \
                    and abs(harness.dominant_freq(x) - 1000) < 30

            wait_for(echoed, 20, 0.2, what="the 1 kHz microphone tone echoed back to the speaker")
            frozen_app.run("ctl", "hangup")
            frozen_app.wait_history(dial["call_id"], lambda r: r["end_status"] == "COMPLETED")
        finally:
            frozen_app.stop()
            mic.stop()
            spk.stop()
            peer.stop()


class FrozenWindow(WindowProcess):
    """The harness's window process, started as the frozen ``softphone run``."""

    def __init__(self, app: FrozenApp, env: dict[str, str], log_path: Path) -> None:
        super().__init__(env, log_path)
        self.app = app

    def start(self, *links: str, wait: bool = True, timeout: float = 90) -> FrozenWindow:
        import subprocess

        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([str(self.app.exe), "run", *links], env=self.env, cwd=self.app.cwd,
                                     stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if wait:
            wait_for(lambda: self._alive_and(self.ping), timeout, 0.2, what="window socket")
            wait_for(lambda: self._alive_and(self.page_ready), timeout, 0.3, what="page loaded")
        return self


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    if not have("Xvfb"):
        pytest.fail("Xvfb is not installed: run `make setup` (it installs xvfb)")
    x = Xvfb().start()
    try:
        yield x
    finally:
        x.stop()


def test_run_shows_the_window_and_starts_its_engine(frozen_app: FrozenApp, xvfb: Xvfb, tmp_path: Path) -> None:
    """`softphone run` under Xvfb: the Qt WebEngine window loads the page from the bundle, starts the engine
    (the frozen binary again) itself, shows the version in About, and follows a call."""
    frozen_app.data_dir.mkdir(parents=True, exist_ok=True)
    (frozen_app.data_dir / "window.json").write_text(json.dumps({"first_run_done": True}))
    env = {**frozen_app.env, **xvfb.env(), "QTWEBENGINE_DISABLE_SANDBOX": "1"}
    win = FrozenWindow(frozen_app, env, tmp_path / "window.log")
    win.start()
    try:
        wait_for(lambda: win.shell()["engine_connected"], 60, 0.3, what="window connected to the engine it spawned")
        shell = win.shell()
        assert shell["window_visible"] and shell["window_title"].startswith("Softphone")
        win.eval("window.softphoneApp.showView('settings')")
        about = wait_for(lambda: win.eval("(document.getElementById('h-about') || {}).parentElement"
                                          " ? document.getElementById('h-about').parentElement.textContent : ''"),
                         10, 0.2, what="About card")
        assert f"Softphone {pyproject_version()}" in about
        win.eval("window.softphoneApp.showView('phone')")

        dial = json.loads(frozen_app.run("ctl", "dial", "+14155552671", "--json").stdout)
        wait_for(lambda: any(c["call_id"] == dial["call_id"] and c["state"] == "ESTABLISHED"
                             for c in win.debug()["calls"]), 20, 0.2, what="window shows the call")
        win.grab(tmp_path / "frozen-window-call.png")
        frozen_app.run("ctl", "hangup")
        frozen_app.wait_history(dial["call_id"], lambda r: r["end_status"] == "COMPLETED")
        engine_pids = [p for p in frozen_app.own_processes() if p != win.proc.pid]  # type: ignore[union-attr]
        assert engine_pids, "no engine/helper processes from the bundle"
        for pid in engine_pids:
            _not_from_source_tree(mapped_files(pid))
        assert (tmp_path / "frozen-window-call.png").stat().st_size > 5_000
    finally:
        log = win.log()
        win.stop()
    assert "Traceback" not in log, log[-4000:]
    # quitting the window stops the engine it started (no call left): nothing of the bundle keeps running
    wait_for(lambda: not frozen_app.own_processes(), 30, 0.3, what="bundle processes to exit after quit")
