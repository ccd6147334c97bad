"""Keep the Python thread state of a foreign thread alive between its callbacks into Python.

Both pjmedia's clock thread (SWIG director callbacks) and libpulse's mainloop thread (ctypes callbacks) are
threads Python did not create. Each callback enters Python with ``PyGILState_Ensure`` and leaves with
``PyGILState_Release``; on such a thread that builds and tears down a whole thread state every time,
including an mmap/munmap of its frame stack, which costs a large share of a 20 ms audio callback's CPU.
One extra ``Ensure`` from inside a callback keeps the state for the thread's life; :meth:`ThreadPin.release`
gives it back from that thread (at its next callback), so that no state outlives a call's clock thread.

The pinned state is recognised by its address, never by the thread's id: pjsua closes the null sound device
when idle and the next call's clock thread is a new thread that often gets the old one's id. Releasing on
such a thread would release *its* fresh state, which is then gone when SWIG releases it too (a fatal
error). A state pinned on a thread that has since died cannot be released; it is left alone (a few KB)
and the new thread is pinned.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Any


class ThreadPin:
    """Call :meth:`enter` at the top of every callback on the foreign thread."""

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
        self._tls = threading.local()

    def enter(self) -> None:
        if self._unpin:
            self._enter_unpinning()
            return
        # Fast path, every 20 ms per port: a thread-local lives in the thread state's own dict, so it is set
        # exactly while this thread state is the pinned one (a new clock thread has a new, empty one). No
        # ctypes call: on the clock thread's cold wake-up that call alone cost ~10 µs.
        if getattr(self._tls, "pinned", False) or self._ensure is None:
            return
        held = self._held
        cur = self._current()
        if held is None or held[0] != cur:
            self._held = (cur, self._ensure())
            self.pinned += 1
        self._tls.pinned = True

    def _enter_unpinning(self) -> None:
        if self._ensure is None:
            return
        held = self._held
        cur = self._current()
        if held is not None and held[0] == cur:
            self._held = None
            self._tls.pinned = False
            self._release(held[1])     # back to the caller's own count: its Release frees the state as usual
            self._done.set()

    def release(self, timeout: float = 0.1) -> bool:
        """From another thread while callbacks still run: unpin at the next callback. True when done."""
        if self._held is None:
            return True
        self._done.clear()
        self._unpin = True
        ok = self._done.wait(timeout)
        self._unpin = False
        return ok
