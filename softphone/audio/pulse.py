"""Call streams straight on libpulse (PulseAudio, or PipeWire's pulse server), without PortAudio.

Debian's PortAudio reaches the sound server only through ALSA's pulse plugin: per direction a PortAudio
thread polling the plugin, the plugin's own libpulse thread, and buffers sized for ALSA periods, which costs
both latency and CPU (``bench/audio_call_cpu.py`` with ``SOFTPHONE_AUDIO_TUNING=direct_pulse=0``). Here
all streams share one libpulse context and its one thread; the server asks for audio (playback) or hands it
over (capture) and the callback moves it to or from the bridge's rings right there, in buffers we size:

* capture: ``fragsize`` = one 20 ms frame (10 ms blocks cost twice the wake-ups for 5 ms); during calls the
  stream is *pulled* by pjmedia's clock thread (:meth:`PulseStream.pull`), no read callback;
* playback: ``tlength`` = the total latency we want (``PA_STREAM_ADJUST_LATENCY``: the server sizes the
  sink's own buffer to fit), ``minreq`` = one block. During calls the stream is *pushed*
  (:meth:`PulseStream.push`): pjmedia's clock thread writes each frame, the server pre-buffers to the target
  before playing (and after an underrun), and :class:`~softphone.audio.steer.QueueSteer` keeps the queue
  there against the drift between the two clocks. Callback mode (the server asks) is for local sounds.

Every libpulse call checks for a fork with ``getpid()`` (a real system call, slow on virtual machines):
the pull copies whole server chunks with one ``memmove`` each rather than building array views.

Used for the ``pulse`` device backend; :func:`available` says whether libpulse can be loaded and a server
answers. Streams have the ``active``/``abort()``/``close()`` shape of sounddevice's, plus ``latency_s()``.

Threads: the callbacks run on libpulse's mainloop thread (``threaded-ml``), with the mainloop lock held.
That thread keeps a Python thread state for its life (:class:`~softphone.audio.threadpin.ThreadPin`; ctypes
callbacks would otherwise build and tear one down per callback). Everything else takes the mainloop lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from softphone.audio.steer import QueueSteer
from softphone.audio.threadpin import ThreadPin

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]
Callback = Callable[[Samples], None]

_P = ctypes.c_void_p
_SAMPLE_S16LE = 3
_CTX_READY, _CTX_FAILED, _CTX_TERMINATED = 4, 5, 6
_ST_READY, _ST_FAILED, _ST_TERMINATED = 2, 3, 4
_STREAM_INTERPOLATE_TIMING = 0x0002
_STREAM_AUTO_TIMING_UPDATE = 0x0008
_STREAM_ADJUST_LATENCY = 0x2000
_SEEK_RELATIVE = 0


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [("maxlength", ctypes.c_uint32), ("tlength", ctypes.c_uint32), ("prebuf", ctypes.c_uint32),
                ("minreq", ctypes.c_uint32), ("fragsize", ctypes.c_uint32)]


_NOTIFY = ctypes.CFUNCTYPE(None, _P, _P)                      # (object, userdata)
_REQUEST = ctypes.CFUNCTYPE(None, _P, ctypes.c_size_t, _P)    # (stream, nbytes, userdata)


def _load() -> Any:
    name = ctypes.util.find_library("pulse") or "libpulse.so.0"
    lib = ctypes.CDLL(name)
    sig: dict[str, tuple[list[Any], Any]] = {
        "pa_threaded_mainloop_new": ([], _P),
        "pa_threaded_mainloop_get_api": ([_P], _P),
        "pa_threaded_mainloop_start": ([_P], ctypes.c_int),
        "pa_threaded_mainloop_stop": ([_P], None),
        "pa_threaded_mainloop_free": ([_P], None),
        "pa_threaded_mainloop_lock": ([_P], None),
        "pa_threaded_mainloop_unlock": ([_P], None),
        "pa_threaded_mainloop_wait": ([_P], None),
        "pa_threaded_mainloop_signal": ([_P, ctypes.c_int], None),
        "pa_context_new": ([_P, ctypes.c_char_p], _P),
        "pa_context_set_state_callback": ([_P, _NOTIFY, _P], None),
        "pa_context_connect": ([_P, ctypes.c_char_p, ctypes.c_int, _P], ctypes.c_int),
        "pa_context_get_state": ([_P], ctypes.c_int),
        "pa_context_errno": ([_P], ctypes.c_int),
        "pa_context_disconnect": ([_P], None),
        "pa_context_unref": ([_P], None),
        "pa_stream_new": ([_P, ctypes.c_char_p, ctypes.POINTER(_SampleSpec), _P], _P),
        "pa_stream_set_state_callback": ([_P, _NOTIFY, _P], None),
        "pa_stream_set_write_callback": ([_P, _REQUEST, _P], None),
        "pa_stream_set_read_callback": ([_P, _REQUEST, _P], None),
        "pa_stream_set_underflow_callback": ([_P, _NOTIFY, _P], None),
        "pa_stream_set_overflow_callback": ([_P, _NOTIFY, _P], None),
        "pa_stream_connect_playback": ([_P, ctypes.c_char_p, ctypes.POINTER(_BufferAttr), ctypes.c_int, _P, _P],
                                       ctypes.c_int),
        "pa_stream_connect_record": ([_P, ctypes.c_char_p, ctypes.POINTER(_BufferAttr), ctypes.c_int],
                                     ctypes.c_int),
        "pa_stream_get_state": ([_P], ctypes.c_int),
        "pa_stream_begin_write": ([_P, ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_size_t)], ctypes.c_int),
        "pa_stream_write": ([_P, _P, ctypes.c_size_t, _P, ctypes.c_int64, ctypes.c_int], ctypes.c_int),
        "pa_stream_peek": ([_P, ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_size_t)], ctypes.c_int),
        "pa_stream_drop": ([_P], ctypes.c_int),
        "pa_stream_get_latency": ([_P, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_int)],
                                  ctypes.c_int),
        "pa_stream_disconnect": ([_P], ctypes.c_int),
        "pa_stream_unref": ([_P], None),
        "pa_strerror": ([ctypes.c_int], ctypes.c_char_p),
    }
    for fn, (args, res) in sig.items():
        f = getattr(lib, fn)
        f.argtypes = args
        f.restype = res
    return lib


class PulseError(RuntimeError):
    pass


class Client:
    """One libpulse context on one threaded mainloop, shared by every stream of the process."""

    _shared: Client | None = None
    _shared_lock = threading.Lock()

    def __init__(self, name: str = "softphone") -> None:
        self.lib = _load()
        self.pin = ThreadPin()     # the mainloop thread keeps its Python thread state for the client's life
        lib = self.lib
        self.ml = lib.pa_threaded_mainloop_new()
        if not self.ml:
            raise PulseError("pa_threaded_mainloop_new failed")
        self.ctx = lib.pa_context_new(lib.pa_threaded_mainloop_get_api(self.ml), name.encode())
        self._ctx_cb = _NOTIFY(self._on_ctx_state)
        lib.pa_context_set_state_callback(self.ctx, self._ctx_cb, None)
        if lib.pa_threaded_mainloop_start(self.ml) < 0:
            raise PulseError("pa_threaded_mainloop_start failed")
        with self.locked():
            if lib.pa_context_connect(self.ctx, None, 0, None) < 0:
                raise PulseError(self.error())
            while True:
                st = lib.pa_context_get_state(self.ctx)
                if st == _CTX_READY:
                    break
                if st in (_CTX_FAILED, _CTX_TERMINATED):
                    raise PulseError(f"cannot connect to the sound server: {self.error()}")
                lib.pa_threaded_mainloop_wait(self.ml)

    @classmethod
    def shared(cls) -> Client:
        with cls._shared_lock:
            c = cls._shared
            if c is None or not c.ok():
                if c is not None:
                    c.close()
                c = cls._shared = cls()
            return c

    def _on_ctx_state(self, ctx: Any, ud: Any) -> None:
        self.lib.pa_threaded_mainloop_signal(self.ml, 0)

    @contextlib.contextmanager
    def locked(self) -> Any:
        self.lib.pa_threaded_mainloop_lock(self.ml)
        try:
            yield
        finally:
            self.lib.pa_threaded_mainloop_unlock(self.ml)

    def ok(self) -> bool:
        with self.locked():
            return bool(self.lib.pa_context_get_state(self.ctx) == _CTX_READY)

    def error(self) -> str:
        msg = self.lib.pa_strerror(self.lib.pa_context_errno(self.ctx))
        return msg.decode(errors="replace") if msg else "unknown error"

    def close(self) -> None:
        lib = self.lib
        with contextlib.suppress(Exception):
            with self.locked():
                lib.pa_context_disconnect(self.ctx)
                lib.pa_context_unref(self.ctx)
            lib.pa_threaded_mainloop_stop(self.ml)
            lib.pa_threaded_mainloop_free(self.ml)


class PulseStream:
    """A started capture or playback stream (int16 mono). ``callback(samples)`` fills (playback) or takes
    (capture) a block of any length on the mainloop thread; it must not block or raise."""

    def __init__(self, direction: Literal["input", "output"], callback: Callback | None, *, device: str | None,
                 rate: int, block: int, latency_s: float, name: str = "call", pull: bool = False,
                 adjust: bool = True, push_target_s: float | None = None) -> None:
        self.client = Client.shared()
        lib = self.client.lib
        self.direction = direction
        self._cb = callback
        self.underflows = 0
        self.overflows = 0
        self._failed = False
        self._closed = False
        ss = _SampleSpec(_SAMPLE_S16LE, rate, 1)
        bpf = 2
        none = 0xFFFFFFFF
        self.steer: QueueSteer | None = None
        self.skip_run = 0                 # push: frames dropped in a row (the server stopped taking audio)
        if direction == "output" and push_target_s is not None:
            # push mode: the caller's clock writes; the server pre-buffers up to the target before it plays
            # (and again after an underrun), the steer holds the queue there (see softphone.audio.steer)
            target = int(push_target_s * rate)
            # an underrun widens the target by 4 ms, up to 10 ms more; a calm minute gives 4 ms back
            self.steer = QueueSteer(block, target, rate // 500, rate // 25, widen=rate // 250,
                                    max_target=target + rate // 100, calm_frames=60 * rate // block)
            self._seen_underflows = 0
            self._stretch = np.zeros(block + 2, dtype=np.int16)
            self._zeros = np.zeros(rate // 50, dtype=np.int16)
            self._grid = np.arange(block, dtype=np.float64)
            self._stretch_pos: dict[tuple[int, int], Any] = {}
            attr = _BufferAttr(none, int(latency_s * rate) * bpf, (target + block // 2) * bpf, block * bpf, none)
        elif direction == "output":
            attr = _BufferAttr(none, int(latency_s * rate) * bpf, none, block * bpf, none)
        else:
            attr = _BufferAttr(none, none, none, none, block * bpf)
        flags = _STREAM_INTERPOLATE_TIMING | _STREAM_AUTO_TIMING_UPDATE | (_STREAM_ADJUST_LATENCY if adjust else 0)
        self._state_cb = _NOTIFY(self._on_state)
        self._xrun_cb = _NOTIFY(self._on_xrun)
        self._io_cb = _REQUEST(self._on_write if direction == "output" else self._on_read)
        self._ptr = _P()
        self._size = ctypes.c_size_t()
        self._scratch = np.zeros(rate // 5, dtype=np.int16)    # pull(): up to 200 ms at once
        self._scratch_addr = self._scratch.ctypes.data
        self.dropped = 0                                         # samples a stalled puller never saw
        self.max_chunk = 0                   # pull(): the largest piece the server delivered (reset by the user)
        self._pptr = ctypes.byref(self._ptr)      # made once: these run 50-300 times a second
        self._psize = ctypes.byref(self._size)
        self._usec = ctypes.c_uint64()
        self._neg = ctypes.c_int()
        self._pusec = ctypes.byref(self._usec)
        self._pneg = ctypes.byref(self._neg)
        self._rate_us = rate / 1e6
        self._arrays: dict[int, Any] = {}
        with self.client.locked():
            s = self.s = lib.pa_stream_new(self.client.ctx, name.encode(), ctypes.byref(ss), None)
            if not s:
                raise PulseError(self.client.error())
            lib.pa_stream_set_state_callback(s, self._state_cb, None)
            dev = device.encode() if device else None
            if direction == "output":
                if self.steer is None:
                    lib.pa_stream_set_write_callback(s, self._io_cb, None)
                lib.pa_stream_set_underflow_callback(s, self._xrun_cb, None)
                rc = lib.pa_stream_connect_playback(s, dev, ctypes.byref(attr), flags, None, None)
            else:
                if not pull:
                    lib.pa_stream_set_read_callback(s, self._io_cb, None)
                lib.pa_stream_set_overflow_callback(s, self._xrun_cb, None)
                rc = lib.pa_stream_connect_record(s, dev, ctypes.byref(attr), flags)
            if rc < 0:
                err = self.client.error()
                lib.pa_stream_unref(s)
                raise PulseError(err)
            while True:
                st = lib.pa_stream_get_state(s)
                if st == _ST_READY:
                    break
                if st in (_ST_FAILED, _ST_TERMINATED):
                    err = self.client.error()
                    lib.pa_stream_unref(s)
                    raise PulseError(f"cannot open the {'speaker' if direction == 'output' else 'microphone'}"
                                     f" {device or '(default)'}: {err}")
                lib.pa_threaded_mainloop_wait(self.client.ml)

    # -- sounddevice-like shape ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return not (self._failed or self._closed)

    def abort(self) -> None:
        self.close()

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        lib = self.client.lib
        with self.client.locked():        # (pull() checks _closed under the same lock)
            if self._closed:
                return
            self._closed = True
            lib.pa_stream_set_write_callback(self.s, _REQUEST(), None)
            lib.pa_stream_set_read_callback(self.s, _REQUEST(), None)
            lib.pa_stream_set_state_callback(self.s, _NOTIFY(), None)
            lib.pa_stream_disconnect(self.s)
            lib.pa_stream_unref(self.s)

    def latency_s(self) -> float | None:
        """The server's view: capture → our callback, or our write → the speaker (None when unknown)."""
        if self._closed:
            return None
        usec = ctypes.c_uint64()
        neg = ctypes.c_int()
        with self.client.locked():
            if self.client.lib.pa_stream_get_latency(self.s, ctypes.byref(usec), ctypes.byref(neg)) < 0:
                return None
        return -usec.value / 1e6 if neg.value else usec.value / 1e6

    # -- mainloop thread -------------------------------------------------------------------------------
    def _view(self, addr: int, nbytes: int) -> Samples:
        t = self._arrays.get(nbytes)
        if t is None:
            t = self._arrays[nbytes] = ctypes.c_char * nbytes
        v: Samples = np.frombuffer(memoryview(t.from_address(addr)), dtype=np.int16)
        return v

    def _on_state(self, s: Any, ud: Any) -> None:
        self.client.pin.enter()
        st = self.client.lib.pa_stream_get_state(s)
        if st in (_ST_FAILED, _ST_TERMINATED):
            self._failed = True
        self.client.lib.pa_threaded_mainloop_signal(self.client.ml, 0)

    def _on_xrun(self, s: Any, ud: Any) -> None:
        if self.direction == "output":
            self.underflows += 1
        else:
            self.overflows += 1

    def _on_write(self, s: Any, nbytes: int, ud: Any) -> None:
        self.client.pin.enter()
        lib = self.client.lib
        try:
            left = nbytes
            while left >= 2:
                self._size.value = left
                if lib.pa_stream_begin_write(s, self._pptr, self._psize) < 0:
                    return
                n = min(self._size.value, left) & ~1
                addr = self._ptr.value
                if not addr or n == 0:
                    return
                if self._cb is not None:
                    self._cb(self._view(addr, n))
                if lib.pa_stream_write(s, addr, n, None, 0, _SEEK_RELATIVE) < 0:
                    return
                left -= n
        except Exception:
            log.exception("playback callback")

    def push(self, x: Samples) -> None:
        """Push-mode playback streams: queue one frame now, on the caller's clock (pjmedia's clock thread), one
        sample longer or shorter when the steer says so. Never blocks beyond the mainloop lock."""
        steer = self.steer
        if steer is None:
            return
        lib = self.client.lib
        usec, neg = self._usec, self._neg
        lib.pa_threaded_mainloop_lock(self.client.ml)
        try:
            if self._closed:
                return
            s = self.s
            lat: float | None = None
            if lib.pa_stream_get_latency(s, self._pusec, self._pneg) >= 0:
                lat = (-usec.value if neg.value else usec.value) * self._rate_us
            if self.underflows != self._seen_underflows:
                self._seen_underflows = self.underflows
                pad = steer.underrun()
                if pad:
                    z = self._zeros[:pad]
                    lib.pa_stream_write(s, z.ctypes.data, pad << 1, None, 0, _SEEK_RELATIVE)
            n = steer.plan(lat)
            if n == 0:
                self.skip_run += 1
                return
            self.skip_run = 0
            if n != len(x):
                y = self._stretch[:n]
                pos = self._stretch_pos.get((len(x), n))
                if pos is None:            # np.linspace is Python code: ~80 µs per frame on a cold clock thread
                    pos = self._stretch_pos[(len(x), n)] = np.linspace(0, len(x) - 1, n)
                y[:] = np.interp(pos, self._grid[:len(x)], x)
                x = y
            lib.pa_stream_write(s, x.ctypes.data, n << 1, None, 0, _SEEK_RELATIVE)
        finally:
            lib.pa_threaded_mainloop_unlock(self.client.ml)

    def pull(self, sink: Callback) -> int:
        """Capture streams opened with ``pull=True``: hand everything captured so far to ``sink`` in one block
        (on the caller's thread, e.g. right before it needs a frame). A backlog longer than the scratch buffer
        (the caller stalled) keeps only its newest part. Returns the number of samples delivered."""
        lib = self.client.lib
        s = self.s
        buf = self._scratch
        cap = len(buf)
        got = 0
        base = self._scratch_addr
        memmove = ctypes.memmove
        lib.pa_threaded_mainloop_lock(self.client.ml)
        try:
            peek, drop, pptr, psize, size, ptr = (lib.pa_stream_peek, lib.pa_stream_drop, self._pptr, self._psize,
                                                  self._size, self._ptr)
            while not self._closed and peek(s, pptr, psize) >= 0:
                n = size.value >> 1
                if n == 0:
                    break
                addr = ptr.value
                self.max_chunk = max(self.max_chunk, n)
                if addr:       # (NULL with a size: a hole in the stream)
                    # one memmove per server chunk: chunks come every few ms, views would cost more than the copy
                    if n >= cap:
                        memmove(base, addr + ((n - cap) << 1), cap << 1)
                        self.dropped += got + n - cap
                        got = cap
                    else:
                        if got + n > cap:             # keep the newest: shift out the oldest
                            keep = cap - n
                            buf[:keep] = buf[got - keep:got]
                            self.dropped += got - keep
                            got = keep
                        memmove(base + (got << 1), addr, n << 1)
                        got += n
                drop(s)
        finally:
            lib.pa_threaded_mainloop_unlock(self.client.ml)
        if got:
            sink(buf[:got])
        return got

    def _on_read(self, s: Any, nbytes: int, ud: Any) -> None:
        self.client.pin.enter()
        lib = self.client.lib
        try:
            while True:
                if lib.pa_stream_peek(s, self._pptr, self._psize) < 0:
                    return
                n = self._size.value
                if n == 0:
                    return
                addr = self._ptr.value
                if addr and self._cb is not None:   # NULL with a size: a hole in the stream
                    self._cb(self._view(addr, n & ~1))
                lib.pa_stream_drop(s)
        except Exception:
            log.exception("capture callback")


def available() -> bool:
    """libpulse loads and a server answers."""
    try:
        Client.shared()
        return True
    except Exception as exc:
        log.debug("direct pulse streams unavailable: %s", exc)
        return False
