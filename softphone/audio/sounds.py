"""Local sounds the rep hears that do not come from the call: ringtone (its own device), ringback, the
call-waiting beep and keypad feedback (mixed into what the call device plays).

No devices here: the bridge asks what should play (:meth:`LocalSounds.want`, :meth:`add_dtmf`), whether the
call device must be open for it (:attr:`need_call_device`), and the device callbacks pull samples
(:meth:`mix`, :meth:`fill_ringer`). State changes come from any thread under one lock; the callbacks read
the current sources without it (each source is only ever advanced by one callback thread).
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import numpy.typing as npt

from softphone.audio.tones import Sound, ToneSource, Wanted, dtmf

Samples = npt.NDArray[np.int16]


class LocalSounds:
    def __init__(self, rate: int = 16000) -> None:
        self.rate = rate
        self.call: ToneSource | None = None          # ringback / call waiting, on the call device
        self.oneshots: list[ToneSource] = []         # keypad tones, one after the other, on the call device
        self.ring: ToneSource | None = None          # the ringtone, on the ringer device
        self._wanted = Wanted()
        self._lock = threading.Lock()

    def want(self, wanted: Wanted) -> bool:
        """Play what ``wanted`` says from now on; False when it is what already plays (nothing to do)."""
        with self._lock:
            if wanted == self._wanted:
                return False
            old, self._wanted = self._wanted, wanted
            if wanted.call_sound != old.call_sound:
                self.call = ToneSource.of(wanted.call_sound, self.rate) if wanted.call_sound else None
            if wanted.ringer != old.ringer:
                self.ring = ToneSource.of(Sound.RINGTONE, self.rate) if wanted.ringer else None
            return True

    def add_dtmf(self, digits: str) -> None:
        """Queue keypad feedback; characters that are not DTMF digits are ignored."""
        with self._lock:
            for d in digits:
                with contextlib.suppress(KeyError):
                    self.oneshots.append(ToneSource(dtmf(d, rate=self.rate), loop=False))

    @property
    def need_call_device(self) -> bool:
        """Something must play on the call device (a keypad tone leaves the list as it ends, in :meth:`mix`)."""
        return self.call is not None or bool(self.oneshots)

    @property
    def ringing(self) -> bool:
        return self.ring is not None

    def mix(self, x: Samples, frames: int) -> None:
        """Add the call-device sounds to ``x`` (what the speaker plays), clipped to int16."""
        snd = self.call
        if snd is not None or self.oneshots:
            acc = x.astype(np.int32)
            if snd is not None:
                acc += snd.next(frames)
            if self.oneshots:
                shot = self.oneshots[0]
                acc += shot.next(frames)
                if shot.done:
                    with contextlib.suppress(IndexError, ValueError):
                        self.oneshots.remove(shot)
            np.clip(acc, -32768, 32767, out=acc)
            x[:] = acc

    def fill_ringer(self, x: Samples, frames: int) -> None:
        snd = self.ring
        if snd is not None:
            x[:] = snd.next(frames)
        else:
            x[:] = 0
