"""The device side of the call audio, on its own ``audio-devices`` worker (:class:`~softphone.worker.Worker`).

:class:`CallDevices` decides which streams are open and on which devices: the call pair while a call has media
or a local sound plays, the ringer while the ringtone rings. It re-lists devices when the sound server reports a
change (or polls, without one), moves the call to the default when its device goes and back when it returns,
and twice a second asks :class:`~softphone.audio.watchdog.StallWatchdog` whether the open streams are still
alive. The streams themselves belong to the :class:`~softphone.audio.callio.CallIO` picked when it starts.

Everything here runs on the worker except the small entry points (:meth:`CallDevices.changed`, ``reopen``,
``warm_up``...), which only queue work. It never calls pjsua2.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from softphone.audio import devices as dev
from softphone.audio.callio import RATE, CallIO, Notice, Samples, Tuning
from softphone.audio.portaudio_io import PortAudioIO
from softphone.audio.ring import DriftRing
from softphone.audio.sounds import LocalSounds
from softphone.audio.watchdog import StallWatchdog
from softphone.config import AudioConfig
from softphone.worker import Job, Worker

log = logging.getLogger(__name__)

STALL_S = 1.0                                 # a stream whose callbacks stopped this long is reopened
WATCH_S = 0.5                                 # how often the watchdog looks while streams are open
WARMUP_S = 1.0                                # underruns this soon after streams open are counted apart
FIRST_S = 4.0                                 # ... or that never called back this long after opening

OnIO = Callable[[Callable[[], None] | None, Callable[[Samples], None]], None]


class CallDevices:
    """``has_calls()``: a call has media now (any thread; under ``lock``, which also guards ``io.call_live``).
    ``on_io(pull_mic, speaker)``: the clock thread's entry points changed (streams opened or closed); called on
    the worker."""

    def __init__(self, config: AudioConfig, tuning: Tuning, cap: DriftRing, play: DriftRing, sounds: LocalSounds,
                 *, notice: Notice, lock: threading.RLock, has_calls: Callable[[], bool], on_io: OnIO,
                 on_devices: Callable[[list[dev.Device]], None] | None = None,
                 poll_interval_s: float = 1.0) -> None:
        self.config = config
        self.tuning = tuning
        self.cap = cap
        self.play = play
        self.sounds = sounds
        self._notice = notice
        self._lock = lock
        self._has_calls = has_calls
        self._on_io = on_io
        self._on_devices = on_devices
        self._poll_interval = poll_interval_s
        # until the worker has looked at what the machine offers (it may pick libpulse)
        self.io: CallIO = PortAudioIO(cap, play, sounds, tuning, notice)
        # it wakes for jobs and timers only, never to poll an idle queue
        self._worker = Worker("audio-devices", on_stop=self._close_all, idle_s=3600.0)
        self._watchdog = StallWatchdog(STALL_S, FIRST_S)
        self.arm_at = 0.0                  # when the start-up period of the streams ends (0: over)
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

    # ------------------------------------------------------------------ entry points (any thread)

    def start(self) -> None:
        self._worker.start()
        self._worker.submit(self._setup)

    def stop(self) -> None:
        self._worker.stop(10)

    def submit(self, job: Job) -> None:
        """Run ``job`` on the worker (work that must not delay the caller)."""
        self._worker.submit(job)

    def changed(self) -> None:
        """Calls or local sounds changed: open or close streams to match."""
        self._worker.submit(self._service)

    def reopen(self, config: AudioConfig) -> None:
        """New device choices: reopen the streams on them."""
        self.config = config
        self._told_missing.clear()
        self._worker.submit(self._reopen)

    def warm_up(self) -> None:
        """A call's media starts: underruns in the next second are start-up, not the call's."""
        self.arm_at = time.monotonic() + WARMUP_S

    def devices(self) -> list[dev.Device]:
        return list(self._watcher.devices) if self._watcher is not None else dev.list_devices()

    # ------------------------------------------------------------------ the worker

    def _setup(self) -> None:
        """First job: what the machine offers, and which CallIO carries calls on it."""
        self._watcher = dev.DeviceWatcher(self._devices_changed,
                                          can_rescan=lambda: not (self.io.has_output or self.io.has_input))
        self._pulse = any(d.backend == "pulse" for d in self._watcher.devices)
        io = self._pick_io()
        with self._lock:
            io.call_live = self._has_calls()
            self.io = io
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
        if self.io.has_output and not self._ticking:
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

    def _sync_streams(self) -> None:
        io = self.io
        calls = self._has_calls()
        if calls or self.sounds.need_call_device:
            if not io.has_output:
                self._open_call_streams()
            elif calls != self._pair_has_call:
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
        self.arm_at = now + WARMUP_S
        self._opened_at = now
        self._told_underruns = (0, 0)
        self._pair_has_call = self._has_calls()
        self._watchdog.opened(now)
        io = self.io
        io.open(din, dout, with_call=self._pair_has_call)
        self._on_io(io.pull_mic, io.speaker)
        log.info("call audio on %s / %s (%s)", _label(din), _label(dout), io.name)

    def _close_call_streams(self) -> None:
        io = self.io
        io.close()
        self._on_io(io.pull_mic, io.speaker)

    def _open_ringer(self) -> None:
        self.ringer_device = self._choose(self.config.ringer_device, "output", "Ringer")
        try:
            self._ring_stream = self.io.open_ringer(self.ringer_device, self.sounds.fill_ringer)
        except Exception as exc:
            self._ring_stream = None
            self._notice("warning", f"Cannot open the ringer: {exc}")

    def _close_ringer(self) -> None:
        s = self._ring_stream
        if s is not None:
            with contextlib.suppress(Exception):
                s.abort()
                s.close()
            self._ring_stream = None

    def _watch(self) -> None:
        io = self.io
        if not io.has_output:
            return
        now = time.monotonic()
        if not self.arm_at:
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
        if self.arm_at and now >= self.arm_at:
            self.arm_at = 0.0
            if self._has_calls():
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
        if lost and self.io.has_output:
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
            if self.io.has_output:
                self._close_call_streams()
                self._open_call_streams()


def _label(d: dev.Device | None) -> str:
    return d.description if d is not None else "default"
