"""The phones whose voice quality is measured, each making one call to the far end per case:

* ``OurPhone``: the product, ``softphone serve`` with its sound-device bridge on (libpulse streams to the
  private PulseAudio daemon), a direct account, the call dialled through the control API as the window does.
* ``Baresip``: Debian's baresip 1.0 with its ``alsa`` module through the PulseAudio ALSA plugin
  (libasound2-plugins; this baresip has no ``pulse`` module), the same codec and its PLC module.

Both hear the far end on the daemon's ``speaker`` sink and take the microphone from its ``mic`` source.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.audio import harness
from tests.peers import EngineProcess, account_toml, engine_config, wait_for

BARESIP_MODULES = Path("/usr/lib/baresip/modules")
BARESIP_INSTALL = "apt-get install baresip libasound2-plugins (or run `make test`)"


class NoCall(AssertionError):
    """A phone did not get a call up (or it ended early): the measurement would be meaningless."""


@dataclass
class CallResult:
    heard: np.ndarray                   # the speaker sink's monitor over the measured part of the call
    codec: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class OurPhone:
    """One ``softphone serve`` for the whole run (fresh data dir); ``call`` dials a URI and records."""

    name = "softphone"

    def __init__(self, pulse: harness.PulseDaemon, workdir: Path, *, processing: bool = False,
                 audio_extra: str = "", env: dict[str, str] | None = None) -> None:
        flag = str(processing).lower()
        audio = f"[audio]\necho_cancellation = {flag}\nnoise_suppression = {flag}\n{audio_extra}"
        self.eng = EngineProcess(workdir, engine_config(account_toml("direct", "rep", None, auth=False),
                                                        extra=audio))
        self.eng.env.pop("SOFTPHONE_AUDIO", None)       # the product's default: sound devices on
        self.eng.env["PULSE_SERVER"] = pulse.server
        self.eng.env.update(env or {})
        self.eng.start(watch_events=False)
        self.client = self.eng.client()

    def call(self, uri: str, seconds: float, speaker: harness.MonitorRecorder, settle_s: float = 1.0) -> CallResult:
        cid = self.client.command("dial", number=uri)["call_id"]

        def live() -> dict[str, Any] | None:
            return next((c for c in self.client.command("status")["calls"] if c["call_id"] == cid), None)

        def established() -> bool:
            c = live()
            if c is None or c["state"] in ("TERMINATED", "FAILED"):
                raise NoCall(f"softphone: the call to {uri} ended before it was established: {c}")
            return c["state"] == "ESTABLISHED"

        wait_for(established, 15, interval=0.05, what="softphone call established")
        time.sleep(settle_s)
        speaker.clear()
        started = time.monotonic()
        time.sleep(seconds)
        heard = speaker.samples()
        st = live()
        if st is None or st["state"] != "ESTABLISHED":
            raise NoCall(f"softphone: the call to {uri} did not last the measurement: {st}")
        with contextlib.suppress(Exception):
            self.client.command("hangup", call_id=cid)

        def gone() -> bool:
            c = live()
            return c is None or c["state"] == "TERMINATED"

        wait_for(gone, 10, interval=0.1, what="hang-up")
        row = self._history_row(cid)
        quality = (row or {}).get("quality") or {}
        return CallResult(heard, str(quality.get("codec") or (row or {}).get("codec") or ""),
                          {"quality": quality, "audio": st.get("audio", {}), "started": started,
                           "recording_path": (row or {}).get("recording_path")})

    def _history_row(self, cid: str) -> dict[str, Any] | None:
        def row() -> dict[str, Any] | None:
            calls = self.client.command("history", limit=20)["calls"]
            r = next((c for c in calls if c.get("call_id") == cid), None)
            return r if r is not None and r.get("quality") else None

        try:
            return wait_for(row, 5, interval=0.2, what="history row with quality")  # type: ignore[no-any-return]
        except AssertionError:
            calls = self.client.command("history", limit=20)["calls"]
            return next((c for c in calls if c.get("call_id") == cid), None)

    def stop(self) -> None:
        self.eng.stop()


class Baresip:
    """A fresh baresip per call (its own config dir), dialling the far end with one codec."""

    name = "baresip"

    def __init__(self, pulse: harness.PulseDaemon) -> None:
        missing = [m for m in ("alsa.so", "g711.so", "g722.so", "plc.so") if not (BARESIP_MODULES / m).exists()]
        if shutil.which("baresip") is None or missing:
            raise RuntimeError(f"baresip (modules {missing or 'all'}) not installed: {BARESIP_INSTALL}")
        if not Path("/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so").exists():
            raise RuntimeError(f"the PulseAudio ALSA plugin is not installed: {BARESIP_INSTALL}")
        self.pulse = pulse

    def _home(self, codec: str) -> Path:
        home = Path(tempfile.mkdtemp(prefix="sp-baresip-"))
        (home / "config").write_text(
            "poll_method\tepoll\n"
            "sip_listen\t127.0.0.1:0\n"
            "audio_player\talsa,default\naudio_source\talsa,default\naudio_alert\talsa,default\n"
            f"module_path\t{BARESIP_MODULES}\n"
            "module\tstdio.so\nmodule\tg711.so\nmodule\tg722.so\nmodule\talsa.so\nmodule\tplc.so\n"
            "module_app\taccount.so\nmodule_app\tmenu.so\n"
        )
        (home / "accounts").write_text(f"<sip:rep@127.0.0.1>;regint=0;audio_codecs={codec}\n")
        (home / "contacts").write_text("")
        return home

    def call(self, uri: str, codec: str, seconds: float, speaker: harness.MonitorRecorder,
             settle_s: float = 1.0) -> CallResult:
        home = self._home(codec)
        env = self.pulse.env()
        p = subprocess.Popen(["baresip", "-f", str(home), "-e", f"/dial {uri}", "-t", str(int(seconds + 30))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env)
        assert p.stdout is not None and p.stdin is not None
        lines: list[str] = []
        try:
            deadline = time.monotonic() + 15
            while not any("established" in ln.lower() for ln in lines):
                if time.monotonic() > deadline or p.poll() is not None:
                    raise NoCall(f"baresip: no established call to {uri}: {''.join(lines)[-2000:]}")
                r, _, _ = select.select([p.stdout], [], [], 0.2)
                if r:
                    lines.append(p.stdout.readline())
            time.sleep(settle_s)
            speaker.clear()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                r, _, _ = select.select([p.stdout], [], [], 0.2)
                if r:
                    lines.append(p.stdout.readline())
            heard = speaker.samples()
            text = "".join(lines).lower()
            if p.poll() is not None or "terminated" in text or "closed" in text:
                raise NoCall(f"baresip: the call ended during the measurement: {''.join(lines)[-2000:]}")
            with contextlib.suppress(OSError):
                p.stdin.write("/hangup\n")
                p.stdin.flush()
                time.sleep(0.5)
                p.stdin.write("/quit\n")
                p.stdin.flush()
        finally:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            shutil.rmtree(home, ignore_errors=True)
        return CallResult(heard, codec, {"log": "".join(lines)[-1500:]})

    def stop(self) -> None:
        return None
