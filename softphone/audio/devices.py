"""Sound devices: listing, choice by name, opening PortAudio streams on them, and noticing changes.

Two backends behind one shape:

* **pulse** (Linux with PulseAudio or PipeWire's pulse server, via ``pulsectl``/libpulse): Debian's
  PortAudio has no native PulseAudio host API and only sees ALSA's ``pulse``/``default`` PCMs, so devices
  are listed from the sound server (sinks and sources, by their stable names and descriptions) and a
  stream is put on one by opening PortAudio's ``pulse`` PCM with ``PULSE_SINK``/``PULSE_SOURCE`` set for
  the duration of the open (libpulse reads them when the plugin creates its context). The server moves
  our streams to the default device when theirs disappears; the watcher notices and reports it.
* **portaudio** (Windows WASAPI, macOS Core Audio, Linux without a pulse server): PortAudio's own list.
  PortAudio only re-scans when re-initialised, which is unsafe with streams open, so there the list is
  refreshed only while no stream is open.

Names are what the config stores (``[audio] input_device = "alsa_input.usb-Jabra..."`` or a description
such as ``"Jabra Evolve2 65"``); :func:`find` matches the stable name, then the description, then a
case-insensitive substring of either, so an index never leaks into the config.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

Direction = Literal["input", "output"]
_ENV_LOCK = threading.Lock()


@dataclass(frozen=True)
class Device:
    name: str
    description: str
    direction: Direction
    default: bool = False
    backend: Literal["pulse", "portaudio"] = "portaudio"
    index: int | None = None       # PortAudio index (portaudio backend only)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "direction": self.direction,
                "default": self.default, "backend": self.backend}


def _sd() -> Any:
    import sounddevice

    return sounddevice


def _pulse_list() -> list[Device] | None:
    try:
        pulsectl = importlib.import_module("pulsectl")
    except ImportError:
        return None
    try:
        with pulsectl.Pulse("softphone-devices", connect=True) as p:
            info = p.server_info()
            out: list[Device] = []
            for s in p.sink_list():
                if s.name.endswith(".monitor"):
                    continue
                out.append(Device(s.name, s.description, "output", s.name == info.default_sink_name, "pulse"))
            for s in p.source_list():
                if s.monitor_of_sink != 0xFFFFFFFF or s.name.endswith(".monitor"):
                    continue
                out.append(Device(s.name, s.description, "input", s.name == info.default_source_name, "pulse"))
            return out
    except Exception as exc:  # no server, refused, libpulse missing
        log.debug("no pulse server: %s", exc)
        return None


def _portaudio_list(rescan: bool = False) -> list[Device]:
    sd = _sd()
    if rescan:
        with contextlib.suppress(Exception):
            sd._terminate()
            sd._initialize()
    out: list[Device] = []
    try:
        devs = sd.query_devices()
        d_in, d_out = sd.default.device
    except Exception as exc:
        log.warning("PortAudio cannot list devices: %s", exc)
        return out
    for i, d in enumerate(devs):
        name = str(d["name"])
        if d["max_input_channels"] > 0:
            out.append(Device(name, name, "input", i == d_in, "portaudio", i))
        if d["max_output_channels"] > 0:
            out.append(Device(name, name, "output", i == d_out, "portaudio", i))
    return out


PULSE_RETRY_S = 5.0


def _hw_signature() -> tuple[str, ...] | None:
    """What the kernel has as sound devices (Linux: /dev/snd nodes and the card list); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        nodes = sorted(os.listdir("/dev/snd"))
    except OSError:
        nodes = []                   # no sound hardware (a container, a server): nothing until it appears
    try:
        with open("/proc/asound/cards", encoding="utf-8", errors="replace") as f:
            cards = f.read()
    except OSError:
        cards = ""
    return (*nodes, cards)


def list_devices(rescan: bool = False) -> list[Device]:
    """Inputs and outputs the user can choose from (sound-server devices when there is one)."""
    pulse = _pulse_list()
    return pulse if pulse is not None else _portaudio_list(rescan)


def find(devices: list[Device], wanted: str | None, direction: Direction) -> Device | None:
    """The device the config names (None = the system default, also when the name is not present)."""
    if not wanted:
        return None
    cands = [d for d in devices if d.direction == direction]
    w = wanted.strip().lower()
    for key in (lambda d: d.name.lower() == w, lambda d: d.description.lower() == w,
                lambda d: w in d.name.lower() or w in d.description.lower()):
        for d in cands:
            if key(d):
                return d
    return None


def _portaudio_pulse_index(direction: Direction) -> int | None:
    sd = _sd()
    with contextlib.suppress(Exception):
        for i, d in enumerate(sd.query_devices()):
            ch = d["max_input_channels"] if direction == "input" else d["max_output_channels"]
            if d["name"] == "pulse" and ch > 0:
                return i
    return None


@contextlib.contextmanager
def _pulse_target(var: str, name: str | None) -> Iterator[None]:
    with _ENV_LOCK:
        old = os.environ.get(var)
        if name:
            os.environ[var] = name
        else:
            os.environ.pop(var, None)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = old


