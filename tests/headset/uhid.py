"""A kernel-level virtual HID device through /dev/uhid (linux/uhid.h), written with struct: no dependencies.

``UhidDevice(name, descriptor)`` creates the device (UHID_CREATE2), ``input()`` sends input reports
(UHID_INPUT2), and a thread collects the output reports the host writes (UHID_OUTPUT) and answers GET/SET_REPORT
requests so the kernel never waits on us. Leaving the context destroys the device (UHID_DESTROY).
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

UHID_DESTROY = 1
UHID_OUTPUT = 6
UHID_GET_REPORT = 9
UHID_GET_REPORT_REPLY = 10
UHID_CREATE2 = 11
UHID_INPUT2 = 12
UHID_SET_REPORT = 13
UHID_SET_REPORT_REPLY = 14
BUS_USB = 0x03
UHID_DATA_MAX = 4096
EVENT_SIZE = 4 + 128 + 64 + 64 + 2 + 2 + 4 * 4 + UHID_DATA_MAX     # sizeof(struct uhid_event), packed


def _event(fmt: str, *values: object) -> bytes:
    raw = struct.pack("<" + fmt, *values)
    return raw + bytes(EVENT_SIZE - len(raw))


class UhidDevice:
    def __init__(self, name: str, descriptor: bytes, *, vendor: int = 0x1209, product: int = 0x0001,
                 path: str = "/dev/uhid") -> None:
        self.name = name
        self.descriptor = descriptor
        self.vendor = vendor
        self.product = product
        self.path = path
        self.fd = -1
        self.outputs: list[bytes] = []
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> UhidDevice:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        name = self.name.encode()[:127]
        os.write(self.fd, _event("I128s64s64sHHIIII4096s", UHID_CREATE2, name, b"softphone-test",
                                 name, len(self.descriptor), BUS_USB, self.vendor, self.product, 0, 0,
                                 self.descriptor))
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(2)
        with contextlib.suppress(OSError):
            os.write(self.fd, _event("I", UHID_DESTROY))
        os.close(self.fd)

    def input(self, data: bytes, report_id: int | None = None) -> None:
        payload = (bytes([report_id]) if report_id is not None else b"") + bytes(data)
        os.write(self.fd, _event("IH4096s", UHID_INPUT2, len(payload), payload))

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            try:
                raw = os.read(self.fd, EVENT_SIZE)
            except OSError:
                return
            (etype,) = struct.unpack_from("<I", raw)
            if etype == UHID_OUTPUT:
                size = struct.unpack_from("<H", raw, 4 + UHID_DATA_MAX)[0]
                with self._cv:
                    self.outputs.append(raw[4:4 + size])
                    self._cv.notify_all()
            elif etype == UHID_GET_REPORT:
                req_id = struct.unpack_from("<I", raw, 4)[0]
                os.write(self.fd, _event("IIHH", UHID_GET_REPORT_REPLY, req_id, 5, 0))     # EIO: none kept
            elif etype == UHID_SET_REPORT:
                req_id, _rnum, _rtype, size = struct.unpack_from("<IBBH", raw, 4)
                data = raw[12:12 + size]
                with self._cv:
                    self.outputs.append(bytes(data))
                    self._cv.notify_all()
                os.write(self.fd, _event("IIH", UHID_SET_REPORT_REPLY, req_id, 0))

    def wait_output(self, pred: Callable[[bytes], bool], timeout: float) -> bytes:
        with self._cv:
            ok = self._cv.wait_for(lambda: any(pred(o) for o in self.outputs), timeout)
            if not ok:
                raise AssertionError(f"no matching output report; got {self.outputs[-8:]!r}")
            return next(o for o in reversed(self.outputs) if pred(o))

    def wait_hidraw(self, timeout: float) -> Path | None:
        """The /dev/hidrawN node the kernel made for this device, or None if none appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in Path("/sys/class/hidraw").glob("hidraw*"):
                with contextlib.suppress(OSError):
                    if f"HID_NAME={self.name}" in (node / "device" / "uevent").read_text():
                        dev = Path("/dev") / node.name
                        if dev.exists():
                            return dev
            time.sleep(0.05)
        return None
