"""A fake at the hidapi boundary: ``FakeHidBackend`` / ``FakeHeadset`` implement ``HidBackend`` / ``HidDevice``.

A ``FakeHeadset`` is the physical device: the test ``press``es input reports into it and reads what the host
``written`` to it. Plug and unplug at any time; ``break_reads`` makes the next read fail like a yanked cable.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from softphone.headset.service import HidInfo


class FakeHeadset:
    def __init__(self, descriptor: bytes, *, path: bytes = b"/dev/hidraw-fake0", vendor_id: int = 0x047F,
                 product_id: int = 0xC056, product: str = "Fake Blackwire", usage_pages: tuple[int, ...] = (0x0B,),
                 fail_open: bool = False) -> None:
        self.descriptor = descriptor
        self.infos = [HidInfo(path=path, vendor_id=vendor_id, product_id=product_id, product=product,
                              manufacturer="Fake", usage_page=p, usage=0x05) for p in usage_pages]
        self.path = path
        self.fail_open = fail_open
        self.inbox: queue.Queue[bytes] = queue.Queue()
        self.written: list[bytes] = []
        self.opened = 0
        self.closed = 0
        self.broken = False
        self._cv = threading.Condition()

    def press(self, *reports: bytes) -> None:
        for r in reports:
            self.inbox.put(bytes(r))

    def break_reads(self) -> None:
        self.broken = True
        self.inbox.put(b"")          # wake a blocked read

    def record(self, data: bytes) -> None:
        with self._cv:
            self.written.append(bytes(data))
            self._cv.notify_all()

    def last_report(self, report_id: int) -> bytes | None:
        with self._cv:
            return next((w for w in reversed(self.written) if w and w[0] == report_id), None)

    def values(self, report_id: int) -> list[int]:
        """Every value written to one single-byte output report, in write order."""
        with self._cv:
            return [w[1] for w in self.written if len(w) > 1 and w[0] == report_id]

    def wait_written(self, pred: Callable[[FakeHeadset], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cv:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"headset never saw the expected output; written={self.written!r}")
                self._cv.wait(left)


class FakeHidDevice:
    def __init__(self, headset: FakeHeadset, backend: FakeHidBackend) -> None:
        self.h = headset
        self.backend = backend
        self.open = True

    def _check(self) -> None:
        if not self.open or self.h.broken or self.h.path not in self.backend.plugged:
            raise OSError("device disconnected")

    def read(self, size: int, timeout_ms: int) -> bytes:
        self._check()
        try:
            data = self.h.inbox.get(timeout=timeout_ms / 1000)
        except queue.Empty:
            return b""
        self._check()
        return data[:size]

    def write(self, data: bytes) -> None:
        self._check()
        self.h.record(data)

    def report_descriptor(self) -> bytes | None:
        return self.h.descriptor

    def close(self) -> None:
        if self.open:
            self.open = False
            self.h.closed += 1


class FakeHidBackend:
    def __init__(self, *headsets: FakeHeadset) -> None:
        self.plugged: dict[bytes, FakeHeadset] = {h.path: h for h in headsets}
        self.enumerations = 0

    def plug(self, h: FakeHeadset) -> None:
        h.broken = False
        self.plugged[h.path] = h

    def unplug(self, h: FakeHeadset) -> None:
        self.plugged.pop(h.path, None)
        h.inbox.put(b"")

    def enumerate(self) -> list[HidInfo]:
        self.enumerations += 1
        return [i for h in list(self.plugged.values()) for i in h.infos]

    def open(self, path: bytes) -> FakeHidDevice:
        h = self.plugged.get(path)
        if h is None or h.fail_open:
            raise OSError(13, "Permission denied")
        h.opened += 1
        return FakeHidDevice(h, self)
