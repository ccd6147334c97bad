"""Device tools for the settings page and ``softphone doctor``; they need no SIP endpoint.

All of them block for at most the time asked for: call them from a worker thread (e.g.
``await asyncio.to_thread(play_test_tone, "Headset")``), never from the event loop or the pjsua2 thread.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import numpy as np

from softphone.audio import devices as dev
from softphone.audio.tones import Sound, ToneSource

RATE = 16000
FRAME = 320


def device_report() -> dict[str, Any]:
    """For ``softphone doctor``: backend and the devices the user can choose from (by name)."""
    try:
        devs = dev.list_devices(rescan=True)
    except Exception as exc:
        return {"ok": False, "error": f"cannot list sound devices: {exc}", "devices": []}
    backend = devs[0].backend if devs else "none"
    ok = any(d.direction == "input" for d in devs) and any(d.direction == "output" for d in devs)
    return {"ok": ok, "backend": backend, "devices": [d.to_json() for d in devs],
            "error": "" if ok else "no microphone or no speaker found"}


def _resolve(name: str | None, direction: dev.Direction) -> tuple[dev.Device | None, bool]:
    devs = dev.list_devices()
    pulse = any(d.backend == "pulse" for d in devs)
    return dev.find(devs, name, direction), pulse


class LevelMeter:
    """Live microphone level for the settings page: ``level_dbfs`` (RMS of the last 20 ms) and ``peak_dbfs``
    (held for a second). Use as a context manager or call ``close()``."""

    def __init__(self, input_device: str | None = None) -> None:
        self.level_dbfs = -120.0
        self.peak_dbfs = -120.0
        self._peak_at = 0.0
        d, pulse = _resolve(input_device, "input")
        self.device = d.description if d else "default"
        self._stream = dev.open_stream(d, "input", self._cb, RATE, FRAME, pulse=pulse)

    def _cb(self, indata: Any, frames: int, t: Any, status: Any) -> None:
        x = np.frombuffer(indata, dtype=np.int16).astype(np.float32)
        rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
        self.level_dbfs = 20 * float(np.log10(rms / 32768)) if rms > 0 else -120.0
        now = time.monotonic()
        if self.level_dbfs >= self.peak_dbfs or now - self._peak_at > 1.0:
            self.peak_dbfs, self._peak_at = self.level_dbfs, now

    def close(self) -> None:
        self._stream.abort()
        self._stream.close()

    def __enter__(self) -> LevelMeter:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _play(pcm: np.ndarray[Any, np.dtype[np.int16]], output_device: str | None) -> None:
    src = ToneSource(pcm, loop=False)
    done = threading.Event()

    def cb(outdata: Any, frames: int, t: Any, status: Any) -> None:
        outdata[:] = src.next(frames).tobytes()
        if src.done:
            done.set()

    d, pulse = _resolve(output_device, "output")
    s = dev.open_stream(d, "output", cb, RATE, FRAME, pulse=pulse)
    try:
        done.wait(len(pcm) / RATE + 2.0)
        time.sleep(0.1)
    finally:
        s.abort()
        s.close()


def play_test_tone(output_device: str | None = None) -> None:
    """A 1.5 s 440 Hz tone at -12 dBFS on a speaker or the ringer device."""
    _play(ToneSource.of(Sound.TEST).pcm, output_device)


def echo_test(input_device: str | None = None, output_device: str | None = None,
              seconds: float = 3.0) -> dict[str, float]:
    """Record ``seconds`` from the microphone, then play it back ("say something, hear yourself").
    Returns the recorded level so the page can say "we heard nothing" when it is silent."""
    chunks: list[bytes] = []

    def cb(indata: Any, frames: int, t: Any, status: Any) -> None:
        chunks.append(bytes(indata))

    d, pulse = _resolve(input_device, "input")
    s = dev.open_stream(d, "input", cb, RATE, FRAME, pulse=pulse)
    try:
        time.sleep(seconds)
    finally:
        s.abort()
        s.close()
    pcm = np.frombuffer(b"".join(chunks), dtype=np.int16)
    x = pcm.astype(np.float32)
    rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
    _play(pcm, output_device)
    return {"seconds": len(pcm) / RATE, "level_dbfs": 20 * float(np.log10(rms / 32768)) if rms > 0 else -120.0,
            "peak_dbfs": 20 * float(np.log10(max(1, int(np.abs(x).max(initial=0))) / 32768))}
