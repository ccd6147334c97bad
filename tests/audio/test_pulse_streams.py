"""Direct libpulse call streams (softphone.audio.pulse) against a private PulseAudio daemon: playback reaches the
sink, pulled capture delivers the microphone at its rate, a stalled puller gets a bounded backlog, and a stream
whose device disappears reports itself inactive (the bridge's watchdog reopens it)."""

from __future__ import annotations

import shutil
import time

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
    missing = [x for x in ("pulseaudio", "pacat", "parec") if shutil.which(x) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `make test` or "
                    f"`apt-get install pulseaudio pulseaudio-utils`", pytrace=False)


RATE = harness.RATE


@pytest.fixture(scope="module")
def pulse():
    with harness.pulse_daemon() as d:
        yield d


def test_playback_on_request_reaches_the_sink(pulse) -> None:
    from softphone.audio.pulse import PulseStream

    tone = np.frombuffer(harness.tone(700.0, 1.0, -12.0), dtype=np.int16)
    pos = [0]

    def fill(x: np.ndarray) -> None:
        n = len(x)
        idx = (np.arange(pos[0], pos[0] + n)) % len(tone)
        x[:] = tone[idx]
        pos[0] += n

    rec = harness.MonitorRecorder(pulse, "speaker")
    s = PulseStream("output", fill, device="speaker", rate=RATE, block=160, latency_s=0.03)
    try:
        time.sleep(0.5)
        rec.clear()
        time.sleep(1.0)
        lat = s.latency_s()
        heard = rec.samples()
    finally:
        s.close()
        rec.stop()
    assert s.active is False
    assert abs(harness.dominant_freq(heard) - 700.0) < 10
    assert harness.rms_dbfs(heard) > -20
    assert 0.7 * RATE < pos[0] / 1.5 < 1.3 * RATE          # asked for at the device's pace
    assert lat is not None and 0 < lat < 0.1


def test_pushed_playback_on_our_clock_reaches_the_sink_at_the_target_latency(pulse) -> None:
    """Push mode: a 20 ms timer (standing in for pjmedia's clock thread) writes frames; the server's queue is
    held near the target and the tone arrives intact."""
    from softphone.audio.pulse import PulseStream

    tone = np.frombuffer(harness.tone(700.0, 1.0, -12.0), dtype=np.int16)
    rec = harness.MonitorRecorder(pulse, "speaker")
    s = PulseStream("output", None, device="speaker", rate=RATE, block=320, latency_s=0.05, push_target_s=0.02)
    assert s.steer is not None
    try:
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < 4.0:
            k += 1
            time.sleep(max(0.0, t0 + k * 0.02 - time.monotonic()))
            i = (k * 320) % (len(tone) - 320)
            s.push(tone[i:i + 320])
            if k == 100:                             # after 2 s: what reaches the sink from now on
                rec.clear()
                s.steer.stats.latency_sum = 0.0
                s.steer.stats.measured = 0
                uf0 = s.underflows
        heard = rec.samples()
        mean_ms = s.steer.stats.mean_latency() / RATE * 1000
    finally:
        s.close()
        rec.stop()
    assert abs(harness.dominant_freq(heard) - 700.0) < 10
    assert harness.rms_dbfs(heard) > -20
    assert 0.8 * 2 * RATE < len(heard) < 1.2 * 2 * RATE     # played at the pace it was pushed
    # the queue ahead of each frame is held near its 24 ms target: a steering that stopped working runs away to
    # hundreds of ms (or empties the queue); a loaded machine only adds a few ms, so the band is generous
    assert 5 < mean_ms < 80, mean_ms
    assert s.underflows - uf0 <= 1


def test_pulled_capture_and_bounded_backlog(pulse) -> None:
    from softphone.audio.pulse import PulseStream

    feed = harness.MicFeeder(pulse, "micfeed", harness.tone(500.0, 1.0, -12.0))
    got: list[np.ndarray] = []
    s = PulseStream("input", None, device="mic", rate=RATE, block=320, latency_s=0.0, pull=True)
    try:
        time.sleep(0.3)
        s.pull(lambda x: None)                      # start from now
        t0 = time.monotonic()
        total = 0
        while time.monotonic() - t0 < 1.0:
            time.sleep(0.02)
            total += s.pull(lambda x: got.append(x.copy()))
        rate = total / (time.monotonic() - t0)
        time.sleep(0.5)                             # the puller stalls: 500 ms pile up
        backlog = s.pull(lambda x: None)
    finally:
        s.close()
        feed.stop()
    assert 0.8 * RATE < rate < 1.2 * RATE, rate
    mic = np.concatenate(got)
    assert abs(harness.dominant_freq(mic) - 500.0) < 10
    assert backlog == RATE // 5 and s.dropped > 0        # only the newest 200 ms are handed over


def test_stream_on_a_removed_device_goes_inactive(pulse) -> None:
    from softphone.audio.pulse import PulseStream

    s = PulseStream("output", lambda x: x.fill(0), device="ringer", rate=RATE, block=320, latency_s=0.04)
    try:
        assert s.active
        pulse.unload("ringer")
        deadline = time.monotonic() + 3
        # the server either moves the stream to the default sink (still active) or kills it (inactive);
        # either way it must not hang, and a killed one must say so
        while s.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.latency_s() is None or s.active
    finally:
        s.close()
