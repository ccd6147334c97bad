"""The two pjsua2 ``AudioMediaPort``s that carry call audio, and fast access to their frames.

Our pjsua2 build has no sound devices, so the endpoint runs on the null device and two ports on its
conference bridge carry the call: ``mic`` (a source: ``onFrameRequested`` hands pjmedia 20 ms of microphone)
and ``speaker`` (a sink: ``onFrameReceived`` gets 20 ms of the call). Both run on pjmedia's clock thread.

``bytes(frame.buf)`` walks a ``std::vector<unsigned char>`` element by element through SWIG, on the clock
thread, holding the GIL. The vector's first two words are its begin/end pointers (libstdc++, libc++ and MSVC
release builds alike): reading them gives the storage in one go. :func:`selftest` checks that layout against
the slow path once per process; the slow path stays the fallback.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from softphone.audio.threadpin import ThreadPin

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]
RATE = 16000
FRAME = 320                                   # 20 ms at 16 kHz

VEC_OK: bool | None = None                    # the fast path was checked (None: not yet)


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


def selftest(pj: Any) -> bool:
    """Check the fast path once per process (pjsua2 must be importable); the answer is kept in VEC_OK."""
    global VEC_OK  # noqa: PLW0603 - one self-test per process
    if VEC_OK is None:
        VEC_OK = _vec_selftest(pj)
        log.info("ByteVector fast path: %s", "on" if VEC_OK else "off (slow copy)")
    return VEC_OK


def read_vector(vec: Any) -> bytes:
    if VEC_OK:
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


def make_mic_port(pj: Any, pin: ThreadPin, on_frame: Callable[[Samples], None]) -> Any:
    """A source port: ``on_frame(out)`` fills ``out`` with 20 ms of microphone (the frame's own storage)."""
    audio = pj.PJMEDIA_FRAME_TYPE_AUDIO
    nbytes = FRAME * 2

    class MicPort(pj.AudioMediaPort):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._vec = pj.ByteVector(bytes(nbytes))
            # the ring writes straight into the vector's storage; the setter below copies it into the frame
            self._view = vector_samples(self._vec) if VEC_OK else None
            self._spare = np.zeros(FRAME, dtype=np.int16)

        def onFrameRequested(self, frame: Any) -> None:
            pin.enter()
            try:
                view = self._view
                if view is not None:
                    on_frame(view)
                    frame.buf = self._vec
                else:
                    on_frame(self._spare)
                    frame.buf = pj.ByteVector(self._spare.tobytes())
                frame.size = nbytes
                frame.type = audio
            except Exception:
                log.exception("mic frame")

    return MicPort()


def make_speaker_port(pj: Any, pin: ThreadPin, on_frame: Callable[[Samples | None], None]) -> Any:
    """A sink port: ``on_frame(x)`` gets 20 ms of the call (None when this tick carried no audio)."""
    audio = pj.PJMEDIA_FRAME_TYPE_AUDIO

    class SpeakerPort(pj.AudioMediaPort):  # type: ignore[misc]
        def onFrameReceived(self, frame: Any) -> None:
            pin.enter()
            try:
                if frame.type != audio:
                    on_frame(None)
                    return
                buf = frame.buf
                x = vector_samples(buf) if VEC_OK else None
                if x is None:
                    data = read_vector(buf)
                    x = np.frombuffer(data, dtype=np.int16) if len(data) == FRAME * 2 else None
                on_frame(x)
            except Exception:
                log.exception("speaker frame")

    return SpeakerPort()
