"""The pjsua2 ⇄ sound-device bridge: :class:`SoundDeviceMedia` implements ``softphone.sip.media.MediaBridge``.

Two ``AudioMediaPort``s on pjsua's conference bridge (:mod:`softphone.audio.frames`) carry the call: the
``mic`` port's callback reads 20 ms from the microphone ring, the ``speaker`` port's hands 20 ms of the call
to the device side. Which device side is a :class:`~softphone.audio.callio.CallIO` picked once at start:
libpulse streams driven by pjmedia's clock thread (:mod:`softphone.audio.pulse_io`) where a PulseAudio or
PipeWire server answers, PortAudio callbacks and rings elsewhere (:mod:`softphone.audio.portaudio_io`).
Ringtone, ringback, the call-waiting beep and keypad tones come from :class:`~softphone.audio.sounds.
LocalSounds`; when to give up on a silent device is :class:`~softphone.audio.watchdog.StallWatchdog`'s call.

Threads and what each may touch:

* pjsua2 thread (the ``MediaBridge`` methods): conference connections only; never blocks on devices.
* pjmedia clock thread (port callbacks): rings, ``CallIO.pull_mic``/``speaker``, echo canceller, recorder
  queue. No pjsua2 calls. It keeps its Python thread state for the whole call
  (:class:`~softphone.audio.threadpin.ThreadPin`) and allocates nothing per frame.
* device callbacks (PortAudio, libpulse's mainloop): rings and local sounds only. Never pjsua2.
* the ``audio-devices`` worker (:class:`~softphone.audio.devicectl.CallDevices`): opens/closes streams,
  re-lists devices when the sound server reports a change (or polls, without one), runs the stall watchdog,
  tells the user (``on_notice``) when a device comes or goes. Never pjsua2.

Streams are open only while a call has media or a local sound plays; the ringer has its own stream on its
own device. Mute disconnects the microphone from the call on the conference bridge (nothing reaches RTP).
``stats()`` reports per direction the ring wait (``bridge_ms``), the device side (``device_ms``), underruns
after the first second of a stream (``underruns``; the first second is ``startup_underruns``) and the drift.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from softphone.audio import devices as dev
from softphone.audio import frames
from softphone.audio.callio import FRAME, RATE, Notice, Samples, Tuning, ring_ms
from softphone.audio.devicectl import CallDevices
from softphone.audio.processing import MicProcessor, make_processor
from softphone.audio.quality import read_stream
from softphone.audio.recorder import CallRecorder, recording_path
from softphone.audio.sounds import LocalSounds
from softphone.audio.threadpin import ThreadPin
from softphone.audio.tones import Wanted, desired_sounds
from softphone.config import AudioConfig

log = logging.getLogger(__name__)

__all__ = ["FRAME", "RATE", "SoundDeviceMedia", "Tuning"]


@dataclass
class _Call:
    audio_media: Any
    muted: bool = False
    recorder: CallRecorder | None = None
    recording_path: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0


class SoundDeviceMedia:
    """Real audio for calls. Construct with the ``[audio]`` config and the data dir; hand it to the SIP
    adapter as its ``media``. ``on_notice(level, message)`` is called from the ``audio-devices`` thread
    (marshal it to the runtime loop); ``on_devices(list)`` likewise when the device list changes."""

    def __init__(self, config: AudioConfig, data_dir: Path, *, on_notice: Notice | None = None,
                 on_devices: Callable[[list[dev.Device]], None] | None = None,
                 poll_interval_s: float = 1.0) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        notice = on_notice or (lambda level, msg: log.log(logging.WARNING if level != "info" else logging.INFO,
                                                          "%s", msg))
        self.tuning = Tuning.from_env()
        self.cap = self.tuning.ring()     # microphone → pjmedia
        self.play = self.tuning.ring()    # pjmedia → speaker
        self.sounds = LocalSounds(RATE)
        self._calls: dict[str, _Call] = {}
        self._lock = threading.RLock()
        self._devices = CallDevices(config, self.tuning, self.cap, self.play, self.sounds, notice=notice,
                                    lock=self._lock, has_calls=self._has_calls, on_io=self._set_io,
                                    on_devices=on_devices, poll_interval_s=poll_interval_s)
        self._pull: Callable[[], None] | None = None     # the clock thread's copies of CallIO.pull_mic/speaker
        self._speaker: Callable[[Samples], None] = self.play.write
        self._pin = ThreadPin()           # pjmedia's clock thread keeps its Python thread state during calls
        self._mic_port: Any = None
        self._spk_port: Any = None
        self._proc: MicProcessor | None = None
        self._proc_made = False
        self._proc_lock = threading.Lock()
        self.processing = "off"
        self._far: Samples = np.zeros(FRAME, dtype=np.int16)   # last frame of the call (for AEC/recording)
        self._mic_frame: Samples | None = None                  # last frame sent (for the level, on demand)
        self._recorder: CallRecorder | None = None
        self._pending_mute: dict[str, bool] = {}
        self._final: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ MediaBridge (pjsua2 thread)

    def start(self, endpoint: Any) -> None:
        import pjsua2 as pj

        frames.selftest(pj)
        if self.config.echo_cancellation or self.config.noise_suppression:
            self.processing = "starts with the first call"
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, FRAME * 1_000_000 // RATE, 16)
        self._mic_port = frames.make_mic_port(pj, self._pin, self._on_mic_frame)
        self._mic_port.createPort("sp-mic", fmt)
        self._spk_port = frames.make_speaker_port(pj, self._pin, self._on_speaker_frame)
        self._spk_port.createPort("sp-speaker", fmt)
        self._devices.start()

    def call_media_active(self, call_id: str, audio_media: Any) -> None:
        with self._lock:
            first = not self._calls
            c = self._calls.get(call_id)
            if c is None:
                c = self._calls[call_id] = _Call(audio_media, started=time.time())
            else:
                c.audio_media = audio_media
            self._devices.io.call_live = True
            if first:
                self.cap.clear(armed=False)      # armed by the watchdog once the streams have warmed up
                self.play.clear(armed=False)
                self._devices.warm_up()
                self.cap.reset_stats()
                self.play.reset_stats()
                self._ensure_processor()         # (made already when the call's first state came: see sync_calls)
                if self._proc is not None:
                    self._proc.reset()
            if self.config.record_calls and c.recorder is None:
                self._start_recording(call_id, c)
            c.muted = self._pending_mute.pop(call_id, c.muted)
        audio_media.startTransmit(self._spk_port)
        if not c.muted:
            self._mic_port.startTransmit(audio_media)
        self._devices.changed()

    def call_media_inactive(self, call_id: str) -> None:
        with self._lock:
            if call_id in self._calls:
                self._final[call_id] = self.stats(call_id)   # kept for the history row after the call
                while len(self._final) > 20:
                    self._final.pop(next(iter(self._final)))
            c = self._calls.pop(call_id, None)
            last = not self._calls
            self._devices.io.call_live = not last
        if c is not None:
            if last:
                self._pin.release()     # while the ports still get callbacks on the clock thread
            self._disconnect(c)
            self._stop_recording(c)
        self._devices.changed()

    def set_mute(self, call_id: str, muted: bool) -> None:
        with self._lock:
            c = self._calls.get(call_id)
            if c is None or c.muted == muted:
                if c is None:
                    self._pending_mute[call_id] = muted
                return
            c.muted = muted
        with contextlib.suppress(Exception):
            if muted:
                self._mic_port.stopTransmit(c.audio_media)
            else:
                self.cap.clear()
                self._mic_port.startTransmit(c.audio_media)

    def call_ended(self, call_id: str) -> None:
        self.call_media_inactive(call_id)
        self._pending_mute.pop(call_id, None)

    def stats(self, call_id: str) -> dict[str, Any]:
        with self._lock:
            c = self._calls.get(call_id)
            if c is None and call_id in self._final:
                return dict(self._final[call_id])
            out = self.bridge_stats()
            if c is not None:
                out["muted"] = c.muted
                out["recording"] = c.recorder is not None
                out["recording_path"] = c.recording_path
                if c.quality:
                    out["quality"] = dict(c.quality)
            return out

    def stop(self) -> None:
        self._devices.stop()
        with self._lock:
            calls = list(self._calls.values())
            self._calls.clear()
            self._devices.io.call_live = False
        if calls:
            self._pin.release()
        for c in calls:
            self._disconnect(c)
            self._stop_recording(c)
        # AudioMediaPort destructors remove the conference ports: must happen before libDestroy
        self._mic_port = None
        self._spk_port = None

    # ------------------------------------------------------------------ extras (MediaBridge, any thread)

    def record_quality(self, call_id: str, call: Any, med_idx: int) -> dict[str, Any]:
        """Read pjsua2 stream stats of a live call (pjsua2 thread) and keep them for ``stats``/history."""
        q = read_stream(call, med_idx, bridge_ms=self._bridge_ms())
        if q:
            with self._lock:
                c = self._calls.get(call_id)
                if c is not None:
                    c.quality = q
        return q

    def sync_calls(self, states: Iterable[str]) -> None:
        """Play what the call states call for (ringtone/ringback/call-waiting)."""
        states = list(states)
        if states and not self._proc_made:
            self._devices.submit(self._ensure_processor)     # ready long before the call has media
        self.set_sounds(desired_sounds(states))

    def set_sounds(self, wanted: Wanted) -> None:
        if self.sounds.want(wanted):
            self._devices.changed()

    def play_dtmf(self, digits: str) -> None:
        """Local feedback for keypad presses, on the call device."""
        self.sounds.add_dtmf(digits)
        self._devices.changed()

    def set_recording(self, call_id: str, on: bool) -> str | None:
        """Start/stop recording a call; returns the WAV path (for the history row)."""
        with self._lock:
            c = self._calls.get(call_id)
            if c is None:
                return None
            if on and c.recorder is None:
                self._start_recording(call_id, c)
            elif not on:
                self._stop_recording(c)
            return c.recording_path

    def reconfigure(self, config: AudioConfig) -> None:
        """New device choices from the settings page: reopen streams on them."""
        self.config = config
        self._devices.reopen(config)

    def devices(self) -> list[dev.Device]:
        return self._devices.devices()

    @property
    def input_device(self) -> dev.Device | None:
        """The microphone the open streams use (None: the default)."""
        return self._devices.input_device

    @property
    def output_device(self) -> dev.Device | None:
        return self._devices.output_device

    @property
    def mic_level_dbfs(self) -> float:
        """RMS level of the last microphone frame sent to the call (computed on demand, not per frame)."""
        x = self._mic_frame
        if x is None:
            return -120.0
        f = x.astype(np.float32)
        rms = float(np.sqrt(np.dot(f, f) / len(f)))
        return 20 * float(np.log10(rms / 32768)) if rms > 0 else -120.0

    def device_latency_ms(self) -> dict[str, float | None]:
        """Mean device latency of the open streams: capture → our ring, our ring → playback."""
        return self._devices.io.device_latency_ms()

    def bridge_stats(self) -> dict[str, Any]:
        io = self._devices.io
        c, p = self.cap.stats, self.play.stats
        spk_under, spk_startup = io.speaker_underruns(bool(self._devices.arm_at))
        spk_slack = io.speaker_slack()
        extra = io.extra_stats()
        return {
            "input_device": self.input_device.description if self.input_device else "default",
            "output_device": self.output_device.description if self.output_device else "default",
            "processing": self.processing,
            "underruns": {"mic": c.underruns, "speaker": spk_under},
            "startup_underruns": {"mic": c.unarmed_underruns, "speaker": spk_startup},
            "overflows": {"mic": c.overflows, "speaker": p.overflows},
            "drift_ppm": {"mic": round(self.cap.rate * 1e6), "speaker": round(self.play.rate * 1e6)},
            "bridge_ms": {"mic": ring_ms(c, io.pulled), "speaker": 0.0 if io.pushed else ring_ms(p)},
            "device_ms": io.device_latency_ms(),
            "slack_ms": {"mic": round(self.cap.target / RATE * 1000, 1),
                         "speaker": round((self.play.target if spk_slack is None else spk_slack) / RATE * 1000, 1)},
            "speaker_steer": extra["speaker_steer"],
            "pa_input_overflows": extra["pa_input_overflows"],
            "capture_dropped_ms": extra["capture_dropped_ms"],
            "pa_output_underflows": extra["pa_output_underflows"],
            "mic_level_dbfs": round(self.mic_level_dbfs, 1),
        }

    # ------------------------------------------------------------------ internals

    def _ensure_processor(self) -> None:
        """WebRTC AEC/NS is made when the first call comes, not at start: an engine that has not had a call yet
        does not hold the library and its state. Kept from then on."""
        with self._proc_lock:
            if self._proc_made:
                return
            self._proc_made = True
            self._proc, self.processing = make_processor(self.config.echo_cancellation,
                                                         self.config.noise_suppression, RATE)

    def _has_calls(self) -> bool:
        with self._lock:
            return bool(self._calls)

    def _set_io(self, pull: Callable[[], None] | None, speaker: Callable[[Samples], None]) -> None:
        """From the device worker when streams open or close: what the clock thread calls from now on."""
        self._pull, self._speaker = pull, speaker

    def _bridge_ms(self) -> float:
        io = self._devices.io
        dev_ms = io.device_latency_ms()
        return (ring_ms(self.cap.stats, io.pulled) + (0.0 if io.pushed else ring_ms(self.play.stats))
                + (dev_ms["mic"] or 0.0) + (dev_ms["speaker"] or 0.0))

    def _disconnect(self, c: _Call) -> None:
        with contextlib.suppress(Exception):
            self._mic_port.stopTransmit(c.audio_media)
        with contextlib.suppress(Exception):
            c.audio_media.stopTransmit(self._spk_port)

    def _start_recording(self, call_id: str, c: _Call) -> None:
        path = recording_path(self.data_dir, call_id)
        c.recorder = CallRecorder(path, RATE)
        c.recording_path = str(path)
        self._recorder = c.recorder

    def _stop_recording(self, c: _Call) -> None:
        rec, c.recorder = c.recorder, None
        if rec is not None:
            if self._recorder is rec:
                self._recorder = None
            rec.close()

    # -- clock thread (port callbacks) --

    def _on_mic_frame(self, out: Samples) -> None:
        """Fill ``out`` (the frame's own storage) with 20 ms of microphone."""
        pull = self._pull
        if pull is not None:
            pull()
        self.cap.read_into(out)
        proc = self._proc
        if proc is not None:
            out[:] = proc.process(out, self._far)
        rec = self._recorder
        if rec is not None:
            rec.add(out, self._far)
        self._mic_frame = out

    def _on_speaker_frame(self, x: Samples | None) -> None:
        """20 ms of the call (None: no audio this tick)."""
        if x is None:
            self._far[:] = 0
            x = self._far
        elif self._proc is not None or self._recorder is not None:
            self._far[:] = x
        self._speaker(x)
