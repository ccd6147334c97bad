"""When to give up on the call's sound devices (pure: no I/O, no threads, the time is passed in).

A sound device can stop calling back without an error: a USB headset that browns out, a Bluetooth link
that drops, a sound server that suspends a sink. The bridge counts device callbacks per direction and hands
the counts to :meth:`StallWatchdog.check` twice a second; when neither side moved for ``stall_s`` (or a
freshly opened stream never started within ``first_s``), or a stream reports itself dead, the answer is
"reopen on the system default", at most once per ``rescue_gap_s`` so a broken default does not loop.
"""

from __future__ import annotations

import math


class StallWatchdog:
    def __init__(self, stall_s: float = 1.0, first_s: float = 4.0, rescue_gap_s: float = 5.0) -> None:
        self.stall_s = stall_s
        self.first_s = first_s
        self.rescue_gap_s = rescue_gap_s
        self._seen_in = self._seen_out = -1
        self._moved = 0.0
        self._last_rescue = -math.inf

    def opened(self, now: float) -> None:
        """Streams were (re)opened at ``now``: counts start from zero."""
        self._seen_in = self._seen_out = 0
        self._moved = now

    def check(self, now: float, n_in: int, n_out: int, *, has_input: bool, healthy: bool = True,
              out_stuck: bool = False) -> bool:
        """True when the streams must be reopened on the default devices.

        ``n_in``/``n_out``: callbacks (or frames delivered) so far; ``has_input``: a capture stream is open
        (a playback-only pair, e.g. ringback before the call has media, has none); ``healthy``: every open
        stream says it is active; ``out_stuck``: the output is fed but the device stopped taking audio.
        """
        if out_stuck:
            n_out = self._seen_out
        if n_out != self._seen_out and (not has_input or n_in != self._seen_in):
            self._seen_in, self._seen_out, self._moved = n_in, n_out, now
            return False
        if n_out != self._seen_out or n_in != self._seen_in:
            # one side moved: remember the counts but not the time (the other side may be the stalled one)
            self._seen_in, self._seen_out = n_in, n_out
        never = n_out == 0 or (has_input and n_in == 0)
        bad = now - self._moved > (self.first_s if never else self.stall_s) or not healthy
        if bad and now - self._last_rescue > self.rescue_gap_s:
            self._last_rescue = now
            return True
        return False
