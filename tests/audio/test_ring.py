"""Pure tests of the drift ring with a fake clock: no devices, no threads, no sleeps."""

from __future__ import annotations

import heapq
import random

import numpy as np
import pytest

from softphone.audio.ring import DriftRing

RATE = 16000
FRAME = 320


def simulate(drift: float, minutes: float, jitter_ms: float = 4.0, block: int = 320, seed: int = 1):
    """Writer clock runs at RATE*(1+drift) delivering ``block`` samples with random lateness; the reader
    takes a frame every 20 ms of nominal time. Returns the ring and the excess (ms) seen per second."""
    rng = random.Random(seed)
    ring = DriftRing(frame=FRAME)
    ring.armed = True
    end = minutes * 60.0
    write_period = block / (RATE * (1 + drift))
    events: list[tuple[float, int, str]] = []
    heapq.heappush(events, (0.0, 0, "r"))
    heapq.heappush(events, (0.0, 1, "w"))
    seq = 2
    nominal_w = 0.0
    samples = 0
    counter = 0
    per_second: list[float] = []
    while events:
        t, _, kind = heapq.heappop(events)
        if t > end:
            break
        if kind == "w":
            # continuous tone so that resampling can be checked for clicks
            idx = np.arange(samples, samples + block)
            ring.write((8000 * np.sin(2 * np.pi * 400 * idx / RATE)).astype(np.int16))
            samples += block
            nominal_w += write_period
            heapq.heappush(events, (nominal_w + rng.uniform(0, jitter_ms / 1000), seq, "w"))
        else:
            ring.read()
            counter += 1
            if counter % 50 == 0:
                per_second.append(ring.fill / RATE * 1000)
            heapq.heappush(events, (t + FRAME / RATE, seq, "r"))
        seq += 1
    return ring, per_second


@pytest.mark.parametrize("drift", [+0.003, -0.003, 0.0, 0.0001, -0.0001])
def test_ten_minutes_of_drift_keep_latency_bounded(drift: float) -> None:
    ring, fill_ms = simulate(drift, minutes=10)
    st = ring.stats
    assert st.reads in (30000, 30001)
    # writer faster: the excess must be slipped away, never overflowing
    assert st.overflows == 0
    assert st.underruns == 0, st
    first, last = fill_ms[10:70], fill_ms[-60:]
    assert max(fill_ms[5:]) < 60.0, max(fill_ms[5:])
    assert st.mean_excess() / RATE * 1000 < 35.0
    # no growth: the last minute sits where the first did (within a few ms)
    assert np.mean(last) < np.mean(first) + 6.0
    if drift > 0:
        assert st.slipped_samples > 0.8 * drift * RATE * 600 - 400
    elif drift < 0:
        assert st.stretched_samples > 0.8 * -drift * RATE * 600 - 400


@pytest.mark.parametrize("drift", [+0.003, -0.003])
def test_bursty_writer_two_frames_at_once(drift: float) -> None:
    """A writer that delivers 40 ms at a time with 8 ms jitter: a few underruns while the ring learns
    the jitter and the drift (each one widens the slack), then none, and latency stays bounded."""
    ring, fill_ms = simulate(drift, minutes=2, block=640, jitter_ms=8)
    assert ring.stats.underruns <= 2
    assert max(fill_ms[5:]) < 100


def test_underrun_plays_silence_then_reprimes() -> None:
    ring = DriftRing(frame=4, capacity=64, target=2, low=1, high=8, window=4, settle=1000)
    ring.armed = True
    ring.write(np.array([1, 2, 3, 4, 5, 6], dtype=np.int16))
    assert ring.read().tolist() == [1, 2, 3, 4]
    assert ring.read().tolist() == [5, 6, 0, 0]
    assert ring.stats.underruns == 1
    ring.write(np.array([7, 8, 9, 10], dtype=np.int16))  # 4 < frame + target: still priming
    assert ring.read().tolist() == [0, 0, 0, 0]
    ring.write(np.array([11, 12, 13], dtype=np.int16))  # the underrun widened the slack by frame // 4
    assert ring.read().tolist() == [7, 8, 9, 10]
    assert ring.stats.underruns == 1


def test_overflow_drops_oldest() -> None:
    ring = DriftRing(frame=4, capacity=16, target=2, low=1, high=8, window=4, trim_above=100)
    ring.armed = True
    ring.write(np.arange(1, 13, dtype=np.int16))
    ring.write(np.arange(13, 21, dtype=np.int16))
    assert ring.stats.overflows == 1
    assert ring.stats.dropped_samples == 4
    assert ring.read().tolist() == [5, 6, 7, 8]


def test_standing_backlog_is_trimmed_at_once() -> None:
    ring = DriftRing()
    ring.write(np.zeros(4000, dtype=np.int16))      # 250 ms queued by a device that woke up late
    ring.read()
    assert ring.stats.trimmed == 1
    assert ring.fill <= ring.target + ring.frame


def test_not_armed_counts_nothing() -> None:
    ring = DriftRing()
    for _ in range(10):
        ring.read()
    assert ring.stats.underruns == 0 and ring.stats.silence_samples == 0


def test_resampled_frames_have_no_clicks() -> None:
    ring, _ = simulate(0.003, minutes=0.2)
    assert ring.stats.slipped_samples > 0
