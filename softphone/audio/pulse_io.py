"""Call audio straight on libpulse (:mod:`softphone.audio.pulse`), driven by pjmedia's clock thread.

During a call, the clock thread pulls the captured audio right before each microphone frame (no callback per
server chunk, no extra hop) and pushes each speaker frame straight into the server's playback queue, which
:class:`~softphone.audio.steer.QueueSteer` holds at its target: no speaker ring, no Python on libpulse's
thread. Local sounds without a call (ringback before media, keypad tones) play through a stream the server
asks for audio on, fed from the speaker ring. The ringtone stays on PortAudio (its own device, rarely open).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from softphone.audio import devices as dev
from softphone.audio.callio import FRAME, RATE, Notice, Samples, Tuning
from softphone.audio.portaudio_io import open_ringer
from softphone.audio.pulse import PulseStream
from softphone.audio.ring import DriftRing
from softphone.audio.sounds import LocalSounds

log = logging.getLogger(__name__)


class PulseIO:
    name = "libpulse"

    def __init__(self, cap: DriftRing, play: DriftRing, sounds: LocalSounds, tuning: Tuning,
                 notice: Notice) -> None:
        self.cap = cap
        self.play = play
        self.sounds = sounds
        self.tuning = tuning
        self._notice = notice
        self.call_live = False
        self.n_in = 0
        self.n_out = 0
        self.pull_mic: Callable[[], None] | None = None
        self.speaker: Callable[[Samples], None] = play.write
        self._in: PulseStream | None = None        # pulled by the clock thread
        self._out: PulseStream | None = None       # pushed by the clock thread, or asking for audio (no call)
        self._push: PulseStream | None = None
        self._push_uf0 = 0                          # the pushed stream's underflows before arming
        self.pull_n = 0                             # pulls that delivered audio
        self._lat = [0.0, 0, 0.0, 0]                # latency samples: sum/count input, sum/count output (s)
        self._mixbuf = np.zeros(FRAME, dtype=np.int16)
        self._cap_write = cap.write
        r = tuning.ring(pulled=True)
        cap.configure(r.target, r.low, r.high)
        # A pulled capture arrives in whatever the server has, not in device blocks: its count is a fine
        # clock, so trust the fit after a quarter frame of slip instead of a whole block.
        cap.fit_gate = FRAME // 4
        # libpulse asks for playback audio on the server's schedule, including again after a rewind: its
        # request sizes are not a clock, so that ring steers on its level only
        play.estimate_drift = False

    @property
    def has_input(self) -> bool:
        return self._in is not None

    @property
    def has_output(self) -> bool:
        return self._out is not None

    @property
    def pulled(self) -> bool:
        return self.pull_n > 0

    @property
    def pushed(self) -> bool:
        return self._push is not None

    def open(self, din: dev.Device | None, dout: dev.Device | None, with_call: bool) -> None:
        tu = self.tuning
        self.n_in = self.n_out = 0
        self.pull_n = 0
        self._lat = [0.0, 0, 0.0, 0]
        try:
            if tu.pulse_push and with_call:
                self._out = self._push = PulseStream(
                    "output", None, device=dout.name if dout else None, rate=RATE, block=FRAME,
                    latency_s=tu.pulse_push_tlength_ms / 1000, push_target_s=tu.pulse_push_target_ms / 1000)
            else:
                self._out = PulseStream("output", self._out_cb, device=dout.name if dout else None, rate=RATE,
                                        block=tu.pulse_out_block, latency_s=tu.pulse_out_latency_s)
        except Exception as exc:
            self._out = None
            self._notice("warning", f"Cannot open the speaker: {exc}")
        if with_call:
            try:
                self._in = PulseStream("input", None, device=din.name if din else None, rate=RATE, block=FRAME,
                                       latency_s=0.0, pull=True)
            except Exception as exc:
                self._in = None
                self._notice("warning", f"Cannot open the microphone: {exc}")
        self.pull_mic = self._pull if self._in is not None else None
        self.speaker = self._push_frame if self._push is not None else self.play.write

    def close(self) -> None:
        self.pull_mic = None
        self.speaker = self.play.write
        self._push = None
        for s in (self._in, self._out):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.abort()
                    s.close()
        self._in = self._out = None

    def healthy(self) -> bool:
        return all(s.active for s in (self._in, self._out) if s is not None)

    def out_stuck(self) -> bool:
        push = self._push
        return push is not None and push.skip_run > 25     # pushing, but not taken for half a second

    def arm(self) -> None:
        if self._push is not None:
            self._push_uf0 = self._push.underflows

    def tick(self) -> None:
        if self._in is not None:
            # the same two clocks (pjmedia's and the sound server's), the other way round
            self.play.set_rate(-self.cap.rate)
            if self._in.max_chunk:
                self.cap.dip_hint = self._in.max_chunk   # the server's delivery granularity, lately
                self._in.max_chunk = 0
        for i, s in ((0, self._in), (2, self._out)):
            if s is not None and s.steer is None:
                lat = s.latency_s()
                if lat is not None:
                    self._lat[i] += max(0.0, lat)
                    self._lat[i + 1] += 1

    def speaker_underruns(self, arming: bool) -> tuple[int, int]:
        push = self._push
        if push is None:
            return self.play.stats.underruns, self.play.stats.unarmed_underruns
        if arming:
            return 0, push.underflows
        return push.underflows - self._push_uf0, self._push_uf0

    def speaker_slack(self) -> int | None:
        push = self._push
        return push.steer.target if push is not None and push.steer is not None else None

    def device_latency_ms(self) -> dict[str, float | None]:
        si, ni, so, no = self._lat
        # (a pulled capture's reading, taken at any moment between two pulls, already holds the mean wait in
        # libpulse: its latency counts what is captured but not pulled yet)
        mic = si / ni * 1000 if ni else None
        spk = so / no * 1000 if no else None
        push = self._push
        if push is not None and push.steer is not None and push.steer.stats.measured:
            # the queue ahead of each pushed frame, plus half the frame (its samples wait 0-20 ms more)
            spk = (push.steer.stats.mean_latency() + FRAME / 2) / RATE * 1000
        return {"mic": round(mic, 1) if mic is not None else None,
                "speaker": round(spk, 1) if spk is not None else None}

    def extra_stats(self) -> dict[str, Any]:
        push, ins = self._push, self._in
        steer = push.steer if push is not None else None
        return {
            "speaker_steer": ({"inserted": steer.stats.inserted, "removed": steer.stats.removed,
                               "skipped_frames": steer.stats.skipped} if steer is not None else None),
            "pa_input_overflows": ins.overflows if ins is not None else 0,
            "capture_dropped_ms": round((ins.dropped if ins is not None else 0) / RATE * 1000, 1),
            "pa_output_underflows": 0,
        }

    def open_ringer(self, device: dev.Device | None, fill: Callable[[Samples, int], None]) -> Any:
        return open_ringer(device, fill, pulse=True)

    # -- pjmedia's clock thread --

    def _pull(self) -> None:
        ins = self._in
        if ins is not None and ins.pull(self._cap_write):
            self.n_in += 1
            self.pull_n += 1

    def _push_frame(self, x: Samples) -> None:
        out = self._push
        if out is None:               # closed between the clock thread's read of ``speaker`` and this call
            return
        self.n_out += 1
        snd = self.sounds
        if snd.call is not None or snd.oneshots:
            buf = self._mixbuf
            buf[:] = x
            snd.mix(buf, FRAME)
            x = buf
        out.push(x)

    # -- libpulse's mainloop thread (no call: local sounds) --

    def _out_cb(self, x: Samples) -> None:
        self.n_out += 1
        if self.call_live:
            self.play.read_into(x)
        else:
            x[:] = 0
        self.sounds.mix(x, len(x))
