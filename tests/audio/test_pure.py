"""Pure parts: tones, what to play for which calls, MOS estimate, recording layout."""

from __future__ import annotations

import wave

import numpy as np

from softphone.audio.quality import estimate_mos, summarize
from softphone.audio.recorder import CallRecorder
from softphone.audio.tones import Sound, ToneSource, Wanted, desired_sounds, dtmf
from tests.audio.harness import dominant_freq


def test_desired_sounds() -> None:
    assert desired_sounds(["INCOMING"]) == Wanted(ringer=True)
    assert desired_sounds(["ESTABLISHED", "INCOMING"]) == Wanted(call_sound=Sound.CALL_WAITING)
    assert desired_sounds(["HELD", "INCOMING"]) == Wanted(call_sound=Sound.CALL_WAITING)
    assert desired_sounds(["RINGING"]) == Wanted(call_sound=Sound.RINGBACK)
    assert desired_sounds(["EARLY"]) == Wanted()
    assert desired_sounds(["ESTABLISHED"]) == Wanted()
    assert desired_sounds([]) == Wanted()


def test_tone_sources_loop_and_end() -> None:
    rb = ToneSource.of(Sound.RINGBACK)
    first = rb.next(16000)           # 1 s of the 2 s "on" part
    assert abs(dominant_freq(first) - 440) < 5 or abs(dominant_freq(first) - 480) < 5
    for _ in range(6):
        rb.next(16000)
    assert not rb.done               # loops
    t = ToneSource.of(Sound.TEST)
    t.next(16000)
    t.next(16000)
    assert t.done
    d = dtmf("5")
    spec = np.abs(np.fft.rfft(d.astype(float)))
    f = np.fft.rfftfreq(len(d), 1 / 16000)
    top = sorted(f[np.argsort(spec)[-2:]])
    assert abs(top[0] - 770) < 15 and abs(top[1] - 1336) < 15


def test_mos_estimate() -> None:
    assert estimate_mos("PCMU/8000", 0, 40) > 4.3
    assert estimate_mos("PCMU/8000", 5, 40) < estimate_mos("PCMU/8000", 1, 40) < estimate_mos("PCMU/8000", 0, 40)
    assert estimate_mos("PCMU/8000", 0, 400) < 4.0
    assert estimate_mos("GSM/8000", 0, 40) < estimate_mos("PCMA/8000", 0, 40)
    s = summarize("PCMU/8000", rx_pkts=990, rx_loss=10, jitter_ms=3.0, rtt_ms=40.0, jbuf_delay_ms=40)
    assert s["loss_pct"] == 1.0 and 3.5 < s["mos"] < 4.4


def test_recorder_writes_rep_left_caller_right(tmp_path) -> None:
    rec = CallRecorder(tmp_path / "c.wav")
    rep = np.full(320, 1000, np.int16)
    caller = np.full(320, -2000, np.int16)
    for _ in range(50):
        rec.add(rep, caller)
    path = rec.close()
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getnframes() == 16000
        pcm = np.frombuffer(w.readframes(16000), dtype="<i2").reshape(-1, 2)
    assert (pcm[:, 0] == 1000).all() and (pcm[:, 1] == -2000).all()
