"""Local sounds on real devices: the ringtone on the ringer device, local ringback and keypad feedback on the
call device, and silence again when the calls say so. A private PulseAudio daemon, the real bridge
(``SoundDeviceMedia``, own process with a pjsua2 Endpoint on the null device), sink monitors recorded."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.audio import harness

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
RATE = harness.RATE

DRIVER = textwrap.dedent("""
    import sys, tempfile
    from pathlib import Path
    import pjsua2 as pj
    from softphone.audio.bridge import SoundDeviceMedia
    from softphone.config import AudioConfig

    ep = pj.Endpoint()
    ep.libCreate()
    ec = pj.EpConfig()
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = False
    ec.logConfig.level = 0
    ec.logConfig.consoleLevel = 0
    ep.libInit(ec)
    ep.audDevManager().setNullDev()
    ep.libStart()
    cfg = AudioConfig(ringer_device="Ringer", echo_cancellation=False, noise_suppression=False)
    media = SoundDeviceMedia(cfg, Path(tempfile.mkdtemp()))
    media.start(ep)
    print("READY", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "states":
            media.sync_calls(arg.split(",") if arg else [])
        elif cmd == "dtmf":
            media.play_dtmf(arg)
        elif cmd == "quit":
            break
        media._devices._worker.call(lambda: None, timeout=60)   # the streams are open (or closed) now
        print("OK", flush=True)
    media.stop()
    ep.libDestroy()
""")


@pytest.fixture(scope="module")
def pulse() -> Iterator[harness.PulseDaemon]:
    missing = [x for x in ("pulseaudio", "pacat", "parec") if shutil.which(x) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `make test` or "
                    "`apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins`", pytrace=False)
    with harness.pulse_daemon() as d:
        yield d


class Bridge:
    def __init__(self, pulse: harness.PulseDaemon) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=ROOT, env=pulse.env(), text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._expect("READY")

    def _expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == word:
                return
        raise AssertionError(f"the bridge process ended before {word}")

    def send(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        self._expect("OK")

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def streams_on(pulse: harness.PulseDaemon, sink: str) -> int:
    """Playback streams on a sink other than the daemon's own keep-alive (pacat)."""
    index = next(ln.split("\t")[0] for ln in pulse.pactl("list", "short", "sinks").stdout.splitlines()
                 if ln.split("\t")[1] == sink)
    n = 0
    for block in pulse.pactl("list", "sink-inputs").stdout.split("Sink Input #")[1:]:
        if f"Sink: {index}\n" in block and 'application.process.binary = "pacat"' not in block:
            n += 1
    return n


def listen(rec: harness.MonitorRecorder, seconds: float) -> np.ndarray:
    """What the sink played over the next ``seconds`` (collecting audio, not timing anything)."""
    rec.clear()
    time.sleep(seconds)
    return rec.samples()


def freqs(x: np.ndarray, n: int = 2) -> list[float]:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    peaks: list[float] = []
    for i in np.argsort(spec)[::-1]:
        if all(abs(f[i] - p) > 20 for p in peaks):
            peaks.append(float(f[i]))
        if len(peaks) == n:
            break
    return sorted(peaks)


def loud(x: np.ndarray) -> np.ndarray:
    """From the first to the last loud sample (a tone burst without the silence around it)."""
    idx = np.flatnonzero(np.abs(x) > 200)
    return x[idx[0]:idx[-1] + 1] if len(idx) else x


def test_ringtone_ringback_and_keypad_tones_reach_their_devices(pulse: harness.PulseDaemon) -> None:
    ringer = harness.MonitorRecorder(pulse, "ringer")
    speaker = harness.MonitorRecorder(pulse, "speaker")
    bridge = Bridge(pulse)
    try:
        bridge.send("states INCOMING")                   # inbound, no other call: the ringtone, on the ringer
        ring, spk_while_ringing = listen(ringer, 1.5), speaker.samples()
        ringing_streams = streams_on(pulse, "ringer")
        bridge.send("states ")                           # answered elsewhere / gone: silence, the stream closed
        after_ring = listen(ringer, 0.8)
        streams_after = streams_on(pulse, "ringer")
        bridge.send("states RINGING")                    # outbound, far end ringing: local ringback
        ringback = listen(speaker, 1.5)
        bridge.send("states ")
        bridge.send("dtmf 5")                            # keypad feedback on the call device
        keypad = listen(speaker, 0.8)
    finally:
        bridge.close()
        ringer.stop()
        speaker.stop()
    assert harness.rms_dbfs(ring) > -30
    assert any(abs(f - 1046.5) < 25 or abs(f - 1318.5) < 25 for f in freqs(loud(ring))), freqs(loud(ring))
    assert harness.rms_dbfs(spk_while_ringing) < -60          # the ringtone is not on the call device
    assert harness.rms_dbfs(after_ring[len(after_ring) // 2:]) < -60
    assert (ringing_streams, streams_after) == (1, 0)
    a, b = freqs(ringback)
    assert abs(a - 440) < 15 and abs(b - 480) < 15, (a, b)
    a, b = freqs(loud(keypad))
    assert abs(a - 770) < 20 and abs(b - 1336) < 20, (a, b)
