"""The pjsua2 ⇄ sounddevice bridge: :class:`SoundDeviceMedia` implements ``softphone.sip.media.MediaBridge``.

Our pjsua2 build has no sound devices, so the endpoint runs on the null device and two
``AudioMediaPort``s on its conference bridge carry the call audio: ``mic`` (a source: its
``onFrameRequested`` hands pjmedia 20 ms of microphone) and ``speaker`` (a sink: ``onFrameReceived``
gets 20 ms of the call). Between those callbacks (pjmedia's clock thread) and PortAudio's callbacks
(the device clocks) sit two :class:`~softphone.audio.ring.DriftRing`s.

Threads and what each may touch:

* pjsua2 thread (the ``MediaBridge`` methods): conference connections only; never blocks on devices.
* pjmedia clock thread (port callbacks): rings, echo canceller, level, recorder queue. No pjsua2 calls.
* PortAudio callbacks: rings and tone sources only. Never pjsua2.
* ``audio-devices`` thread: opens/closes streams, re-lists devices when the sound server reports a change
  (or polls, without one), runs the stall watchdog, tells the user (``on_notice``) when a device comes or
  goes. Never pjsua2.

Hot path (measured with ``bench/audio_call_cpu.py``; per 20 ms tick the clock thread makes two Python
callbacks and each PortAudio stream one): nothing is allocated per frame. The clock thread keeps its Python
thread state for the whole call (see :class:`_ThreadPin`), the rings copy straight into the frame's own
storage, the microphone level is computed only when someone asks for it, and the PortAudio callbacks work
on numpy views of PortAudio's buffers.

Streams are open only while a call has media or a local sound plays; the ringer has its own stream on its
own device. Mute disconnects the microphone from the call on the conference bridge (nothing reaches RTP).

On the ``pulse`` backend the call streams are libpulse streams (:mod:`softphone.audio.pulse`) driven by
pjmedia's clock thread alone: it pulls the captured audio right before each microphone frame and pushes
each speaker frame straight into the server's playback queue, which :class:`~softphone.audio.steer.QueueSteer`
holds at 24 ms (no speaker ring, no Python on libpulse's thread). Local sounds without a call (ringback
before media) play through a stream the server asks for audio on. Other backends use PortAudio callbacks
and the two rings. ``stats()`` reports per direction the ring wait (``bridge_ms``), the device side
(``device_ms``), underruns after the first second of a stream (``underruns``; the first second is
``startup_underruns``) and the drift estimate.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from softphone.audio import devices as dev
from softphone.audio.processing import MicProcessor, make_processor
from softphone.audio.pulse import PulseStream
from softphone.audio.pulse import available as _direct_pulse_ok
from softphone.audio.quality import read_stream
from softphone.audio.recorder import CallRecorder, recording_path
from softphone.audio.ring import DriftRing, RingStats
from softphone.audio.tones import Sound, ToneSource, Wanted, desired_sounds, dtmf
from softphone.config import AudioConfig

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]
Notice = Callable[[str, str], None]          # (level "info"|"warning", message)

RATE = 16000
FRAME = 320                                   # 20 ms at 16 kHz
STALL_S = 1.0                                 # a stream whose callbacks stopped this long is reopened
WATCH_S = 0.5                                 # how often the watchdog looks while streams are open
WARMUP_S = 1.0                                # underruns this soon after streams open are counted apart
FIRST_S = 4.0                                 # ... or that never called back this long after opening


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
        ms = RATE // 1000
        if pulled:
            return DriftRing(FRAME, target=int(self.pulse_mic_target_ms * ms), low=int(self.pulse_mic_low_ms * ms),
                             high=int(self.pulse_mic_high_ms * ms), decay_windows=self.ring_decay_windows)
        return DriftRing(FRAME, target=int(self.ring_target_ms * ms), low=int(self.ring_low_ms * ms),
                         high=int(self.ring_high_ms * ms), decay_windows=self.ring_decay_windows)


# -- fast ByteVector access -----------------------------------------------------------------------------
# ``bytes(frame.buf)`` walks a std::vector<unsigned char> element by element through SWIG (~0.5-1 ms per
# frame, on the clock thread, holding the GIL). The vector's first two words are its begin/end pointers
# (libstdc++, libc++ and MSVC release builds alike); read them and copy the storage in one go. Verified at
# first use against the slow path, which stays the fallback.

_VEC_OK: bool | None = None


def _vec_span(vec: Any) -> tuple[int, int]:
    addr = int(vec.this)
    begin = ctypes.c_void_p.from_address(addr).value or 0
    end = ctypes.c_void_p.from_address(addr + ctypes.sizeof(ctypes.c_void_p)).value or 0
    return begin, end - begin


def _vec_selftest(pj: Any) -> bool:
    try:
        probe = bytes(range(256)) * 3
        v = pj.ByteVector(probe)
        begin, n = _vec_span(v)
        if n != len(probe) or ctypes.string_at(begin, n) != probe:
            return False
        ctypes.memmove(begin, b"\x07" * n, n)
        return bool(v[0] == 7 and v[n - 1] == 7)
    except Exception:
        return False


def read_vector(vec: Any) -> bytes:
    if _VEC_OK:
        begin, n = _vec_span(vec)
        return ctypes.string_at(begin, n) if n > 0 else b""
    return bytes(vec)


_FRAME_BYTES = ctypes.c_char * (FRAME * 2)


_last_view: tuple[int, Samples | None] = (0, None)


def vector_samples(vec: Any) -> Samples | None:
    """A zero-copy int16 view of a ByteVector holding one frame (None if it does not hold exactly one).
    Valid only while the vector lives and is not resized. pjsua2 usually hands each callback a frame at the
    same address: the view made for it last time is reused (a view is only an address and a length)."""
    global _last_view  # noqa: PLW0603 - one-entry cache, clock thread only
    begin, n = _vec_span(vec)
    if n != FRAME * 2 or not begin:
        return None
    addr, view = _last_view
    if addr != begin or view is None:
        view = np.frombuffer(memoryview(_FRAME_BYTES.from_address(begin)), dtype=np.int16)
        _last_view = (begin, view)
    return view


class _ThreadPin:
    """Keeps the Python thread state of a foreign thread (pjmedia's clock thread) alive between callbacks.

    SWIG directors enter Python with ``PyGILState_Ensure`` and leave with ``PyGILState_Release``; on a thread
    Python did not create, that builds and tears down a whole thread state each time, including an
    mmap/munmap of its frame stack: measured at 14 % of the clock thread's CPU. One extra ``Ensure`` from
    inside a callback keeps the state for the thread's life; :meth:`release` gives it back from that thread
    (the next callback there) so that no state outlives the call's clock thread.

    The pinned state is recognised by its address, never by the thread's id: pjsua closes the null sound
    device when idle and the next call's clock thread is a new thread that often gets the old one's id.
    Releasing on such a thread would release *its* fresh state, which is then gone when SWIG releases it
    too (a fatal error). A state pinned on a thread that has since died cannot be released; it is left
    alone (a few KB) and the new thread is pinned.
    """

    def __init__(self) -> None:
        self._ensure: Any = None
        self._release: Any = None
        self._current: Any = None
        with contextlib.suppress(Exception):
            api = ctypes.pythonapi
            api.PyGILState_Ensure.restype = ctypes.c_int
            api.PyGILState_Release.argtypes = [ctypes.c_int]
            api.PyGILState_GetThisThreadState.restype = ctypes.c_void_p
            self._current = api.PyGILState_GetThisThreadState
            self._release = api.PyGILState_Release
            self._ensure = api.PyGILState_Ensure
        self._held: tuple[int, int] | None = None     # (address of the pinned thread state, gilstate token)
        self.pinned = 0                                # threads pinned so far (for tests/diagnostics)
        self._unpin = False
        self._done = threading.Event()

    def enter(self) -> None:
        """Call at the top of every callback on the foreign thread."""
        if self._ensure is None:
            return
        held = self._held
        cur = self._current()
        if self._unpin:
            if held is not None and held[0] == cur:
                self._held = None
                self._release(held[1])     # back to SWIG's own count: its Release frees the state as usual
                self._done.set()
            return
        if held is None or held[0] != cur:
            self._held = (cur, self._ensure())
            self.pinned += 1

    def release(self, timeout: float = 0.1) -> bool:
        """From another thread while callbacks still run: unpin at the next callback. True when done."""
        if self._held is None:
            return True
        self._done.clear()
        self._unpin = True
        ok = self._done.wait(timeout)
        self._unpin = False
        return ok


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
        self._pin = _ThreadPin()          # pjmedia's clock thread keeps its Python thread state during calls
        self._calls: dict[str, _Call] = {}
        self._lock = threading.RLock()
        self._pj: Any = None
        self._mic_port: Any = None
        self._spk_port: Any = None
        self._proc: MicProcessor | None = None
        self.processing = "off"
        self._far: Samples = np.zeros(FRAME, dtype=np.int16)   # last frame of the call (for AEC/recording)
        self._mic_frame: Samples | None = None                  # last frame sent (for the level, on demand)
        self._recorder: CallRecorder | None = None
        self.pa_input_overflows = 0
        self.pa_output_underflows = 0
        self._in_n = 0                      # callbacks so far (the watchdog compares them)
        self._out_n = 0
        self._lat = [0.0, 0, 0.0, 0]        # device latency: sum/count input, sum/count output (s)
        self._seen = (-1, -1, 0.0)          # watchdog: counts at the last check and when they last moved
        self._opened_at = 0.0
        self._in_pull: PulseStream | None = None   # direct libpulse capture, pulled by the clock thread
        self._push_out: PulseStream | None = None  # direct libpulse playback, pushed by the clock thread
        self._push_uf0 = 0                         # its underflows before the rings were armed
        self._told_underruns = (0, 0)
        self._mixbuf = np.zeros(FRAME, dtype=np.int16)
        self._pull_n = 0
        self._arm_at = 0.0
        self._pair_has_call = False
        self._last_rescue = 0.0
        # local sounds
        self._call_sound: ToneSource | None = None
        self._oneshots: list[ToneSource] = []
        self._ring_sound: ToneSource | None = None
        self._wanted = Wanted()
        # device thread state
        self._cmd: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running = False
        self._in_stream: Any = None
        self._out_stream: Any = None
        self._ring_stream: Any = None
        self.input_device: dev.Device | None = None   # what the open streams use (None: default)
        self.output_device: dev.Device | None = None
        self.ringer_device: dev.Device | None = None
        self._watcher: dev.DeviceWatcher | None = None
        self._pulse = False
        self._told_missing: set[str] = set()
        self._pending_mute: dict[str, bool] = {}
        self._final: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ MediaBridge (pjsua2 thread)

    def start(self, endpoint: Any) -> None:
        global _VEC_OK  # noqa: PLW0603 - one self-test per process
        import pjsua2 as pj

        self._pj = pj
        if _VEC_OK is None:
            _VEC_OK = _vec_selftest(pj)
            log.info("ByteVector fast path: %s", "on" if _VEC_OK else "off (slow copy)")
        self._proc, self.processing = make_processor(self.config.echo_cancellation,
                                                     self.config.noise_suppression, RATE)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, FRAME * 1_000_000 // RATE, 16)
        self._mic_port = _make_mic_port(pj, self)
        self._mic_port.createPort("sp-mic", fmt)
        self._spk_port = _make_speaker_port(pj, self)
        self._spk_port.createPort("sp-speaker", fmt)
        self._start_devices()

    def call_media_active(self, call_id: str, audio_media: Any) -> None:
        with self._lock:
            first = not self._calls
            c = self._calls.get(call_id)
            if c is None:
                c = self._calls[call_id] = _Call(audio_media, started=time.time())
            else:
                c.audio_media = audio_media
            if first:
                self.cap.clear(armed=False)      # armed by the watchdog once the streams have warmed up
                self.play.clear(armed=False)
                self._arm_at = time.monotonic() + WARMUP_S
                self.cap.reset_stats()
                self.play.reset_stats()
                if self._proc is not None:
                    self._proc.reset()
            if self.config.record_calls and c.recorder is None:
                self._start_recording(call_id, c)
            c.muted = self._pending_mute.pop(call_id, c.muted)
        audio_media.startTransmit(self._spk_port)
        if not c.muted:
            self._mic_port.startTransmit(audio_media)
        self._cmd.put("sync")

    def call_media_inactive(self, call_id: str) -> None:
        with self._lock:
            if call_id in self._calls:
                self._final[call_id] = self.stats(call_id)   # kept for the history row after the call
                while len(self._final) > 20:
                    self._final.pop(next(iter(self._final)))
            c = self._calls.pop(call_id, None)
            last = not self._calls
        if c is not None:
            if last:
                self._pin.release()     # while the ports still get callbacks on the clock thread
            self._disconnect(c)
            self._stop_recording(c)
        self._cmd.put("sync")

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
        self._stop_devices()
        with self._lock:
            calls = list(self._calls.values())
            self._calls.clear()
        if calls:
            self._pin.release()
        for c in calls:
            self._disconnect(c)
            self._stop_recording(c)
        # AudioMediaPort destructors remove the conference ports: must happen before libDestroy
        self._mic_port = None
        self._spk_port = None

    # ------------------------------------------------------------------ extras for the engine/UI

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
        """Play what the call states call for (ringtone/ringback/call-waiting). Any thread."""
        self.set_sounds(desired_sounds(states))

    def set_sounds(self, wanted: Wanted) -> None:
        with self._lock:
            if wanted == self._wanted:
                return
            old, self._wanted = self._wanted, wanted
            if wanted.call_sound != old.call_sound:
                self._call_sound = ToneSource.of(wanted.call_sound) if wanted.call_sound else None
            if wanted.ringer != old.ringer:
                self._ring_sound = ToneSource.of(Sound.RINGTONE) if wanted.ringer else None
        self._cmd.put("sync")

    def play_dtmf(self, digits: str) -> None:
        """Local feedback for keypad presses, on the call device."""
        with self._lock:
            for d in digits:
                with contextlib.suppress(KeyError):
                    self._oneshots.append(ToneSource(dtmf(d), loop=False))
        self._cmd.put("sync")

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
        self._cmd.put("reopen")

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
        """Mean device latency of the open streams: capture → our ring, our ring → playback (what PortAudio
        or the sound server reports; for pushed playback the queue ahead of each frame plus half a frame)."""
        si, ni, so, no = self._lat
        # (a pulled capture's reading, taken at any moment between two pulls, already holds the mean wait in
        # libpulse: its latency counts what is captured but not pulled yet)
        mic = si / ni * 1000 if ni else None
        spk = so / no * 1000 if no else None
        push = self._push_out
        if push is not None and push.steer is not None and push.steer.stats.measured:
            # the queue ahead of each pushed frame, plus half the frame (its samples wait 0-20 ms more)
            spk = (push.steer.stats.mean_latency() + FRAME / 2) / RATE * 1000
        return {"mic": round(mic, 1) if mic is not None else None,
                "speaker": round(spk, 1) if spk is not None else None}

    def bridge_stats(self) -> dict[str, Any]:
        c, p = self.cap.stats, self.play.stats
        spk_under, spk_startup = self._speaker_underruns()
        push = self._push_out
        return {
            "input_device": self.input_device.description if self.input_device else "default",
            "output_device": self.output_device.description if self.output_device else "default",
            "processing": self.processing,
            "underruns": {"mic": c.underruns, "speaker": spk_under},
            "startup_underruns": {"mic": c.unarmed_underruns, "speaker": spk_startup},
            "overflows": {"mic": c.overflows, "speaker": p.overflows},
            "drift_ppm": {"mic": round(self.cap.rate * 1e6), "speaker": round(self.play.rate * 1e6)},
            "bridge_ms": {"mic": _ring_ms(c, self._pull_n > 0), "speaker": 0.0 if push else _ring_ms(p)},
            "device_ms": self.device_latency_ms(),
            "slack_ms": {"mic": round(self.cap.target / RATE * 1000, 1),
                         "speaker": round((push.steer.target if push and push.steer else self.play.target)
                                          / RATE * 1000, 1)},
            "speaker_steer": ({"inserted": push.steer.stats.inserted, "removed": push.steer.stats.removed,
                               "skipped_frames": push.steer.stats.skipped}
                              if push is not None and push.steer is not None else None),
            "pa_input_overflows": self.pa_input_overflows + (self._in_pull.overflows if self._in_pull else 0),
            "capture_dropped_ms": round((self._in_pull.dropped if self._in_pull else 0) / RATE * 1000, 1),
            "pa_output_underflows": self.pa_output_underflows,
            "mic_level_dbfs": round(self.mic_level_dbfs, 1),
        }

    # ------------------------------------------------------------------ internals

    def _speaker_underruns(self) -> tuple[int, int]:
        """(after arming, before it): the ring's, or with pushed playback the server's own underflows."""
        push = self._push_out
        if push is None:
            return self.play.stats.underruns, self.play.stats.unarmed_underruns
        if self._arm_at:
            return 0, push.underflows
        return push.underflows - self._push_uf0, self._push_uf0

    def _bridge_ms(self) -> float:
        dev_ms = self.device_latency_ms()
        return (_ring_ms(self.cap.stats, self._pull_n > 0) + (0.0 if self._push_out else _ring_ms(self.play.stats))
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
        ins = self._in_pull
        if ins is not None:
            got = ins.pull(self.cap.write)
            if got:
                self._in_n += 1
                self._pull_n += 1
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
        out = self._push_out
        if out is None:
            self.play.write(x)
            return
        self._out_n += 1
        if self._call_sound is not None or self._oneshots:
            buf = self._mixbuf
            buf[:] = x
            self._mix_local(buf, FRAME)
            x = buf
        out.push(x)

    # -- PortAudio callbacks --

    def _in_cb(self, indata: Any, frames: int, t: Any, status: Any) -> None:
        n = self._in_n = self._in_n + 1
        if status and status.input_overflow:
            self.pa_input_overflows += 1
        if n % 25 == 0:
            lat = t.currentTime - t.inputBufferAdcTime
            if 0 < lat < 1:
                self._lat[0] += lat
                self._lat[1] += 1
        self.cap.write(indata)

    def _out_cb(self, outdata: Any, frames: int, t: Any, status: Any) -> None:
        n = self._out_n = self._out_n + 1
        if status and status.output_underflow:
            self.pa_output_underflows += 1
        if n % 25 == 0:
            lat = t.outputBufferDacTime - t.currentTime
            if 0 < lat < 1:
                self._lat[2] += lat
                self._lat[3] += 1
        self._fill_out(np.frombuffer(outdata, dtype=np.int16), frames)

    def _pulse_out_cb(self, x: Samples) -> None:
        self._out_n += 1
        self._fill_out(x, len(x))

    def _fill_out(self, x: Samples, frames: int) -> None:
        if self._calls:
            self.play.read_into(x)
        else:
            x[:] = 0
        self._mix_local(x, frames)

    def _mix_local(self, x: Samples, frames: int) -> None:
        """Adds the local sounds (ringback, call-waiting beep, keypad tones) to what the speaker plays."""
        snd = self._call_sound
        if snd is not None or self._oneshots:
            acc = x.astype(np.int32)
            if snd is not None:
                acc += snd.next(frames)
            if self._oneshots:
                shot = self._oneshots[0]
                acc += shot.next(frames)
                if shot.done:
                    with contextlib.suppress(IndexError, ValueError):
                        self._oneshots.remove(shot)
            np.clip(acc, -32768, 32767, out=acc)
            x[:] = acc

    def _ring_cb(self, outdata: Any, frames: int, t: Any, status: Any) -> None:
        snd = self._ring_sound
        x = np.frombuffer(outdata, dtype=np.int16)
        if snd is not None:
            x[:] = snd.next(frames)
        else:
            x[:] = 0

    # -- device thread --

    def _start_devices(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._device_loop, name="audio-devices", daemon=True)
        self._thread.start()

    def _stop_devices(self) -> None:
        self._running = False
        self._cmd.put("quit")
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _device_loop(self) -> None:
        changed = threading.Event()

        def on_change() -> None:             # from the sound server's event thread
            changed.set()
            self._cmd.put("devices")

        self._watcher = dev.DeviceWatcher(self._devices_changed,
                                          can_rescan=lambda: self._out_stream is None and self._in_stream is None)
        self._pulse = any(d.backend == "pulse" for d in self._watcher.devices)
        events = dev.PulseEvents.start(on_change) if self._pulse else None
        if events is None and self._pulse:
            log.info("no sound-server events: polling the device list every %.1f s", self._poll_interval)
        next_poll = time.monotonic() + self._poll_interval
        while self._running:
            # Wake for commands; otherwise only as often as the watchdog (streams open) or polling needs.
            timeout: float | None = WATCH_S if self._out_stream is not None else None
            if events is None or events.failed:
                timeout = max(0.0, min(timeout or self._poll_interval, next_poll - time.monotonic()))
            try:
                cmd = self._cmd.get(timeout=timeout)
            except queue.Empty:
                cmd = ""
            if cmd == "quit":
                break
            try:
                if cmd == "reopen":
                    self._close_call_streams()
                    self._close_ringer()
                self._sync_streams()
                self._watchdog()
                if changed.is_set():
                    changed.clear()
                    time.sleep(0.05)          # a device comes as a sink and its monitor, or a card's pair
                    self._watcher.poll()
                elif (events is None or events.failed) and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self._poll_interval
                    self._watcher.poll()
            except Exception:
                log.exception("audio device thread")
        if events is not None:
            events.stop()
        self._close_call_streams()
        self._close_ringer()

    def _need_call_streams(self) -> bool:
        with self._lock:
            if self._oneshots and all(s.done for s in self._oneshots):
                self._oneshots.clear()
            return bool(self._calls) or self._call_sound is not None or bool(self._oneshots)

    def _sync_streams(self) -> None:
        if self._need_call_streams():
            if self._out_stream is None:
                self._open_call_streams()
            elif bool(self._calls) != self._pair_has_call:
                # the speaker was opened for a local sound (ringback) before the call had media: reopen the
                # pair so the microphone opens too; or the call ended while a local sound still plays: reopen
                # it on the server's schedule (pushed playback runs on pjmedia's clock, which stops with it)
                self._close_call_streams()
                self._open_call_streams()
        elif self._out_stream is not None:
            self._close_call_streams()
        if self._ring_sound is not None and self._ring_stream is None:
            self._open_ringer()
        elif self._ring_sound is None and self._ring_stream is not None:
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
        tu = self.tuning
        direct = self._pulse and tu.direct_pulse and _direct_pulse_ok()
        r = tu.ring(pulled=direct)
        self.cap.configure(r.target, r.low, r.high)
        # A pulled capture arrives in whatever the server has, not in device blocks: its count is a fine
        # clock, so trust the fit after a quarter frame of slip (~20 s at 250 ppm) instead of a whole block.
        self.cap.fit_gate = FRAME // 4 if direct else None
        self.cap.dip_hint = None
        # libpulse asks for playback audio on the server's schedule, including again after a rewind: its
        # request sizes are not a clock, so that ring steers on its level only
        self.play.estimate_drift = not direct
        # A stream's first second (the server sizing its buffers, the first callbacks in a burst) is counted
        # apart as start-up underruns; the watchdog arms the rings after WARMUP_S.
        self.cap.clear(armed=False)
        self.play.clear(armed=False)
        self._arm_at = time.monotonic() + WARMUP_S
        self._opened_at = time.monotonic()
        self._in_n = self._out_n = 0
        self._told_underruns = (0, 0)
        self._pair_has_call = bool(self._calls)
        self._seen = (0, 0, self._opened_at)
        self._lat = [0.0, 0, 0.0, 0]
        self._pull_n = 0
        try:
            if direct and tu.pulse_push and self._calls:
                out = PulseStream("output", None, device=dout.name if dout else None, rate=RATE, block=FRAME,
                                  latency_s=tu.pulse_push_tlength_ms / 1000,
                                  push_target_s=tu.pulse_push_target_ms / 1000)
                self._out_stream = self._push_out = out
            elif direct:
                self._out_stream = PulseStream("output", self._pulse_out_cb, device=dout.name if dout else None,
                                               rate=RATE, block=tu.pulse_out_block,
                                               latency_s=tu.pulse_out_latency_s)
            else:
                self._out_stream = dev.open_stream(dout, "output", self._out_cb, RATE, tu.out_block,
                                                   pulse=self._pulse, latency=tu.out_latency_s)
        except Exception as exc:
            self._out_stream = None
            self._notice("warning", f"Cannot open the speaker: {exc}")
        if self._calls:
            try:
                if direct:
                    # captured audio waits in libpulse until the clock thread pulls it, right before it needs a
                    # frame: no callback per server chunk, no extra hop
                    ins = PulseStream("input", None, device=din.name if din else None, rate=RATE, block=FRAME,
                                      latency_s=0.0, pull=True)
                    self._in_stream = ins
                    self._in_pull = ins
                else:
                    self._in_stream = dev.open_stream(din, "input", self._in_cb, RATE, tu.in_block,
                                                      pulse=self._pulse, latency=tu.in_latency_s)
            except Exception as exc:
                self._in_stream = None
                self._notice("warning", f"Cannot open the microphone: {exc}")
        log.info("call audio on %s / %s (%s)", _label(din), _label(dout), "libpulse" if direct else "PortAudio")

    def _close_call_streams(self) -> None:
        self._in_pull = None
        self._push_out = None
        for s in (self._in_stream, self._out_stream):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.abort()
                    s.close()
        self._in_stream = self._out_stream = None

    def _open_ringer(self) -> None:
        self.ringer_device = self._choose(self.config.ringer_device, "output", "Ringer")
        try:
            self._ring_stream = dev.open_stream(self.ringer_device, "output", self._ring_cb, RATE, FRAME,
                                                pulse=self._pulse)
        except Exception as exc:
            self._ring_stream = None
            self._notice("warning", f"Cannot open the ringer: {exc}")

    def _close_ringer(self) -> None:
        if self._ring_stream is not None:
            with contextlib.suppress(Exception):
                self._ring_stream.abort()
                self._ring_stream.close()
            self._ring_stream = None

    def _watchdog(self) -> None:
        if self._out_stream is None:
            return
        if not self._arm_at:
            # each gap is logged with when it came (after the stream opened): the pattern tells a machine that
            # was busy for a moment from a device that drifts or a setting that is too tight
            now_u = (self.cap.stats.underruns, self._speaker_underruns()[0])
            if now_u != self._told_underruns and any(now_u):
                push = self._push_out
                spk_slack = push.steer.target if push is not None and push.steer else self.play.target
                log.info("audio underruns mic %d, speaker %d at %.1f s into the stream (slack ms mic %.1f, "
                         "speaker %.1f)", now_u[0], now_u[1], time.monotonic() - self._opened_at,
                         self.cap.target / RATE * 1000, spk_slack / RATE * 1000)
            self._told_underruns = now_u
        if not self.play.estimate_drift and self._in_pull is not None:
            # the same two clocks (pjmedia's and the sound server's), the other way round
            self.play.set_rate(-self.cap.rate)
        if self._arm_at and time.monotonic() >= self._arm_at:
            self._arm_at = 0.0
            with self._lock:
                if self._calls:
                    self.cap.armed = self.play.armed = True
            if self._push_out is not None:
                self._push_uf0 = self._push_out.underflows
        ins = self._in_pull
        if ins is not None and ins.max_chunk:
            self.cap.dip_hint = ins.max_chunk      # the server's delivery granularity, over the last half second
            ins.max_chunk = 0
        for i, s in ((0, self._in_stream), (2, self._out_stream)):
            if isinstance(s, PulseStream) and s.steer is None:
                lat = s.latency_s()
                if lat is not None:
                    self._lat[i] += max(0.0, lat)
                    self._lat[i + 1] += 1
        now = time.monotonic()
        n_in, n_out = self._in_n, self._out_n
        if self._push_out is not None and self._push_out.skip_run > 25:
            n_out = self._seen[1]           # pushing, but the server has not taken audio for half a second
        seen_in, seen_out, moved = self._seen
        if n_out != seen_out and (self._in_stream is None or n_in != seen_in):
            self._seen = (n_in, n_out, now)
            return
        if n_out != seen_out or n_in != seen_in:
            # one side moved: remember the counts but not the time (the other side may be the stalled one)
            self._seen = (n_in, n_out, moved)
        quiet = now - moved
        never = n_out == 0 or (self._in_stream is not None and n_in == 0)
        bad = quiet > (FIRST_S if never else STALL_S)
        bad = bad or not getattr(self._out_stream, "active", True)
        if self._in_stream is not None:
            bad = bad or not getattr(self._in_stream, "active", True)
        if bad and now - self._last_rescue > 5.0:
            self._last_rescue = now
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
        if lost and self._out_stream is not None:
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
            if self._out_stream is not None:
                self._close_call_streams()
                self._open_call_streams()


def _ring_ms(st: RingStats, pulled: bool = False) -> float:
    """Mean time a sample waits in a ring: the slack left at each read plus half a read (a read takes a block
    written over the interval before it). ``pulled``: the writer fills the ring right before each read (the
    wait for that lives in the device's buffer and is counted there), so the slack alone."""
    if st.reads == 0:
        return 0.0
    return round((st.mean_excess() + (0.0 if pulled else st.mean_read() / 2)) / RATE * 1000, 1)


def _label(d: dev.Device | None) -> str:
    return d.description if d is not None else "default"


def _make_mic_port(pj: Any, bridge: SoundDeviceMedia) -> Any:
    audio = pj.PJMEDIA_FRAME_TYPE_AUDIO
    nbytes = FRAME * 2
    pin = bridge._pin

    class MicPort(pj.AudioMediaPort):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._vec = pj.ByteVector(bytes(nbytes))
            # the ring writes straight into the vector's storage; the setter below copies it into the frame
            self._view = vector_samples(self._vec) if _VEC_OK else None
            self._spare = np.zeros(FRAME, dtype=np.int16)

        def onFrameRequested(self, frame: Any) -> None:
            pin.enter()
            try:
                view = self._view
                if view is not None:
                    bridge._on_mic_frame(view)
                    frame.buf = self._vec
                else:
                    bridge._on_mic_frame(self._spare)
                    frame.buf = pj.ByteVector(self._spare.tobytes())
                frame.size = nbytes
                frame.type = audio
            except Exception:
                log.exception("mic frame")

    return MicPort()


def _make_speaker_port(pj: Any, bridge: SoundDeviceMedia) -> Any:
    audio = pj.PJMEDIA_FRAME_TYPE_AUDIO
    pin = bridge._pin

    class SpeakerPort(pj.AudioMediaPort):  # type: ignore[misc]
        def onFrameReceived(self, frame: Any) -> None:
            pin.enter()
            try:
                if frame.type != audio:
                    bridge._on_speaker_frame(None)
                    return
                buf = frame.buf
                x = vector_samples(buf) if _VEC_OK else None
                if x is None:
                    data = read_vector(buf)
                    x = np.frombuffer(data, dtype=np.int16) if len(data) == FRAME * 2 else None
                bridge._on_speaker_frame(x)
            except Exception:
                log.exception("speaker frame")

    return SpeakerPort()
