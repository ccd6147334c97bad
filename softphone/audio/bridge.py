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
* the ``audio-devices`` worker (:class:`~softphone.worker.Worker`): opens/closes streams, re-lists devices
  when the sound server reports a change (or polls, without one), runs the stall watchdog, tells the user
  (``on_notice``) when a device comes or goes. Never pjsua2.

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
from softphone.audio.callio import FRAME, RATE, CallIO, Notice, Samples, Tuning, ring_ms
from softphone.audio.portaudio_io import PortAudioIO
from softphone.audio.processing import MicProcessor, make_processor
from softphone.audio.quality import read_stream
from softphone.audio.recorder import CallRecorder, recording_path
from softphone.audio.sounds import LocalSounds
from softphone.audio.threadpin import ThreadPin
from softphone.audio.tones import Wanted, desired_sounds
from softphone.audio.watchdog import StallWatchdog
from softphone.config import AudioConfig
from softphone.worker import Worker

log = logging.getLogger(__name__)

__all__ = ["FRAME", "RATE", "SoundDeviceMedia", "Tuning"]

STALL_S = 1.0                                 # a stream whose callbacks stopped this long is reopened
WATCH_S = 0.5                                 # how often the watchdog looks while streams are open
WARMUP_S = 1.0                                # underruns this soon after streams open are counted apart
FIRST_S = 4.0                                 # ... or that never called back this long after opening


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
        self._notice = on_notice or (lambda level, msg: log.log(logging.WARNING if level != "info"
                                                                 else logging.INFO, "%s", msg))
        self._on_devices = on_devices
        self._poll_interval = poll_interval_s
        self.tuning = Tuning.from_env()
        self.cap = self.tuning.ring()     # microphone → pjmedia
        self.play = self.tuning.ring()    # pjmedia → speaker
        self.sounds = LocalSounds(RATE)
        # until the device worker has looked at what the machine offers (it may pick libpulse)
        self._io: CallIO = PortAudioIO(self.cap, self.play, self.sounds, self.tuning, self._notice)
        self._pull: Callable[[], None] | None = None     # the clock thread's copies of _io.pull_mic/speaker
        self._speaker: Callable[[Samples], None] = self.play.write
        self._pin = ThreadPin()           # pjmedia's clock thread keeps its Python thread state during calls
        self._calls: dict[str, _Call] = {}
        self._lock = threading.RLock()
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
        # device worker state (touched on the worker only, except the reads in stats); it wakes for jobs and
        # timers only, never to poll an idle queue
        self._worker = Worker("audio-devices", on_stop=self._close_all, idle_s=3600.0)
        self._watchdog = StallWatchdog(STALL_S, FIRST_S)
        self._arm_at = 0.0
        self._opened_at = 0.0
        self._told_underruns = (0, 0)
        self._pair_has_call = False
        self._ticking = False
        self._polling = False
        self._changed = threading.Event()
        self._ring_stream: Any = None
        self.input_device: dev.Device | None = None   # what the open streams use (None: default)
        self.output_device: dev.Device | None = None
        self.ringer_device: dev.Device | None = None
        self._watcher: dev.DeviceWatcher | None = None
        self._events: dev.PulseEvents | None = None
        self._pulse = False
        self._told_missing: set[str] = set()

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
        self._worker.start()
        self._worker.submit(self._setup_devices)

    def call_media_active(self, call_id: str, audio_media: Any) -> None:
        with self._lock:
            first = not self._calls
            c = self._calls.get(call_id)
            if c is None:
                c = self._calls[call_id] = _Call(audio_media, started=time.time())
            else:
                c.audio_media = audio_media
            self._io.call_live = True
            if first:
                self.cap.clear(armed=False)      # armed by the watchdog once the streams have warmed up
                self.play.clear(armed=False)
                self._arm_at = time.monotonic() + WARMUP_S
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
        self._worker.submit(self._service)

    def call_media_inactive(self, call_id: str) -> None:
        with self._lock:
            if call_id in self._calls:
                self._final[call_id] = self.stats(call_id)   # kept for the history row after the call
                while len(self._final) > 20:
                    self._final.pop(next(iter(self._final)))
            c = self._calls.pop(call_id, None)
            last = not self._calls
            self._io.call_live = not last
        if c is not None:
            if last:
                self._pin.release()     # while the ports still get callbacks on the clock thread
            self._disconnect(c)
            self._stop_recording(c)
        self._worker.submit(self._service)

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
        self._worker.stop(10)
        with self._lock:
            calls = list(self._calls.values())
            self._calls.clear()
            self._io.call_live = False
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
            self._worker.submit(self._ensure_processor)     # ready long before the call has media
        self.set_sounds(desired_sounds(states))

    def set_sounds(self, wanted: Wanted) -> None:
        if self.sounds.want(wanted):
            self._worker.submit(self._service)

    def play_dtmf(self, digits: str) -> None:
        """Local feedback for keypad presses, on the call device."""
        self.sounds.add_dtmf(digits)
        self._worker.submit(self._service)

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
        self._told_missing.clear()
        self._worker.submit(self._reopen)

    def devices(self) -> list[dev.Device]:
        return list(self._watcher.devices) if self._watcher is not None else dev.list_devices()

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
        return self._io.device_latency_ms()

    def bridge_stats(self) -> dict[str, Any]:
        io = self._io
        c, p = self.cap.stats, self.play.stats
        spk_under, spk_startup = io.speaker_underruns(bool(self._arm_at))
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

    def _bridge_ms(self) -> float:
        io = self._io
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

    # -- the audio-devices worker --

    def _setup_devices(self) -> None:
        """First job on the worker: what the machine offers, and which CallIO carries calls on it."""
        self._watcher = dev.DeviceWatcher(self._devices_changed,
                                          can_rescan=lambda: not (self._io.has_output or self._io.has_input))
        self._pulse = any(d.backend == "pulse" for d in self._watcher.devices)
        io = self._pick_io()
        with self._lock:
            io.call_live = bool(self._calls)
            self._io = io
        self._events = dev.PulseEvents.start(self._on_server_event) if self._pulse else None
        if self._events is None:
            if self._pulse:
                log.info("no sound-server events: polling the device list every %.1f s", self._poll_interval)
            self._start_polling()
        self._service()

    def _pick_io(self) -> CallIO:
        if self._pulse and self.tuning.direct_pulse:
            from softphone.audio.pulse import available

            if available():
                from softphone.audio.pulse_io import PulseIO

                return PulseIO(self.cap, self.play, self.sounds, self.tuning, self._notice)
        return PortAudioIO(self.cap, self.play, self.sounds, self.tuning, self._notice, pulse=self._pulse)

    def _service(self) -> None:
        """After anything that may change what should be open: open/close streams, look at their health."""
        self._sync_streams()
        self._watch()
        if self._io.has_output and not self._ticking:
            self._ticking = True
            self._worker.later(WATCH_S, self._tick)

    def _tick(self) -> None:
        self._ticking = False
        self._service()

    def _reopen(self) -> None:
        self._close_call_streams()
        self._close_ringer()
        self._service()

    def _start_polling(self) -> None:
        if not self._polling:
            self._polling = True
            self._worker.later(self._poll_interval, self._poll)

    def _poll(self) -> None:
        if self._watcher is not None:
            self._watcher.poll()
        self._worker.later(self._poll_interval, self._poll)

    def _on_server_event(self) -> None:
        """From the sound server's event thread: a device came, went, or the default changed."""
        if not self._changed.is_set():
            self._changed.set()
            self._worker.submit(self._server_event)

    def _server_event(self) -> None:
        self._service()
        if self._changed.is_set():
            self._changed.clear()
            time.sleep(0.05)          # a device comes as a sink and its monitor, or a card's pair
            if self._watcher is not None:
                self._watcher.poll()
        if self._events is not None and self._events.failed:
            self._start_polling()

    def _close_all(self) -> None:
        """On the worker as it stops."""
        if self._events is not None:
            self._events.stop()
            self._events = None
        self._close_call_streams()
        self._close_ringer()

    def _need_call_streams(self) -> bool:
        with self._lock:
            if self._calls:
                return True
        return self.sounds.need_call_device

    def _sync_streams(self) -> None:
        io = self._io
        if self._need_call_streams():
            if not io.has_output:
                self._open_call_streams()
            elif bool(self._calls) != self._pair_has_call:
                # the speaker was opened for a local sound (ringback) before the call had media: reopen the
                # pair so the microphone opens too; or the call ended while a local sound still plays: reopen
                # it on the server's schedule (pushed playback runs on pjmedia's clock, which stops with it)
                self._close_call_streams()
                self._open_call_streams()
        elif io.has_output:
            self._close_call_streams()
        if self.sounds.ringing and self._ring_stream is None:
            self._open_ringer()
        elif not self.sounds.ringing and self._ring_stream is not None:
            self._close_ringer()

    def _choose(self, wanted: str | None, direction: dev.Direction, what: str) -> dev.Device | None:
        devices = self._watcher.devices if self._watcher else dev.list_devices()
        d = dev.find(devices, wanted, direction)
        if wanted and d is None and wanted not in self._told_missing:
            self._told_missing.add(wanted)
            self._notice("warning", f"{what} “{wanted}” is not connected; using the system default.")
        return d

    def _open_call_streams(self) -> None:
        self.output_device = self._choose(self.config.output_device, "output", "Speaker")
        self.input_device = self._choose(self.config.input_device, "input", "Microphone")
        self._open_pair(self.input_device, self.output_device)

    def _open_pair(self, din: dev.Device | None, dout: dev.Device | None) -> None:
        # A stream's first second (the server sizing its buffers, the first callbacks in a burst) is counted
        # apart as start-up underruns; the watchdog arms the rings after WARMUP_S.
        self.cap.dip_hint = None
        self.cap.clear(armed=False)
        self.play.clear(armed=False)
        now = time.monotonic()
        self._arm_at = now + WARMUP_S
        self._opened_at = now
        self._told_underruns = (0, 0)
        self._pair_has_call = bool(self._calls)
        self._watchdog.opened(now)
        io = self._io
        io.open(din, dout, with_call=self._pair_has_call)
        self._pull, self._speaker = io.pull_mic, io.speaker
        log.info("call audio on %s / %s (%s)", _label(din), _label(dout), io.name)

    def _close_call_streams(self) -> None:
        io = self._io
        io.close()
        self._pull, self._speaker = io.pull_mic, io.speaker

    def _open_ringer(self) -> None:
        self.ringer_device = self._choose(self.config.ringer_device, "output", "Ringer")
        try:
            self._ring_stream = self._io.open_ringer(self.ringer_device, self.sounds.fill_ringer)
        except Exception as exc:
            self._ring_stream = None
            self._notice("warning", f"Cannot open the ringer: {exc}")

    def _close_ringer(self) -> None:
        if self._ring_stream is not None:
            with contextlib.suppress(Exception):
                self._ring_stream.abort()
                self._ring_stream.close()
            self._ring_stream = None

    def _watch(self) -> None:
        io = self._io
        if not io.has_output:
            return
        now = time.monotonic()
        if not self._arm_at:
            # each gap is logged with when it came (after the stream opened): the pattern tells a machine that
            # was busy for a moment from a device that drifts or a setting that is too tight
            now_u = (self.cap.stats.underruns, io.speaker_underruns(False)[0])
            if now_u != self._told_underruns and any(now_u):
                spk_slack = io.speaker_slack()
                log.info("audio underruns mic %d, speaker %d at %.1f s into the stream (slack ms mic %.1f, "
                         "speaker %.1f)", now_u[0], now_u[1], now - self._opened_at,
                         self.cap.target / RATE * 1000,
                         (self.play.target if spk_slack is None else spk_slack) / RATE * 1000)
            self._told_underruns = now_u
        io.tick()
        if self._arm_at and now >= self._arm_at:
            self._arm_at = 0.0
            with self._lock:
                if self._calls:
                    self.cap.armed = self.play.armed = True
            io.arm()
        if self._watchdog.check(now, io.n_in, io.n_out, has_input=io.has_input, healthy=io.healthy(),
                                out_stuck=io.out_stuck()):
            self._notice("warning", "The audio device stopped responding; switching to the system default.")
            self._close_call_streams()
            self.input_device = self.output_device = None
            self._open_pair(None, None)

    def _devices_changed(self, added: list[dev.Device], removed: list[dev.Device],
                         now: list[dev.Device]) -> None:
        if self._on_devices is not None:
            with contextlib.suppress(Exception):
                self._on_devices(now)
        gone = {(d.name, d.direction) for d in removed}
        lost = [d for d in (self.input_device, self.output_device)
                if d is not None and (d.name, d.direction) in gone]
        if lost and self._io.has_output:
            names = " and ".join(f"“{d.description}”" for d in lost)
            self._notice("warning", f"{names} disconnected; the call continues on the system default device.")
            self._close_call_streams()
            din = None if self.input_device in lost else self.input_device
            dout = None if self.output_device in lost else self.output_device
            self.input_device, self.output_device = din, dout
            self._open_pair(din, dout)
        if self.ringer_device is not None and (self.ringer_device.name, "output") in gone:
            self._close_ringer()
        back = [d for d in added if (d.direction == "input" and self.input_device is None
                                     and dev.find([d], self.config.input_device, "input"))
                or (d.direction == "output" and self.output_device is None
                    and dev.find([d], self.config.output_device, "output"))]
        if back:
            self._told_missing.clear()
            self._notice("info", " and ".join(f"“{d.description}”" for d in back) + " connected.")
            if self._io.has_output:
                self._close_call_streams()
                self._open_call_streams()


def _label(d: dev.Device | None) -> str:
    return d.description if d is not None else "default"
