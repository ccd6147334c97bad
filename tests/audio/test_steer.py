"""QueueSteer (pushed playback held at a target latency) against a simulated sound server: a sink that takes
audio in 5 ms chunks on its own clock, ±0.3 % off pjmedia's, with a jittery 20 ms writer. Pure: no audio."""

from __future__ import annotations

import random

import pytest

from softphone.audio.steer import QueueSteer

RATE = 16000
FRAME = 320
MS = RATE // 1000


class Server:
    """A playback queue with pre-buffering: plays once ``prebuf`` samples are queued, consumes ``chunk`` samples
    at a time at ``RATE * (1 + drift)``, and underruns (then pre-buffers again) when a chunk is not there.
    ``latency()`` is what libpulse reports: the queue plus the sink's own buffer."""

    def __init__(self, drift: float, prebuf: int, sink: int = 10 * MS, chunk: int = 5 * MS) -> None:
        self.rate = RATE * (1 + drift)
        self.prebuf = prebuf
        self.sink = sink
        self.chunk = chunk
        self.queue = 0.0
        self.playing = False
        self.underruns = 0
        self.t = 0.0
        self.next_take = 0.0

    def advance(self, t: float) -> None:
        while self.next_take <= t:
            if self.playing:
                if self.queue < self.chunk:
                    self.underruns += 1
                    self.playing = False
                else:
                    self.queue -= self.chunk
            self.next_take += self.chunk / self.rate
        self.t = t

    def write(self, n: int) -> None:
        self.queue += n
        if not self.playing and self.queue >= self.prebuf:
            self.playing = True
            self.next_take = max(self.next_take, self.t)

    def latency(self) -> float | None:
        return self.queue + self.sink if self.playing else None


def run(drift: float, seconds: float, target_ms: float = 20.0, jitter_ms: float = 3.0,
        stall: tuple[float, float] | None = None) -> tuple[Server, QueueSteer, list[float]]:
    rng = random.Random(7)
    target = int(target_ms * MS)
    steer = QueueSteer(FRAME, target, 2 * MS, 40 * MS)
    srv = Server(drift, prebuf=target)
    seen: list[float] = []
    for k in range(int(seconds * 50)):
        t = k * 0.02 + rng.uniform(0, jitter_ms / 1000)
        if stall and stall[0] <= t < stall[0] + stall[1]:
            continue
        srv.advance(t)
        lat = srv.latency()
        n = steer.plan(lat)
        if lat is not None:
            seen.append(lat)
        srv.write(n)
    return srv, steer, seen


@pytest.mark.parametrize("drift", [-0.003, -0.0003, 0.0, 0.0003, 0.003])
def test_ten_minutes_of_drift_hold_the_queue_without_underruns(drift: float) -> None:
    srv, steer, seen = run(drift, 600.0)
    assert srv.underruns == 0
    late = seen[len(seen) // 60:]                 # after the first 10 s
    # bounded both ways over the whole call: no growth, no starvation
    assert min(late) > 10 * MS and max(late) < 36 * MS, (min(late) / MS, max(late) / MS)
    mean_ms = sum(late) / len(late) / MS
    assert 16 < mean_ms < 24, mean_ms
    # the corrections match the drift (samples the sink took more or less than we wrote)
    expected = drift * RATE * 600
    net = steer.stats.inserted - steer.stats.removed
    assert abs(net - expected) < 0.1 * abs(expected) + 2 * 40 * MS, (net, expected)
    assert steer.stats.skipped == 0


def test_a_stalled_server_that_catches_up_loses_whole_frames_and_returns_to_target() -> None:
    # the writer stalls for 300 ms then everything queued so far plays: simulate by writing a burst
    rng_free = QueueSteer(FRAME, 20 * MS, 2 * MS, 40 * MS)
    srv = Server(0.0, prebuf=20 * MS)
    for k in range(100):                            # 2 s steady
        srv.advance(k * 0.02)
        srv.write(rng_free.plan(srv.latency()))
    srv.queue += 200 * MS                           # 200 ms appear at once (the server was stuck, then resumed)
    after: list[float] = []
    for k in range(100, 400):
        srv.advance(k * 0.02)
        lat = srv.latency()
        srv.write(rng_free.plan(lat))
        assert lat is not None
        after.append(lat)
    assert rng_free.stats.skipped >= 8              # 160+ ms dropped as whole frames
    assert max(after[-100:]) < 36 * MS              # back near the target within 4 s
    assert srv.underruns == 0


def test_the_writer_stalling_refills_through_prebuffering() -> None:
    srv, steer, seen = run(0.0, 30.0, stall=(10.0, 0.2))
    assert srv.underruns == 1                       # the stall itself
    assert max(seen[-500:]) < 36 * MS and min(seen[-500:]) > 10 * MS


def test_late_frames_widen_the_target_until_absorbed_and_a_calm_minute_gives_it_back() -> None:
    """The writer is 14 ms late every 10 s for two minutes (a busy machine), then calm for three."""
    steer = QueueSteer(FRAME, 20 * MS, 2 * MS, 40 * MS, widen=4 * MS, max_target=30 * MS, calm_frames=3000)
    srv = Server(0.0003, prebuf=20 * MS)
    widest = 0
    for k in range(300 * 50):
        late = 0.014 if k < 120 * 50 and k % 500 == 499 else 0.0
        srv.advance(k * 0.02 + late)
        lat = srv.latency()
        if srv.underruns > steer.stats.underruns:      # the stream reports each underflow once
            srv.write(steer.underrun())
        srv.write(steer.plan(lat))
        widest = max(widest, steer.target)
    assert 1 <= srv.underruns <= 3, srv.underruns          # the first late frames only, not one every 10 s
    assert 20 * MS < widest <= 30 * MS
    assert steer.target == 20 * MS                          # given back once calm


def test_no_reading_writes_the_frame_as_is() -> None:
    steer = QueueSteer(FRAME, 20 * MS, 2 * MS, 40 * MS)
    assert steer.plan(None) == FRAME
    assert steer.stats.writes == 1 and steer.stats.measured == 0
