"""A ring buffer between two audio clocks (pure: no I/O, no clock reads, no threads of its own).

One side (a sound-device callback, or pjmedia's clock thread) writes blocks of int16 samples of any size;
the other reads fixed frames. The two clocks never agree exactly (a USB headset drifts by a few hundred
ppm against the system clock) and both sides are jittery, so the buffer keeps the audio that waits in it
small and bounded:

* **Slack control.** The reader records how many samples are left over at each read (the *excess*: fill
  before the read minus the frame). Over a window of reads the minimum excess tells how much audio sits
  there for nothing. Above ``high`` (which must leave room for the writer's block sawtooth) the buffer
  shrinks towards ``target``; below ``low`` it stretches the same way. A standing backlog far above
  ``high`` (a device that woke up with seconds of capture queued) is cut at once and counted as
  ``trimmed``.
* **Drift.** The writer/reader rate ratio is the slope of a least-squares line through the per-window
  minimum of ``samples written - samples asked for`` (the two clocks' own sample counts, untouched by any of
  our corrections) over every window since :meth:`clear`. Taking the minimum per window removes the
  writer's lateness (jitter only ever delays a callback) and the long fit averages what is left, so a CPU
  spike moves the estimate by little instead of whipping it around as the instantaneous fill does. Both
  counts move in whole device blocks, so a slope is trusted only once ``min_fit`` windows are in and the
  clocks have slipped by more than a block over the fit; until then (or for a drift of a few ppm) the slack
  control alone keeps the level. The rate is compensated by resampling one frame now and then by at most
  ``max_slip`` samples (linear interpolation: inaudible at that ratio, unlike a dropped sample).
* **Underrun.** A read that finds less than a frame plays what there is followed by silence, counts one
  underrun, and then plays silence until ``target`` extra samples are queued again (re-priming, as a jitter
  buffer does), so a slow writer produces one counted gap instead of a stutter. Each underrun widens the
  slack by a quarter frame (up to ``max_target``); ``decay_windows`` windows without an underrun narrow it
  back by the same step, so one bad second (a CPU spike) does not cost latency for the rest of the call.
* **Overflow.** A write that does not fit drops the oldest audio and counts it.

The hot path allocates nothing: :meth:`read_into` copies into the caller's array and :meth:`write` takes any
buffer (bytes, a PortAudio/cffi buffer, an array) without converting it first.

All counters are in :class:`RingStats`. ``armed`` turns underrun counting on (there is nothing to miss
before audio first flows). Methods are thread-safe (one lock, held for microseconds).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


@dataclass
class RingStats:
    writes: int = 0
    reads: int = 0
    underruns: int = 0
    unarmed_underruns: int = 0    # ... while not armed (a stream's start-up, reported apart)
    overflows: int = 0
    dropped_samples: int = 0      # lost to overflow or trimming
    trimmed: int = 0              # standing backlogs cut at once
    slipped_samples: int = 0      # removed by shrinking (drift)
    stretched_samples: int = 0    # added by stretching (drift)
    silence_samples: int = 0      # played as silence because of underrun/priming
    excess_sum: int = 0           # sum of excess at each read (for the mean)
    excess_max: int = 0
    read_samples: int = 0         # samples asked for (mean read size = read_samples / reads)
    widened: int = 0              # slack steps added after underruns
    narrowed: int = 0             # ... and given back after calm windows

    def mean_excess(self) -> float:
        return self.excess_sum / self.reads if self.reads else 0.0

    def mean_read(self) -> float:
        return self.read_samples / self.reads if self.reads else 0.0


class DriftRing:
    def __init__(
        self,
        frame: int = 320,
        capacity: int = 16000 * 3 // 10,
        target: int = 160,
        low: int = 64,
        high: int = 240,
        window: int = 50,
        settle: int = 150,
        max_slip: int = 2,
        trim_above: int = 1600,
        min_fit: int = 10,
        decay_windows: int = 30,
        shrink_windows: int = 8,
        block_windows: int = 60,
        max_rate: float = 0.006,
        fit_gate: int | None = None,
    ) -> None:
        if not (0 <= low <= target <= high < capacity - frame):
            raise ValueError("need 0 <= low <= target <= high < capacity - frame")
        self.frame = frame
        self.capacity = capacity
        self.target = self._target0 = target
        self.low = self._low0 = low
        self.high = self._high0 = high
        self.max_target = 4 * frame
        self.window = window
        self.max_slip = max_slip
        self.trim_above = trim_above
        self.settle = settle
        self.min_fit = min_fit
        self.decay_windows = decay_windows
        self.max_rate = max_rate
        self.fit_gate = fit_gate    # slip (samples) the fit must see before it is trusted (None: a block)
        self._buf: Samples = np.zeros(capacity, dtype=np.int16)
        self._head = 0          # next sample to read
        self._fill = 0
        self._lock = threading.Lock()
        self._priming = True
        self._win_min = 1 << 30
        self._win_n = 0
        self._pending = 0       # >0: samples still to remove; <0: samples still to add
        self._cut = 0           # samples to drop at once at the next read (a standing backlog)
        self._last_n = frame    # size of the latest read
        self._written = 0       # samples written since the reader's first read of real audio after clear()
        self._nreads = 0        # reads since then (including that one)
        self._consumed = 0      # samples those reads asked for (the reader's clock, whatever its block size)
        self._d_min = 1 << 62   # window minimum of written - nreads * frame (the clocks' raw difference)
        self._fn = 0            # drift fit: running least squares over (reads, window minimum)
        self._fmx = self._fmy = self._fsxx = self._fsxy = 0.0
        self._x0: float | None = None
        self._rate = 0.0        # estimated writer/reader - 1
        self._acc = 0.0         # fractional samples owed by drift compensation
        self._max_block = frame  # largest write lately (recent windows): the height of the fill sawtooth
        self._win_block = 0      # largest write in this window
        self._blocks: deque[int] = deque(maxlen=block_windows)
        self._calm = 0          # windows since the last underrun or narrowing
        self._since_underrun = 0
        self._since_narrow: int | None = None   # windows since the slack was last given back
        self._decay_needed = decay_windows
        self._recent: deque[int] = deque(maxlen=shrink_windows)   # window minima since the last correction
        self._interp: dict[tuple[int, int], tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]] = {}
        self.armed = False
        # False when one side's sample counts do not follow its clock (a sound server that rewinds and asks
        # for audio again): the slack control alone then keeps the level
        self.estimate_drift = True
        # The writer's real granularity when its writes are not its blocks (a pulled capture gets whatever the
        # server delivered in chunks of a few ms; the phase-wrap dip is one such chunk, not one pull)
        self.dip_hint: int | None = None
        self.stats = RingStats()

    # -- state -------------------------------------------------------------------------------------
    @property
    def fill(self) -> int:
        return self._fill

    @property
    def rate(self) -> float:
        """Estimated writer/reader rate ratio minus one (0.0 until ``min_fit`` windows are in)."""
        return self._rate

    def set_rate(self, rate: float) -> None:
        """For a ring that does not estimate its drift (``estimate_drift`` False): the rate ratio learnt
        elsewhere (e.g. by the ring carrying the other direction between the same two clocks)."""
        with self._lock:
            if not self.estimate_drift:
                self._rate = max(-self.max_rate, min(self.max_rate, rate))

    def configure(self, target: int, low: int, high: int) -> None:
        """New slack settings (e.g. for another kind of device); takes effect now, like :meth:`clear`."""
        if not (0 <= low <= target <= high < self.capacity - self.frame):
            raise ValueError("need 0 <= low <= target <= high < capacity - frame")
        with self._lock:
            self._target0, self._low0, self._high0 = target, low, high
            self.target, self.low, self.high = target, low, high

    def clear(self, armed: bool | None = None) -> None:
        """Forget queued audio, the window and the drift fit (call media (re)started). Counters are kept."""
        with self._lock:
            self._head = 0
            self._fill = 0
            self._priming = True
            self._reset_window()
            self._pending = 0
            self._cut = 0
            self._written = 0
            self._nreads = 0
            self._consumed = 0
            self._fn = 0
            self._fmx = self._fmy = self._fsxx = self._fsxy = 0.0
            self._x0 = None
            self._rate = 0.0
            self._acc = 0.0
            self._max_block = self.frame
            self._win_block = 0
            self._blocks.clear()
            self._calm = 0
            self._since_underrun = 0
            self._since_narrow = None
            self._decay_needed = self.decay_windows
            self._recent.clear()
            self.target, self.low, self.high = self._target0, self._low0, self._high0
            if armed is not None:
                self.armed = armed

    def reset_stats(self) -> RingStats:
        with self._lock:
            old, self.stats = self.stats, RingStats()
            return old

    # -- writer ------------------------------------------------------------------------------------
    def write(self, data: Any) -> None:
        """Append int16 samples: an int16 array or anything with the buffer protocol (bytes, cffi buffers)."""
        x: Samples = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.int16)
        n = len(x)
        if n == 0:
            return
        cap = self.capacity
        with self._lock:
            st = self.stats
            st.writes += 1
            if self._nreads:
                self._written += n
            if n > cap:
                st.dropped_samples += n - cap
                x = x[n - cap:]
                n = cap
            over = self._fill + n - cap
            if over > 0:
                self._refit()                   # a discontinuity: the counts before it say nothing now
                if self.armed:
                    st.overflows += 1
                st.dropped_samples += over
                self._head = (self._head + over) % cap
                self._fill -= over
            if n > self._win_block:
                self._win_block = min(n, self.trim_above)
            tail = self._head + self._fill
            if tail >= cap:
                tail -= cap
            first = cap - tail
            if n <= first:
                self._buf[tail:tail + n] = x
            else:
                self._buf[tail:] = x[:first]
                self._buf[:n - first] = x[first:]
            self._fill += n

    # -- reader ------------------------------------------------------------------------------------
    def read(self, n: int | None = None) -> Samples:
        """One frame (``frame`` samples unless ``n`` says otherwise) in a new array."""
        out = np.empty(self.frame if n is None else n, dtype=np.int16)
        self.read_into(out)
        return out

    def read_into(self, out: Samples) -> None:
        """Fill ``out`` (int16, any length; ``frame`` for the fixed-frame side). Never blocks, never short."""
        n = len(out)
        with self._lock:
            self._last_n = n
            st = self.stats
            st.reads += 1
            st.read_samples += n
            if self._nreads or self._fill:
                # rate estimation starts with the reader's first read of real audio: what was queued
                # before the reader started is not writer speed
                self._nreads += 1
                self._consumed += n
                d = self._written - self._consumed
                self._d_min = min(self._d_min, d)
            if self._priming:
                if self._fill >= n + self.target:
                    self._priming = False
                else:
                    if self.armed:
                        st.silence_samples += n
                    out[:] = 0
                    self._tick(None)
                    return
            excess = self._fill - n
            if excess < 0:
                have = self._fill
                self._copy_out(out[:have], have)
                out[have:] = 0
                self._priming = True
                self._pending = 0
                self._widen()
                if self.armed:
                    st.underruns += 1
                    st.silence_samples += n - have
                else:
                    st.unarmed_underruns += 1
                self._tick(None)
                return
            st.excess_sum += excess
            st.excess_max = max(st.excess_max, excess)
            if excess > self.trim_above or (self._cut and excess >= self._cut):
                cut = min(excess, max(self._cut, excess - self.target))
                self._cut = 0
                self._head = (self._head + cut) % self.capacity
                self._fill -= cut
                excess -= cut
                st.trimmed += 1
                st.dropped_samples += cut
                self._refit()
                self._pending = 0
                self._reset_window()
            if self._rate:
                self._acc += self._rate * n
            want = self._pending + int(self._acc)
            k = 0
            if want > 0:
                k = min(self.max_slip, want, excess - self.low)
                if k > 0:
                    st.slipped_samples += k
            elif want < 0:
                k = -min(self.max_slip, -want)
                st.stretched_samples -= k
            if k:
                self._spend(k)
                self._resample_out(out, n + k)
            else:
                self._copy_out(out, n)
            self._tick(excess)

    def _copy_out(self, out: Samples, n: int) -> None:
        h = self._head
        end = h + n
        cap = self.capacity
        if end <= cap:
            out[:] = self._buf[h:end]
        else:
            first = cap - h
            out[:first] = self._buf[h:]
            out[first:] = self._buf[:end - cap]
        self._head = end % cap
        self._fill -= n

    def _resample_out(self, out: Samples, m: int) -> None:
        """Take ``m`` samples and squeeze/stretch them into ``out`` (linear interpolation, cached indices)."""
        x = np.empty(m, dtype=np.int16)
        self._copy_out(x, m)
        n = len(out)
        key = (m, n)
        tab = self._interp.get(key)
        if tab is None:
            pos = np.linspace(0.0, m - 1, n)
            i0 = np.minimum(pos.astype(np.intp), m - 2)
            tab = (i0, (pos - i0).astype(np.float32))
            if len(self._interp) < 16:
                self._interp[key] = tab
        i0, frac = tab
        a = x[i0].astype(np.float32)
        b = x[i0 + 1].astype(np.float32)
        a += (b - a) * frac
        np.rint(a, out=a)
        out[:] = a

    # -- control (once per read, under the lock) ----------------------------------------------------
    def _tick(self, excess: int | None) -> None:
        if excess is not None and excess < self._win_min:
            self._win_min = excess
        self._win_n += 1
        if self._win_n < self.window:
            return
        m = self._win_min
        d_min = self._d_min
        self._reset_window()
        # The writer's block size sets the sawtooth the bands must allow for. It is learnt over the last minute
        # (a pulled capture's blocks vary with the puller's lateness) and capped at two frames, so that a
        # one-off backlog delivered at once does not raise the bands for the rest of the call.
        self._blocks.append(self._win_block)
        self._win_block = 0
        self._max_block = min(2 * self.frame, max(self.frame, *self._blocks))
        self._fit(d_min)
        self._calm += 1
        self._since_underrun += 1
        if self._since_narrow is not None:
            self._since_narrow += 1
        if self._calm >= self._decay_needed and self.target > self._target0:
            self._narrow()
        if m == 1 << 30:            # a whole window of priming/underruns: nothing to steer on
            self._pending = 0
            self._recent.clear()
            return
        recent = self._recent
        recent.append(m)
        self._cut = 0
        if m > self.high + self._max_block + 2 * self.frame:
            # a backlog no jitter explains (a stream that started with a burst, a stall that ended): slipping
            # two samples a frame would take many seconds to drain it, so cut it at the next read
            self._cut = m - self.target
            self._pending = 0
            recent.clear()
        elif m < self.low:
            # too little slack: stretch at once
            self._pending = -(self.target - m)
            recent.clear()
        elif len(recent) == recent.maxlen:
            # Clocks that drift apart make the writer's and the reader's ticks line up now and then (every
            # 6.7 s at 0.3 %, every 200 s at 0.01 %); while they do, a read can find no new block and the
            # fill dips by one. A fast wrap shows up in the minimum over ``recent`` itself; for a slow one,
            # keep a block in hand whenever a drift is known. With none (two streams on one clock) the
            # ticks never meet and the slack stays at target.
            guard = 0
            if self._rate:
                # the dip is one block of whichever side moves in smaller blocks
                dip = min(self._max_block, self._last_n, self.dip_hint or self._max_block)
                cycle = dip / (abs(self._rate) * self._last_n * self.window)   # windows per wrap
                guard = dip if cycle > recent.maxlen else 0
            lo = min(recent)
            if lo > self.high + guard + self._max_block - self.frame:
                self._pending = lo - self.target - guard
                recent.clear()
            else:
                self._pending = 0
        else:
            self._pending = 0

    def _fit(self, d_min: int) -> None:
        if not self.estimate_drift or self._nreads < self.settle or d_min == 1 << 62:
            # a stream's first callbacks come in a burst (filling the device's buffer) that says
            # nothing about its clock
            return
        # running least squares (centred updates) over every window since clear()
        x, y = float(self._consumed), float(d_min)
        self._fn += 1
        dx = x - self._fmx
        self._fmx += dx / self._fn
        dy = y - self._fmy
        self._fmy += dy / self._fn
        self._fsxx += dx * (x - self._fmx)
        self._fsxy += dx * (y - self._fmy)
        if self._x0 is None:
            self._x0 = x
        if self._fn < self.min_fit or self._fsxx <= 0:
            return
        slope = self._fsxy / self._fsxx                   # extra writer samples per reader sample
        # Both counts move in whole device blocks, so a slope is only known once the clocks have slipped
        # by more than a block over the fit: until then the level control alone copes (tiny drift).
        span = x - self._x0
        gate = self._max_block if self.fit_gate is None else self.fit_gate
        if abs(slope) * span < gate:
            self._rate = 0.0
            return
        self._rate = max(-self.max_rate, min(self.max_rate, slope))

    def _refit(self) -> None:
        """Restart the drift fit (keeping the current estimate until the new one is in)."""
        self._fn = 0
        self._fmx = self._fmy = self._fsxx = self._fsxy = 0.0
        self._x0 = None

    def _widen(self) -> None:
        """An underrun says the writer is more jittery than the slack allowed for: keep more for a while.
        Underruns that keep coming back after the slack was given back make it stay longer each time."""
        if self._since_narrow is not None and self._since_narrow < 2 * self._decay_needed:
            self._decay_needed = min(2 * self._decay_needed, 16 * self.decay_windows)
        elif self._since_underrun > 8 * self._decay_needed:
            self._decay_needed = self.decay_windows
        self._since_narrow = None
        self._calm = 0
        self._since_underrun = 0
        self._recent.clear()
        step = min(self.frame // 4, self.max_target - self.target)
        if step > 0:
            self.target += step
            self.low += step
            self.high += step
            self.stats.widened += 1

    def _narrow(self) -> None:
        self._calm = 0
        self._since_narrow = 0
        step = min(self.frame // 4, self.target - self._target0)
        if step > 0:
            self.target -= step
            self.low -= step
            self.high -= step
            self.stats.narrowed += 1

    def _spend(self, k: int) -> None:
        """Account ``k`` samples removed (negative: added) against the level correction first, then drift."""
        if (self._pending > 0) == (k > 0) and self._pending != 0:
            take = min(abs(self._pending), abs(k))
            take = take if k > 0 else -take
            self._pending -= take
            k -= take
        self._acc -= k

    def _reset_window(self) -> None:
        self._win_min = 1 << 30
        self._win_n = 0
        self._d_min = 1 << 62
