"""Real audio end to end: private PulseAudio, a virtual microphone fed with a known tone, a real pjsua2 call
(own process) to sipp echoing RTP, and the speaker sink's monitor recorded and analysed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.audio import harness

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("audio_tools"),
]


@pytest.fixture(scope="module")
def audio_tools() -> None:
    """A missing tool fails every test here with the command that installs it: never a silent skip."""
    missing = [x for x in ("pulseaudio", "pacat", "parec", "sipp") if shutil.which(x) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `make test` or "
                    f"`apt-get install pulseaudio pulseaudio-utils sip-tester`", pytrace=False)


DRIVER = Path(__file__).with_name("pjcall.py")
RATE = harness.RATE
PLAIN = {"echo_cancellation": False, "noise_suppression": False}  # a pure tone is what NS/AEC remove


def bursts(freq: float, on_s: float = 0.2, period_s: float = 1.0, level: float = -12.0) -> bytes:
    return harness.tone(freq, on_s, level) + bytes(2 * int((period_s - on_s) * RATE))


@pytest.fixture(scope="module")
def pulse():
    with harness.pulse_daemon() as d:
        yield d


@pytest.fixture(scope="module")
def peer():
    p = harness.EchoPeer(calls=50)
    yield p
    p.stop()


class Driver:
    def __init__(self, pulse: harness.PulseDaemon, uri: str, seconds: float, config: dict[str, Any],
                 data_dir: Path, *extra: str) -> None:
        env = pulse.env()
        env["SOFTPHONE_DATA_DIR"] = str(data_dir)
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "--uri", uri, "--seconds", str(seconds), "--config", json.dumps(config),
             *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.events: list[dict[str, Any]] = []

    def wait_for(self, name: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                ev = json.loads(line)
                self.events.append(ev)
                if ev["event"] == name:
                    return ev
        raise AssertionError(f"driver ended without {name}: {self.events}")

    def finish(self) -> dict[str, Any]:
        stats = self.wait_for("stats")
        self.wait_for("done")
        assert self.proc.wait(30) == 0
        return stats

    def notices(self) -> list[str]:
        return [e["message"] for e in self.events if e["event"] == "notice"]


def envelope(x: np.ndarray) -> np.ndarray:
    e = np.abs(x.astype(np.float64))
    k = np.ones(80) / 80
    return np.convolve(e, k, mode="same")


def round_trip_ms(sent: np.ndarray, heard: np.ndarray, max_ms: float = 600) -> float:
    """Lag that best aligns what reached the speaker with what was played into the microphone."""
    a, b = envelope(sent), envelope(heard)
    n = min(len(a), len(b)) - int(max_ms * RATE / 1000)
    a = a[:n] - a[:n].mean()
    best, lag_best = -1.0, 0
    for lag in range(0, int(max_ms * RATE / 1000), 16):
        seg = b[lag:lag + n] - b[lag:lag + n].mean()
        c = float(np.dot(a, seg))
        if c > best:
            best, lag_best = c, lag
    return lag_best / RATE * 1000


def burst_level(x: np.ndarray) -> float:
    """RMS of the loud parts only (the bursts)."""
    env = envelope(x)
    loud = x[env > 0.5 * env.max()] if env.max() > 0 else x
    return harness.rms_dbfs(loud)


def test_tone_reaches_the_speaker_through_a_real_call(pulse, peer, tmp_path):
    feed = harness.MicFeeder(pulse, "micfeed", bursts(1000.0))
    spk = harness.MonitorRecorder(pulse, "speaker")
    ref = harness.MonitorRecorder(pulse, "micfeed")
    try:
        drv = Driver(pulse, peer.uri, 5.0, PLAIN, tmp_path, "--record")
        media = drv.wait_for("media_active")
        spk.clear()
        ref.clear()
        st = drv.finish()
        heard, sent = spk.samples(), ref.samples()
    finally:
        for o in (feed, spk, ref):
            o.stop()
    assert media["codec"] == "PCMU/8000"
    assert st["state"] == "CONFIRMED"
    assert abs(harness.dominant_freq(heard) - 1000.0) < 15
    # G.711 both ways keeps the level (within 3 dB of what the microphone got)
    assert abs(burst_level(heard) - burst_level(sent)) < 3.0, (burst_level(heard), burst_level(sent))
    rtt = round_trip_ms(sent, heard)
    print(f"\nround trip mic→pjsua2→RTP echo→pjsua2→speaker: {rtt:.0f} ms; bridge: {st['stats']['bridge_ms']}"
          f"; underruns {st['stats']['underruns']}; quality {st['quality']}")
    assert 20 < rtt < 500
    q = st["quality"]
    assert q["codec"] == "PCMU/8000" and q["loss_pct"] == 0 and q["mos"] > 4.0
    # the recording: stereo, rep on the left, caller (the echo) on the right, both carrying the tone
    path = Path(st["stats"]["recording_path"])
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert len(pcm) > 3 * RATE
    for ch in (0, 1):
        assert abs(harness.dominant_freq(pcm[:, ch]) - 1000.0) < 15
        assert burst_level(pcm[:, ch]) > -25


def test_mute_stops_audio_at_the_source(pulse, peer, tmp_path):
    feed = harness.MicFeeder(pulse, "micfeed", harness.tone(1000.0, 1.0))
    spk = harness.MonitorRecorder(pulse, "speaker")
    try:
        drv = Driver(pulse, peer.uri, 4.0, PLAIN, tmp_path, "--mute-after", "1.5")
        drv.wait_for("media_active")
        drv.wait_for("muted")
        spk.clear()
        drv.finish()
        after = spk.samples()
    finally:
        feed.stop()
        spk.stop()
    # what was in flight (round trip, < 0.5 s) may still arrive; after that, nothing
    tail = after[int(0.8 * RATE):]
    assert len(tail) > RATE
    assert harness.rms_dbfs(tail) < -60


def test_call_survives_unplugging_its_device(pulse, peer, tmp_path):
    """The call runs on the 'Headset' pair; both its sink and its microphone are unloaded mid-call. The
    call must go on with the default microphone (600 Hz here) heard on the default speaker."""
    head = harness.MicFeeder(pulse, "callmicfeed", bursts(1000.0))
    room = harness.MicFeeder(pulse, "micfeed", bursts(600.0))
    head_spk = harness.MonitorRecorder(pulse, "callspk")
    room_spk = harness.MonitorRecorder(pulse, "speaker")
    try:
        cfg = dict(PLAIN, output_device="Headset", input_device="HeadsetMic")
        drv = Driver(pulse, peer.uri, 7.0, cfg, tmp_path)
        drv.wait_for("media_active")
        head_spk.clear()
        # run on the headset for a while, then pull it out
        import time

        time.sleep(2.5)
        before = head_spk.samples()
        pulse.unload("callmic")
        pulse.unload("callspk")
        drv.wait_for("notice")
        room_spk.clear()
        st = drv.finish()
        after = room_spk.samples()
    finally:
        for o in (head, room, room_spk):
            o.stop()
        head_spk.proc.kill()
    assert abs(harness.dominant_freq(before) - 1000.0) < 15
    assert any("disconnected" in n for n in drv.notices()), drv.notices()
    assert st["state"] == "CONFIRMED"
    assert st["stats"]["output_device"] == "default"
    assert len(after) > RATE
    assert abs(harness.dominant_freq(after) - 600.0) < 15
    assert burst_level(after) > -25
