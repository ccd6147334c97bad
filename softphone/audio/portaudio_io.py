"""Call audio on PortAudio streams (sounddevice): the device callbacks write the microphone ring and read the
speaker ring; pjmedia's clock thread works on the other ends. Used where there is no sound server to talk to
directly (Windows WASAPI, macOS Core Audio, bare ALSA) or when libpulse is unusable; on a PulseAudio machine
Debian's PortAudio reaches the server through ALSA's pulse plugin (``pulse=True``).

Separate input and output streams on purpose: a duplex stream stalls on the ALSA pulse plugin. PortAudio
callbacks never call pjsua2 and allocate nothing: they work on numpy views of PortAudio's buffers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from softphone.audio import devices as dev
from softphone.audio.callio import FRAME, RATE, Notice, Samples, Tuning
from softphone.audio.ring import DriftRing
from softphone.audio.sounds import LocalSounds

log = logging.getLogger(__name__)


def open_ringer(device: dev.Device | None, fill: Callable[[Samples, int], None], pulse: bool) -> Any:
    """A started PortAudio playback stream on ``device`` whose samples come from ``fill(x, frames)``."""

    def cb(outdata: Any, frames: int, t: Any, status: Any) -> None:
        fill(np.frombuffer(outdata, dtype=np.int16), frames)

    return dev.open_stream(device, "output", cb, RATE, FRAME, pulse=pulse)


class PortAudioIO:
    name = "PortAudio"

    def __init__(self, cap: DriftRing, play: DriftRing, sounds: LocalSounds, tuning: Tuning, notice: Notice,
                 *, pulse: bool = False) -> None:
        self.cap = cap
        self.play = play
        self.sounds = sounds
        self.tuning = tuning
        self._notice = notice
        self._pulse = pulse                # devices are sound-server devices (PortAudio's ALSA pulse PCM)
        self.call_live = False
        self.n_in = 0
        self.n_out = 0
        self.pull_mic: Callable[[], None] | None = None
        self.speaker: Callable[[Samples], None] = play.write
        self._in: Any = None
        self._out: Any = None
        self.input_overflows = 0
        self.output_underflows = 0
        self._lat = [0.0, 0, 0.0, 0]        # device latency: sum/count input, sum/count output (s)
        r = tuning.ring()
        cap.configure(r.target, r.low, r.high)
        cap.fit_gate = None
        play.estimate_drift = True

    @property
    def has_input(self) -> bool:
        return self._in is not None

    @property
    def has_output(self) -> bool:
        return self._out is not None

    pulled = False
    pushed = False

    def open(self, din: dev.Device | None, dout: dev.Device | None, with_call: bool) -> None:
        tu = self.tuning
        self.n_in = self.n_out = 0
        self._lat = [0.0, 0, 0.0, 0]
        try:
            self._out = dev.open_stream(dout, "output", self._out_cb, RATE, tu.out_block, pulse=self._pulse,
                                        latency=tu.out_latency_s)
        except Exception as exc:
            self._out = None
            self._notice("warning", f"Cannot open the speaker: {exc}")
        if with_call:
            try:
                self._in = dev.open_stream(din, "input", self._in_cb, RATE, tu.in_block, pulse=self._pulse,
                                           latency=tu.in_latency_s)
            except Exception as exc:
                self._in = None
                self._notice("warning", f"Cannot open the microphone: {exc}")

    def close(self) -> None:
        for s in (self._in, self._out):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.abort()
                    s.close()
        self._in = self._out = None

    def healthy(self) -> bool:
        return all(getattr(s, "active", True) for s in (self._in, self._out) if s is not None)

    def out_stuck(self) -> bool:
        return False

    def arm(self) -> None:
        return None

    def tick(self) -> None:
        return None

    def speaker_underruns(self, arming: bool) -> tuple[int, int]:
        st = self.play.stats
        return st.underruns, st.unarmed_underruns

    def speaker_slack(self) -> int | None:
        return None

    def device_latency_ms(self) -> dict[str, float | None]:
        si, ni, so, no = self._lat
        return {"mic": round(si / ni * 1000, 1) if ni else None,
                "speaker": round(so / no * 1000, 1) if no else None}

    def extra_stats(self) -> dict[str, Any]:
        return {"speaker_steer": None, "pa_input_overflows": self.input_overflows, "capture_dropped_ms": 0.0,
                "pa_output_underflows": self.output_underflows}

    def open_ringer(self, device: dev.Device | None, fill: Callable[[Samples, int], None]) -> Any:
        return open_ringer(device, fill, self._pulse)

    # -- PortAudio callbacks --

    def _in_cb(self, indata: Any, frames: int, t: Any, status: Any) -> None:
        n = self.n_in = self.n_in + 1
        if status and status.input_overflow:
            self.input_overflows += 1
        if n % 25 == 0:
            lat = t.currentTime - t.inputBufferAdcTime
            if 0 < lat < 1:
                self._lat[0] += lat
                self._lat[1] += 1
        self.cap.write(indata)

    def _out_cb(self, outdata: Any, frames: int, t: Any, status: Any) -> None:
        n = self.n_out = self.n_out + 1
        if status and status.output_underflow:
            self.output_underflows += 1
        if n % 25 == 0:
            lat = t.outputBufferDacTime - t.currentTime
            if 0 < lat < 1:
                self._lat[2] += lat
                self._lat[3] += 1
        x = np.frombuffer(outdata, dtype=np.int16)
        if self.call_live:
            self.play.read_into(x)
        else:
            x[:] = 0
        self.sounds.mix(x, frames)
