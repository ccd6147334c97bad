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


def test_frame_vector_view_is_zero_copy() -> None:
    """The clock-thread fast path: a numpy view on a pjsua2 ByteVector's own storage (checked at import
    against the slow element-by-element path)."""
    import pjsua2 as pj

    from softphone.audio import frames

    assert frames._vec_selftest(pj)
    frames.VEC_OK = True
    v = pj.ByteVector(bytes(640))
    view = frames.vector_samples(v)
    assert view is not None and view.dtype == np.int16 and len(view) == 320
    view[:] = np.arange(320, dtype=np.int16)
    assert bytes(v) == np.arange(320, dtype="<i2").tobytes()
    assert frames.vector_samples(pj.ByteVector(bytes(10))) is None


def test_tuning_from_env(monkeypatch) -> None:
    from softphone.audio.callio import Tuning

    monkeypatch.setenv("SOFTPHONE_AUDIO_TUNING", "out_block=160, out_latency_s=0.03,in_latency_s=none,bogus=1")
    t = Tuning.from_env()
    assert (t.out_block, t.out_latency_s, t.in_latency_s, t.in_block) == (160, 0.03, None, 320)
    ring = t.ring()
    assert (ring.target, ring.low, ring.high, ring.decay_windows) == (192, 80, 288, 60)


def test_thread_pin_is_given_back_from_its_own_thread() -> None:
    import threading
    import time

    from softphone.audio.threadpin import ThreadPin

    pin = ThreadPin()
    stop = threading.Event()

    def clock() -> None:       # stands in for pjmedia's clock thread: a callback every few ms
        while not stop.is_set():
            pin.enter()
            time.sleep(0.002)

    t = threading.Thread(target=clock)
    t.start()
    try:
        deadline = time.monotonic() + 2
        while pin.pinned == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert pin.pinned == 1
        assert pin.release(timeout=1.0)
        assert pin._held is None
        time.sleep(0.02)            # callbacks go on: it pins again (a new call on the same clock thread)
        assert pin.pinned == 2
    finally:
        stop.set()
        t.join()
    assert pin.release(timeout=0.05) is False   # no callbacks any more: gives up instead of hanging
