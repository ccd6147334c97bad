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
    underruns: int = 0          # the server ran dry (reported by the caller)

    def mean_latency(self) -> float:
        return self.latency_sum / self.measured if self.measured else 0.0


class QueueSteer:
    """``plan(latency)`` says how many samples to write for the next frame of ``frame`` samples:
    ``frame`` as is, one or two more or less, or 0 (skip it). ``latency`` is the queue the server reports in
    samples (None when it has no timing yet). ``target`` and ``band`` are in samples; ``skip_above`` is how far
    over the target a frame is dropped whole."""

    def __init__(self, frame: int, target: int, band: int, skip_above: int, alpha: float = 1 / 25,
                 widen: int = 0, max_target: int | None = None, calm_frames: int = 3000) -> None:
        self.frame = frame
        self.target = self.base = target
        self.band = band
        self.skip_above = skip_above
        self.alpha = alpha
        self.widen = widen                     # target added per underrun (0: fixed target) ...
        self.max_target = max_target if max_target is not None else target
        self.calm_frames = calm_frames         # ... and given back after this many frames without one
        self._calm = 0
        self._dir = 0                          # correcting: +1 removing, -1 adding, 0 not
        self.level: float | None = None        # smoothed latency
        self.stats = SteerStats()

    def underrun(self) -> int:
        """The server ran dry (a late frame): widen the target, as a jitter buffer does, so that the same
        lateness is absorbed next time. Returns the samples of silence to queue now to get there at once (the
        stream is re-buffering anyway: nothing audible is added)."""
        self.stats.underruns += 1
        self._calm = 0
        step = min(self.widen, self.max_target - self.target)
        self.target += step
        if self.level is not None:
            self.level += step
        return step

    def plan(self, latency: float | None) -> int:
        st = self.stats
        st.writes += 1
        self._calm += 1
        if self._calm >= self.calm_frames and self.target > self.base:
            self._calm = 0
            self.target = max(self.base, self.target - self.widen)
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
        # hysteresis: start correcting outside the band, keep on until the target is crossed (with drift the
        # level then swings between the band's edge and the target instead of riding the edge)
        if self._dir == 0 and abs(err) > self.band:
            self._dir = 1 if err > 0 else -1
        elif self._dir * err <= 0:
            self._dir = 0
        if self._dir == 0:
            return self.frame
        step = 1 if abs(err) <= 3 * self.band else 2
        if self._dir > 0:
            st.removed += step
            return self.frame - step
        st.inserted += step
        return self.frame + step
