"""A virtual headset over a Unix socket, for end-to-end tests where the kernel offers no /dev/uhid.

``SocketHidBackend`` is a ``HidBackend`` (the hidapi boundary) whose one device is a SOCK_SEQPACKET socket: each
packet from the test is an input report, each packet from the engine an output report. ``VirtualHeadset`` is the
test's end. ``python -m tests.headset.socket_hid`` runs the real engine (``softphone serve``'s composition: the
control API, SIP, history) with a ``HeadsetService`` on that backend, and prints the same ``ready`` line.

Environment of the engine process: ``SOFTPHONE_TEST_HID_SOCKET`` (socket path), ``SOFTPHONE_TEST_HID_DESCRIPTOR``
(a ``.hex`` descriptor file), plus the usual SOFTPHONE_CONFIG / SOFTPHONE_DATA_DIR.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import threading
from pathlib import Path

from softphone.headset.decode import iter_hex
from softphone.headset.service import HidInfo


class _SocketDevice:
    def __init__(self, sock: socket.socket, descriptor: bytes) -> None:
        self._sock = sock
        self._descriptor = descriptor

    def read(self, size: int, timeout_ms: int) -> bytes:
        ready, _, _ = select.select([self._sock], [], [], timeout_ms / 1000)
        if not ready:
            return b""
        data = self._sock.recv(4096)
        if not data:
            raise OSError("virtual headset unplugged")
        return data[:size]

    def write(self, data: bytes) -> None:
        self._sock.send(data)

    def report_descriptor(self) -> bytes | None:
        return self._descriptor

    def close(self) -> None:
        self._sock.close()


class SocketHidBackend:
    def __init__(self, path: str, descriptor: bytes, product: str = "Virtual Telephony Headset") -> None:
        self.path = path
        self.descriptor = descriptor
        self.product = product

    def enumerate(self) -> list[HidInfo]:
        if not os.path.exists(self.path):
            return []
        return [HidInfo(path=f"socket:{self.path}".encode(), vendor_id=0x1209, product_id=0x0001,
                        product=self.product, manufacturer="softphone tests", usage_page=0x0B, usage=0x05)]

    def open(self, path: bytes) -> _SocketDevice:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path.decode().removeprefix("socket:"))
        return _SocketDevice(s, self.descriptor)


class VirtualHeadset:
    """The test's end of the socket: press buttons, watch LEDs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._server.bind(str(path))
        self._server.listen(1)
        self._conn: socket.socket | None = None
        self.connections = 0
        self.outputs: list[bytes] = []
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                with self._cv:
                    self._conn = conn
                    self.connections += 1
                    self._cv.notify_all()
                with contextlib.suppress(OSError):
                    while True:
                        data = conn.recv(4096)
                        if not data:
                            break
                        with self._cv:
                            self.outputs.append(data)
                            self._cv.notify_all()
                with self._cv:
                    if self._conn is conn:
                        self._conn = None

    def drop(self) -> None:
        """Pull the cable: the engine's next read fails; it reconnects on its next scan."""
        with self._cv:
            conn = self._conn
            self._conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def wait(self, pred: object, timeout: float = 15.0, what: str = "headset output") -> None:
        assert callable(pred)
        with self._cv:
            if not self._cv.wait_for(lambda: pred(self), timeout):
                raise AssertionError(f"timed out waiting for {what}; outputs={self.outputs[-8:]!r}")

    def led(self, report_id: int) -> int | None:
        with self._cv:
            r = next((o for o in reversed(self.outputs) if o[:1] == bytes([report_id])), None)
        return None if r is None or len(r) < 2 else r[1]

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def send(self, report: bytes) -> None:
        with self._cv:
            assert self._cv.wait_for(lambda: self._conn is not None, 15), "engine never opened the headset"
            assert self._conn is not None
            self._conn.send(report)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.close()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


async def _serve() -> int:
    from softphone import config as cfg
    from softphone.app import Engine
    from softphone.control.server import ControlServer
    from softphone.headset.service import HeadsetService

    settings = cfg.load()
    data_dir = cfg.data_dir()
    descriptor = bytes(iter_hex(Path(os.environ["SOFTPHONE_TEST_HID_DESCRIPTOR"]).read_text()))
    backend = SocketHidBackend(os.environ["SOFTPHONE_TEST_HID_SOCKET"], descriptor)
    headset = HeadsetService(backend, poll_s=0.1, read_timeout_ms=50)
    engine = Engine(settings, data_dir, services=[ControlServer(), headset], optional_services=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready = await engine.start()
    ready["pid"] = os.getpid()
    print(json.dumps(ready), flush=True)
    await stop.wait()
    await engine.stop()
    return 0


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    raise SystemExit(asyncio.run(_serve()))
