"""Keeping a pushed playback queue at a target latency (pure: no I/O, no audio library).

On the libpulse backend pjmedia's clock thread writes each 20 ms frame of the call straight into the sound
server's playback queue: no ring, no callback on the server's schedule. The two clocks (pjmedia's timer and
the sound card) still drift apart by up to a few hundred ppm, so the queue would slowly grow or empty. The
playback latency the server reports right before each write (interpolated, no round trip) is smoothed and
held in a band around the target by writing a sample more or less now and then (0.3 % drift needs one sample
every frame; a frame stretched or squeezed by one or two samples is inaudible). A queue far above the target
(the server stalled, then caught up) loses whole frames until it is back; an empty one refills through the
stream's pre-buffering.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SteerStats:
    writes: int = 0
    measured: int = 0           # writes with a latency reading
    latency_sum: float = 0.0    # samples, over measured writes (the queue right before the write)
    inserted: int = 0           # samples added by stretching frames
    removed: int = 0            # samples removed by squeezing frames
    skipped: int = 0            # whole frames dropped because the queue was far too long

    def mean_latency(self) -> float:
        return self.latency_sum / self.measured if self.measured else 0.0


class QueueSteer:
    """``plan(latency)`` says how many samples to write for the next frame of ``frame`` samples:
    ``frame`` as is, one or two more or less, or 0 (skip it). ``latency`` is the queue the server reports in
    samples (None when it has no timing yet). ``target`` and ``band`` are in samples; ``skip_above`` is how far
    over the target a frame is dropped whole."""

    def __init__(self, frame: int, target: int, band: int, skip_above: int, alpha: float = 1 / 25) -> None:
        self.frame = frame
        self.target = target
        self.band = band
        self.skip_above = skip_above
        self.alpha = alpha
        self.level: float | None = None        # smoothed latency
        self.stats = SteerStats()

    def reset(self) -> None:
        self.level = None
        self.stats = SteerStats()

    def plan(self, latency: float | None) -> int:
        st = self.stats
        st.writes += 1
        if latency is None:
            return self.frame
        st.measured += 1
        st.latency_sum += latency
        lvl = self.level = latency if self.level is None else self.level + self.alpha * (latency - self.level)
        err = lvl - self.target
        if latency - self.target > self.skip_above:
            st.skipped += 1
            # the frame is gone: the smoothed level follows the drop at once (no overshoot from lag)
            self.level = lvl - self.frame
            return 0
        if abs(err) <= self.band:
            return self.frame
        step = 1 if abs(err) <= 3 * self.band else 2
        if err > 0:
            st.removed += step
            return self.frame - step
        st.inserted += step
        return self.frame + step
