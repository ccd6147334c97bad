"""A ring buffer between two audio clocks (pure: no I/O, no clock reads, no threads of its own).

One side (a PortAudio callback, or pjmedia's clock thread) writes blocks of int16 samples of any size;
the other reads fixed frames. The two clocks never agree exactly (a USB headset drifts by a few hundred
ppm against the system clock) and the writer is jittery, so the buffer keeps the audio that waits in it
small and bounded:

* **Drift.** The writer/reader rate ratio is estimated from the sample counts since the last
  :meth:`clear` (quantisation error shrinks as 1/time: ±0.03 % after a minute) and compensated
  continuously by resampling one frame at a time, at most ``max_slip`` samples per frame (0.6 % at 320
  samples, enough for ±0.3 % drift). With equal frame periods on both sides the fill before each read is
  a sawtooth one frame high (a read that finds no new write once per drift period); compensating the rate
  keeps its bottom where it was instead of letting the whole saw slide into underruns or backlog.
* **Slack control.** The reader records how many samples were left over at each read (the *excess*:
  fill before the read minus the frame). Over a window of reads the minimum excess tells how much audio
  sits there for nothing. Above ``high`` (which must leave room for the one-frame sawtooth) the buffer
  shrinks towards ``target``; below ``low`` it stretches the same way. A standing backlog far above
  ``high`` (a device that woke up with seconds of capture queued) is cut at once and counted as
  ``trimmed``.
* **Underrun.** A read that finds less than a frame plays what there is followed by silence, counts one
  underrun, and then plays silence until ``target`` extra samples are queued again (re-priming, as a jitter
  buffer does), so a slow writer produces one counted gap instead of a stutter.
* **Overflow.** A write that does not fit drops the oldest audio and counts it.

All counters are in :class:`RingStats`. ``armed`` turns underrun counting on (there is nothing to miss
before audio first flows). Methods are thread-safe (one lock, held for microseconds).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


@dataclass
class RingStats:
    writes: int = 0
    reads: int = 0
    underruns: int = 0
    overflows: int = 0
    dropped_samples: int = 0      # lost to overflow or trimming
    trimmed: int = 0              # standing backlogs cut at once
    slipped_samples: int = 0      # removed by shrinking (drift)
    stretched_samples: int = 0    # added by stretching (drift)
    silence_samples: int = 0      # played as silence because of underrun/priming
    excess_sum: int = 0           # sum of excess at each read (for the mean)
    excess_max: int = 0

    def mean_excess(self) -> float:
        return self.excess_sum / self.reads if self.reads else 0.0


class DriftRing:
    def __init__(
        self,
        frame: int = 320,
        capacity: int = 16000 * 3 // 10,
        target: int = 160,
        low: int = 96,
        high: int = 560,
        window: int = 50,
        settle: int = 150,
        max_slip: int = 2,
        trim_above: int = 1600,
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
        self._buf: Samples = np.zeros(capacity, dtype=np.int16)
        self._head = 0          # next sample to read
        self._fill = 0
        self._lock = threading.Lock()
        self._priming = True
        self._win_min = 1 << 30
        self._win_n = 0
        self._pending = 0       # >0: samples still to remove; <0: samples still to add
        self._written = 0       # samples written since the reader's first read after clear()
        self._nreads = 0        # reads since then (including that one)
        self._rate = 0.0        # estimated writer/reader - 1
        self._base: tuple[int, int] | None = None
        self._acc = 0.0         # fractional samples owed by drift compensation
        self._max_block = frame  # largest write seen: the height of the fill sawtooth
        self.armed = False
        self.stats = RingStats()

    # -- state -------------------------------------------------------------------------------------
    @property
    def fill(self) -> int:
        return self._fill

    def clear(self, armed: bool | None = None) -> None:
        """Forget queued audio and the window (call media (re)started). Counters are kept."""
        with self._lock:
            self._head = 0
            self._fill = 0
            self._priming = True
            self._win_min = 1 << 30
            self._win_n = 0
            self._pending = 0
            self._written = 0
            self._nreads = 0
            self._rate = 0.0
            self._base = None
            self._acc = 0.0
            self._max_block = self.frame
            self.target, self.low, self.high = self._target0, self._low0, self._high0
            if armed is not None:
                self.armed = armed

    def reset_stats(self) -> RingStats:
        with self._lock:
            old, self.stats = self.stats, RingStats()
            return old

    # -- writer ------------------------------------------------------------------------------------
    def write(self, data: Samples | bytes) -> None:
        x: Samples = np.frombuffer(data, dtype=np.int16) if isinstance(data, (bytes, bytearray)) else data
        n = len(x)
        if n == 0:
            return
        with self._lock:
            st = self.stats
            st.writes += 1
            if n > self.capacity:
                st.dropped_samples += n - self.capacity
                x = x[n - self.capacity:]
                n = self.capacity
            over = self._fill + n - self.capacity
            if over > 0:
                st.overflows += 1 if self.armed else 0
                st.dropped_samples += over
                self._head = (self._head + over) % self.capacity
                self._fill -= over
            tail = (self._head + self._fill) % self.capacity
            first = min(n, self.capacity - tail)
            if self._nreads:
                self._written += n
            self._max_block = max(self._max_block, min(n, self.trim_above))
            self._buf[tail:tail + first] = x[:first]
            if first < n:
                self._buf[:n - first] = x[first:]
            self._fill += n

    # -- reader ------------------------------------------------------------------------------------
    def _take(self, n: int) -> Samples:
        h = self._head
        end = h + n
        if end <= self.capacity:
            out = self._buf[h:end].copy()
        else:
            out = np.concatenate((self._buf[h:], self._buf[:end - self.capacity]))
        self._head = end % self.capacity
        self._fill -= n
        return out

    def read(self, n: int | None = None) -> Samples:
        """One frame (``frame`` samples unless ``n`` says otherwise); never blocks, never returns short."""
        n = self.frame if n is None else n
        with self._lock:
            st = self.stats
            st.reads += 1
            if self._nreads or self._fill:
                # rate estimation starts with the reader's first read of real audio: what was queued
                # before the reader started is not writer speed
                self._nreads += 1
            if self._priming:
                if self._fill >= n + self.target:
                    self._priming = False
                else:
                    if self.armed:
                        st.silence_samples += n
                    return np.zeros(n, dtype=np.int16)
            excess = self._fill - n
            if excess < 0:
                out = np.zeros(n, dtype=np.int16)
                have = self._fill
                out[:have] = self._take(have)
                self._priming = True
                self._pending = 0
                self._reset_window()
                self._widen()
                if self.armed:
                    st.underruns += 1
                    st.silence_samples += n - have
                return out
            st.excess_sum += excess
            st.excess_max = max(st.excess_max, excess)
            self._observe(excess)
            self._acc += self._rate * n
            want = self._pending + int(self._acc)
            if want > 0:
                k = min(self.max_slip, want, excess - self.low)
                if k > 0:
                    self._spend(k)
                    st.slipped_samples += k
                    return _resample(self._take(n + k), n)
            elif want < 0:
                k = min(self.max_slip, -want)
                self._spend(-k)
                st.stretched_samples += k
                return _resample(self._take(n - k), n)
            return self._take(n)

    def _widen(self) -> None:
        """An underrun says the writer is more jittery than the slack allowed for: keep more from now on."""
        step = min(self.frame // 4, self.max_target - self.target)
        if step > 0:
            self.target += step
            self.low += step
            self.high += step

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

    def _observe(self, excess: int) -> None:
        self._win_min = min(self._win_min, excess)
        self._win_n += 1
        if excess > self.trim_above:
            cut = excess - self.target
            self._head = (self._head + cut) % self.capacity
            self._fill -= cut
            self.stats.trimmed += 1
            self.stats.dropped_samples += cut
            self._pending = 0
            self._reset_window()
            return
        if self._win_n < self.window:
            return
        m = self._win_min
        self._reset_window()
        if self._base is None:
            if self._nreads >= self.settle:
                # start counting once the devices have settled: a stream's first callbacks come in a
                # burst (filling the server's buffer) that says nothing about its clock
                self._base = (self._written, self._nreads)
        elif self._nreads - self._base[1] >= self.settle:
            consumed = (self._nreads - self._base[1]) * self.frame
            ratio = (self._written - self._base[0]) / consumed
            self._rate = max(-0.006, min(0.006, ratio - 1.0))
        if m > self.high + self._max_block - self.frame:
            self._pending = m - self.target
        elif m < self.low:
            self._pending = -(self.target - m)
        else:
            self._pending = 0


def _resample(x: Samples, n: int) -> Samples:
    """Linear resampling of one frame by a sample or two: inaudible at 0.6 %, unlike a dropped sample."""
    m = len(x)
    if m == n:
        return x
    pos = np.linspace(0.0, m - 1, n)
    return np.interp(pos, np.arange(m), x.astype(np.float32)).astype(np.int16)
