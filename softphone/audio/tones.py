"""Call progress sounds made by our code (no assets, no licences): ringback, ringtone, call-waiting beep,
DTMF feedback and the settings test tone. Pure: numpy only, no devices, no clocks.

A :class:`ToneSource` yields frames of int16 samples at ``rate`` and loops its cadence until stopped;
one-shot sounds (a DTMF digit, a test tone) report ``done``. :func:`desired_sounds` turns the list of
calls into what should be heard, so the adapter only has to diff it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


class Sound(str, Enum):
    RINGBACK = "ringback"          # outbound, far end ringing, no early media (on the call device)
    RINGTONE = "ringtone"          # inbound, no other call (on the ringer device)
    CALL_WAITING = "call_waiting"  # inbound while in a call (a short beep on the call device)
    TEST = "test"                  # settings page test tone


@dataclass(frozen=True)
class Segment:
    freqs: tuple[float, ...]
    ms: int
    level_dbfs: float = -16.0


# US ringback (440+480 Hz, 2 s on 4 s off), a two-tone warble ring, a 440 Hz double beep every 10 s
CADENCES: dict[Sound, tuple[tuple[Segment, ...], bool]] = {
    Sound.RINGBACK: ((Segment((440.0, 480.0), 2000, -19.0), Segment((), 4000)), True),
    Sound.RINGTONE: (
        (*tuple(Segment((f,), 50, -10.0) for _ in range(20) for f in (1046.5, 1318.5)), Segment((), 2000)),
        True,
    ),
    Sound.CALL_WAITING: ((Segment((440.0,), 200, -16.0), Segment((), 150), Segment((440.0,), 200, -16.0),
                          Segment((), 9450)), True),
    Sound.TEST: ((Segment((440.0,), 1500, -12.0),), False),
}

DTMF_FREQS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}


def render(segments: Iterable[Segment], rate: int = 16000) -> Samples:
    """One cycle of a cadence; each segment fades in/out over 4 ms so that on/off edges do not click."""
    parts: list[npt.NDArray[np.float64]] = []
    fade = max(1, int(0.004 * rate))
    for seg in segments:
        n = int(seg.ms * rate / 1000)
        if not seg.freqs:
            parts.append(np.zeros(n))
            continue
        t = np.arange(n) / rate
        amp = 32767 * 10 ** (seg.level_dbfs / 20) / len(seg.freqs)
        x = sum(amp * np.sin(2 * np.pi * f * t) for f in seg.freqs)
        env = np.ones(n)
        k = min(fade, n // 2)
        env[:k] = np.linspace(0, 1, k)
        env[n - k:] = np.linspace(1, 0, k)
        parts.append(np.asarray(x) * env)
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)


def dtmf(digit: str, ms: int = 120, rate: int = 16000) -> Samples:
    f = DTMF_FREQS[digit.upper()]
    return render((Segment((float(f[0]), float(f[1])), ms, -14.0), Segment((), 40)), rate)


class ToneSource:
    """Frames of a looping (or one-shot) sound."""

    def __init__(self, pcm: Samples, loop: bool) -> None:
        self.pcm = pcm
        self.loop = loop
        self.pos = 0

    @classmethod
    def of(cls, sound: Sound, rate: int = 16000) -> ToneSource:
        segs, loop = CADENCES[sound]
        return cls(render(segs, rate), loop)

    @property
    def done(self) -> bool:
        return not self.loop and self.pos >= len(self.pcm)

    def next(self, n: int) -> Samples:
        out = np.zeros(n, dtype=np.int16)
        if len(self.pcm) == 0:
            return out
        i = 0
        while i < n:
            if self.pos >= len(self.pcm):
                if not self.loop:
                    break
                self.pos = 0
            k = min(n - i, len(self.pcm) - self.pos)
            out[i:i + k] = self.pcm[self.pos:self.pos + k]
            i += k
            self.pos += k
        return out


@dataclass(frozen=True)
class Wanted:
    ringer: bool = False                   # ringtone on the ringer device
    call_sound: Sound | None = None        # ringback or call-waiting on the call device


def desired_sounds(states: Iterable[str], early_media: Iterable[bool] = ()) -> Wanted:
    """What to play for a set of calls given their ``CallState`` values (strings).

    Inbound ringing with no other live call rings the ringer; inbound ringing while another call is up
    gives the call-waiting beep instead; an outbound call that is RINGING (180, no early media) gives local
    ringback. EARLY means the far end plays its own progress, so nothing local.
    """
    st = [str(s) for s in states]
    live = any(s in ("ESTABLISHED", "HELD") for s in st)
    incoming = "INCOMING" in st
    if incoming and live:
        return Wanted(ringer=False, call_sound=Sound.CALL_WAITING)
    if incoming:
        return Wanted(ringer=True, call_sound=None)
    if "RINGING" in st and not live:
        return Wanted(call_sound=Sound.RINGBACK)
    return Wanted()