def open_stream(device: Device | None, direction: Direction, callback: Callable[..., None],
                rate: int = 16000, blocksize: int = 320, finished: Callable[[], None] | None = None,
                pulse: bool | None = None, latency: float | None = None) -> Any:
    """A started ``RawInputStream``/``RawOutputStream`` (int16 mono) on ``device`` (None: default).

    Separate input and output streams on purpose: a duplex stream stalls on the ALSA pulse plugin.
    PortAudio runs at the bridge rate and the sound server resamples. ``latency``: the device buffer to ask
    for in seconds (None: PortAudio's 'low').
    """
    sd = _sd()
    cls = sd.RawInputStream if direction == "input" else sd.RawOutputStream
    kw: dict[str, Any] = dict(samplerate=rate, channels=1, dtype="int16", blocksize=blocksize,
                              latency="low" if latency is None else latency, callback=callback)
    if finished is not None:
        kw["finished_callback"] = finished
    use_pulse = (device is not None and device.backend == "pulse") if pulse is None else pulse
    if use_pulse:
        idx = _portaudio_pulse_index(direction)
        if idx is not None:
            kw["device"] = idx
        var = "PULSE_SOURCE" if direction == "input" else "PULSE_SINK"
        with _pulse_target(var, device.name if device is not None else None):
            stream = cls(**kw)
    else:
        if device is not None and device.index is not None:
            kw["device"] = device.index
        stream = cls(**kw)
    stream.start()
    return stream


class PulseEvents:
    """The sound server's own change notifications (sinks/sources added or removed, default changed) on a
    thread that sleeps in libpulse until something happens: no polling while nothing changes.
    ``on_change()`` runs on that thread; keep it short. ``failed`` turns True if the subscription dies."""

    def __init__(self, pulse: Any, on_change: Callable[[], None]) -> None:
        self._p = pulse
        self._on_change = on_change
        self._stop = False
        self.failed = False
        self._thread = threading.Thread(target=self._run, name="audio-pulse-events", daemon=True)

    @classmethod
    def start(cls, on_change: Callable[[], None]) -> PulseEvents | None:
        try:
            pulsectl = importlib.import_module("pulsectl")
            p = pulsectl.Pulse("softphone-device-events", connect=True)
            p.event_mask_set("sink", "source", "server")
        except Exception as exc:
            log.debug("no pulse event subscription: %s", exc)
            return None
        ev = cls(p, on_change)
        p.event_callback_set(ev._event)
        ev._thread.start()
        return ev

    def _event(self, ev: Any) -> None:
        kind = ev.t   # pulsectl EnumValues compare equal to their names
        if kind in ("new", "remove") or (ev.facility == "server" and kind == "change"):
            with contextlib.suppress(Exception):
                self._on_change()

    def _run(self) -> None:
        try:
            while not self._stop:
                self._p.event_listen()
        except Exception as exc:
            if not self._stop:
                log.warning("sound-server events stopped (%s): polling the device list instead", exc)
                self.failed = True
                with contextlib.suppress(Exception):
                    self._on_change()

    def stop(self) -> None:
        self._stop = True
        for _ in range(50):
            with contextlib.suppress(Exception):
                self._p.event_listen_stop()
            self._thread.join(0.1)
            if not self._thread.is_alive():
                break
        with contextlib.suppress(Exception):
            self._p.close()


class DeviceWatcher:
    """Compares the device list with the last one each time :meth:`poll` is called (cheap with a sound server:
    one libpulse round trip) and calls ``on_change(added, removed, now)`` with lists of devices when it
    changed. It has no thread of its own: the bridge's device worker polls it."""

    def __init__(self, on_change: Callable[[list[Device], list[Device], list[Device]], None],
                 can_rescan: Callable[[], bool] = lambda: False) -> None:
        self._on_change = on_change
        self._can_rescan = can_rescan
        self._pulse_retry_at = 0.0
        self._hw_sig: tuple[str, ...] | None = None
        self._scanned = False
        self._scan_at = 0.0
        self.devices: list[Device] = self._probe()

    def poll(self) -> None:
        now = self._probe()
        before = {(d.name, d.direction) for d in self.devices}
        after = {(d.name, d.direction) for d in now}
        added = [d for d in now if (d.name, d.direction) not in before]
        removed = [d for d in self.devices if (d.name, d.direction) not in after]
        self.devices = now
        if added or removed:
            try:
                self._on_change(added, removed, now)
            except Exception:
                log.exception("device change handler")

    def _probe(self) -> list[Device]:
        """The current list. Without a sound server, PortAudio re-scans ALSA (a costly scan, too costly for
        once a second) only when the kernel's sound devices changed, and the server is looked for
        again every ``PULSE_RETRY_S``."""
        t = time.monotonic()
        if t >= self._pulse_retry_at:
            pulse = _pulse_list()
            if pulse is not None:
                self._hw_sig = None
                return pulse
            self._pulse_retry_at = t + PULSE_RETRY_S
        sig = _hw_signature()
        if sig is not None and sig == self._hw_sig:
            return self.devices
        if sig is None and self._scanned and t < self._scan_at:
            return self.devices              # nothing to watch (no /dev/snd): re-scan now and then only
        rescan = self._can_rescan()
        now = _portaudio_list(rescan=rescan)
        if rescan or not self._scanned:
            self._hw_sig = sig               # (a scan PortAudio could not redo yet is retried next time)
            self._scanned = True
            self._scan_at = t + PULSE_RETRY_S
        return now
