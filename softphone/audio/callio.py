"""How call audio reaches the sound devices: the :class:`CallIO` interface and its tuning.

The bridge (:mod:`softphone.audio.bridge`) owns two :class:`~softphone.audio.ring.DriftRing`s: ``cap``
(microphone → pjmedia) and ``play`` (pjmedia → speaker). pjmedia's clock thread reads a microphone frame
from ``cap`` and hands each call frame to ``CallIO.speaker``. A ``CallIO`` puts the other ends of those on
real devices. Two exist, picked once when the bridge starts:

* :class:`~softphone.audio.pulse_io.PulseIO`: libpulse streams driven by the clock thread (capture pulled
  right before each microphone frame, playback pushed frame by frame), for PulseAudio/PipeWire;
* :class:`~softphone.audio.portaudio_io.PortAudioIO`: PortAudio streams whose callbacks write ``cap`` and
  read ``play`` (Windows, macOS, Linux without a sound server, or libpulse unusable).

Threads: ``open``/``close``/``tick``/``arm`` and the figures run on the bridge's ``audio-devices`` worker;
``pull_mic`` and ``speaker`` on pjmedia's clock thread; the streams' own callbacks wherever the library
calls them. ``call_live`` is set by the bridge whenever calls come and go.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from softphone.audio import devices as dev
from softphone.audio.frames import FRAME, RATE
from softphone.audio.ring import DriftRing, RingStats

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]
Notice = Callable[[str, str], None]          # (level "info"|"warning", message)

__all__ = ["FRAME", "RATE", "CallIO", "Notice", "Samples", "Tuning", "ring_ms"]


@dataclass(frozen=True)
class Tuning:
    """Buffering between the devices and pjmedia (defaults chosen with ``bench/audio_call_cpu.py``).

    ``*_block``: samples per PortAudio callback; ``*_latency_s``: the device buffer PortAudio asks for
    (None: PortAudio's 'low'); ``ring_*_ms``: the ring's slack target and the band around it
    (see :class:`~softphone.audio.ring.DriftRing`). ``SOFTPHONE_AUDIO_TUNING="out_block=160,..."`` overrides
    fields for experiments.
    """

    in_block: int = FRAME
    out_block: int = FRAME
    in_latency_s: float | None = None
    out_latency_s: float | None = None
    ring_target_ms: float = 12.0              # PortAudio streams, and the libpulse playback side
    ring_low_ms: float = 5.0
    ring_high_ms: float = 18.0
    ring_decay_windows: int = 60              # calm windows before slack added after an underrun is given back
    direct_pulse: bool = True                 # pulse backend: libpulse streams, not PortAudio via ALSA
    pulse_out_latency_s: float = 0.03         # playback buffer incl. the sink's (ADJUST_LATENCY)
    pulse_out_block: int = 160                # ... topped up in blocks of this many samples
    pulse_push: bool = True                   # libpulse playback written by pjmedia's clock thread, no ring
    pulse_push_target_ms: float = 24.0        # ... the server's queue right before each write
    pulse_push_tlength_ms: float = 50.0       # ... the buffer it sizes the sink for (ADJUST_LATENCY)
    pulse_mic_target_ms: float = 8.0          # mic ring when capture is pulled right before each read
    pulse_mic_low_ms: float = 3.0
    pulse_mic_high_ms: float = 12.0

    @classmethod
    def from_env(cls) -> Tuning:
        t = cls()
        raw = os.environ.get("SOFTPHONE_AUDIO_TUNING", "")
        for item in filter(None, (x.strip() for x in raw.split(","))):
            key, _, val = item.partition("=")
            cur = getattr(t, key, "missing")
            if cur == "missing" or not val:
                log.warning("SOFTPHONE_AUDIO_TUNING: ignoring %r", item)
                continue
            v: Any = (None if val.lower() == "none" else val.lower() in ("1", "true", "yes")
                      if isinstance(cur, bool) else int(val) if key.endswith("block") else float(val))
            t = dataclasses.replace(t, **{key: v})
        return t

    def ring(self, pulled: bool = False) -> DriftRing:
        """A ring with this tuning's slack (``pulled``: the microphone ring of a pulled capture)."""
        ms = RATE // 1000
        if pulled:
            return DriftRing(FRAME, target=int(self.pulse_mic_target_ms * ms), low=int(self.pulse_mic_low_ms * ms),
                             high=int(self.pulse_mic_high_ms * ms), decay_windows=self.ring_decay_windows)
        return DriftRing(FRAME, target=int(self.ring_target_ms * ms), low=int(self.ring_low_ms * ms),
                         high=int(self.ring_high_ms * ms), decay_windows=self.ring_decay_windows)


class CallIO(Protocol):
    """The device side of the call audio (see the module docstring)."""

    name: str                                  # for the log: what carries the audio
    call_live: bool                            # a call has media (else the speaker plays local sounds only)
    n_in: int                                  # capture deliveries / playback callbacks so far (the watchdog's
    n_out: int                                 # sign of life), reset by ``open``
    pull_mic: Callable[[], None] | None        # clock thread, right before each microphone frame (or None)
    speaker: Callable[[Samples], None]         # clock thread: one 20 ms frame of the call

    @property
    def has_input(self) -> bool:
        """A capture stream is open."""

    @property
    def has_output(self) -> bool:
        """A playback stream is open."""

    @property
    def pulled(self) -> bool:
        """Capture is pulled right before each read (the mic ring's wait is its slack alone)."""

    @property
    def pushed(self) -> bool:
        """Playback is pushed by the clock thread (no speaker ring)."""

    def open(self, din: dev.Device | None, dout: dev.Device | None, with_call: bool) -> None:
        """Open playback (and capture when ``with_call``) on these devices (None: default); a stream that
        cannot open is reported through the notice callback and left closed."""

    def close(self) -> None:
        """Close the call streams (idempotent)."""

    def healthy(self) -> bool:
        """Every open stream says it is still running."""

    def out_stuck(self) -> bool:
        """Playback is fed but the device has stopped taking audio."""

    def arm(self) -> None:
        """The streams' start-up is over: underruns from now on count."""

    def tick(self) -> None:
        """Housekeeping twice a second on the device worker (latency samples, drift hints)."""

    def speaker_underruns(self, arming: bool) -> tuple[int, int]:
        """(after arming, before it) for the speaker; ``arming``: the start-up period is not over yet."""

    def speaker_slack(self) -> int | None:
        """The speaker's own slack target in samples when it has no ring (None: the ring's)."""

    def device_latency_ms(self) -> dict[str, float | None]:
        """Mean device latency per direction ("mic", "speaker") in ms; None when not known."""

    def extra_stats(self) -> dict[str, Any]:
        """Backend figures for ``stats``: ``speaker_steer``, ``pa_input_overflows``, ``capture_dropped_ms``,
        ``pa_output_underflows``."""

    def open_ringer(self, device: dev.Device | None, fill: Callable[[Samples, int], None]) -> Any:
        """A started playback stream for the ringtone (``fill(x, frames)`` writes it); has ``abort``/``close``."""


def ring_ms(st: RingStats, pulled: bool = False) -> float:
    """Mean time a sample waits in a ring: the slack left at each read plus half a read (a read takes a block
    written over the interval before it). ``pulled``: the writer fills the ring right before each read (the
    wait for that lives in the device's buffer and is counted there), so the slack alone."""
    if st.reads == 0:
        return 0.0
    return round((st.mean_excess() + (0.0 if pulled else st.mean_read() / 2)) / RATE * 1000, 1)
