"""hidapi adapter: find telephony headsets, read their buttons, drive their LEDs. A ``Service`` of the engine.

Threads: one monitor thread enumerates HID devices every ``poll_s`` (hot-plug without udev), and one thread per
open headset reads reports (short timeouts, so it can stop) and writes the output reports queued for it. Reports
are handed to the loop with ``engine.call_soon_threadsafe``; decoding (``decode.HeadsetDecoder``), the state
machine (``machine.HeadsetMachine``) and ``engine.command`` all run on the loop thread.

A headset fault never affects a call: every device error closes that device (the monitor reopens it later),
every command error is logged and resets the LEDs to the real call state, and nothing here raises into the bus.

On Linux the ``hidraw`` backend of hidapi is used when available (it leaves the kernel driver attached, unlike
the libusb backend, so other apps and the system volume keys keep working); report descriptors come from sysfs
(``/sys/class/hidraw/*/device/report_descriptor``) or ``get_report_descriptor()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from softphone.core.events import CallUpdated
from softphone.errors import SoftphoneError
from softphone.headset.decode import (
    PAGE_TELEPHONY,
    DescriptorError,
    HeadsetDecoder,
    LedState,
    TelephonyLayout,
    build_output_reports,
    describe_capabilities,
    parse_descriptor,
)
from softphone.headset.machine import Command, HeadsetMachine
from softphone.worker import Worker

if TYPE_CHECKING:
    from softphone.ports import EngineAPI

log = logging.getLogger(__name__)

__all__ = [
    "HeadsetInfo",
    "HeadsetService",
    "HidBackend",
    "HidDevice",
    "HidInfo",
    "HidapiBackend",
    "candidates",
    "list_headsets",
    "read_layout",
]

SYSFS_HIDRAW = Path("/sys/class/hidraw")


# ------------------------------------------------------------------------------------------- hidapi boundary


@dataclass(frozen=True)
class HidInfo:
    """One hidapi enumeration entry (one per top-level collection on hidraw/Windows/macOS)."""

    path: bytes
    vendor_id: int
    product_id: int
    product: str = ""
    manufacturer: str = ""
    serial: str = ""
    usage_page: int = 0
    usage: int = 0
    interface: int = -1


class HidDevice(Protocol):
    def read(self, size: int, timeout_ms: int) -> bytes:
        """Next input report (report ID first if numbered); ``b""`` on timeout; ``OSError`` on failure."""
        ...

    def write(self, data: bytes) -> None: ...
    def report_descriptor(self) -> bytes | None: ...
    def close(self) -> None: ...


class HidBackend(Protocol):
    def enumerate(self) -> list[HidInfo]: ...
    def open(self, path: bytes) -> HidDevice: ...


class _HidapiDevice:
    def __init__(self, dev: Any) -> None:
        self._dev = dev

    def read(self, size: int, timeout_ms: int) -> bytes:
        return bytes(self._dev.read(size, timeout_ms))

    def write(self, data: bytes) -> None:
        n = self._dev.write(data)
        if isinstance(n, int) and n < 0:
            raise OSError(f"hid write failed ({self._error()})")

    def report_descriptor(self) -> bytes | None:
        getter = getattr(self._dev, "get_report_descriptor", None)
        if getter is None:
            return None
        try:
            return bytes(getter())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._dev.close()

    def _error(self) -> str:
        with contextlib.suppress(Exception):
            return str(self._dev.error())
        return "unknown error"


class HidapiBackend:
    """The real thing. Prefers hidapi's hidraw backend on Linux."""

    def __init__(self, module: Any = None) -> None:
        if module is None:
            module = _import_hidapi()
        self._mod = module

    def enumerate(self) -> list[HidInfo]:
        out = []
        for d in self._mod.enumerate():
            path = d.get("path") or b""
            out.append(HidInfo(
                path=path if isinstance(path, bytes) else str(path).encode(),
                vendor_id=int(d.get("vendor_id") or 0),
                product_id=int(d.get("product_id") or 0),
                product=str(d.get("product_string") or ""),
                manufacturer=str(d.get("manufacturer_string") or ""),
                serial=str(d.get("serial_number") or ""),
                usage_page=int(d.get("usage_page") or 0),
                usage=int(d.get("usage") or 0),
                interface=int(d.get("interface_number") if d.get("interface_number") is not None else -1),
            ))
        return out

    def open(self, path: bytes) -> HidDevice:
        dev = self._mod.device()
        dev.open_path(path)
        return _HidapiDevice(dev)


def _import_hidapi() -> Any:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(ImportError):
            import hidraw  # type: ignore[import-not-found]
            return hidraw
    import hid

    return hid


# ------------------------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class HeadsetInfo:
    """A telephony-capable HID device, for ``softphone doctor`` and the settings page."""

    name: str
    vendor_id: int
    product_id: int
    path: str
    manufacturer: str = ""
    serial: str = ""
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    alsa_card: str | None = None         # the headset's own sound card id (Linux), to offer as call device
    error: str | None = None             # e.g. permission denied: no udev rule for /dev/hidraw*

    @property
    def id(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"

    def __str__(self) -> str:
        caps = self.capabilities
        parts = [f"{self.name} ({self.id}) {self.path}",
                 "buttons: " + (", ".join(caps.get("inputs", [])) or "none"),
                 "lights: " + (", ".join(caps.get("outputs", [])) or "none")]
        if self.alsa_card:
            parts.append(f"sound card: {self.alsa_card}")
        if self.error:
            parts.append(f"error: {self.error}")
        return " — ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "id": self.id, "vendor_id": self.vendor_id, "product_id": self.product_id,
            "path": self.path, "manufacturer": self.manufacturer, "serial": self.serial,
            "capabilities": self.capabilities, "alsa_card": self.alsa_card, "error": self.error,
        }


def _sysfs_node(path: bytes, sysfs: Path) -> Path | None:
    name = path.decode(errors="replace").rsplit("/", 1)[-1]
    if not name.startswith("hidraw"):
        return None
    node = sysfs / name / "device"
    return node if node.exists() else None


def sysfs_descriptor(path: bytes, sysfs: Path = SYSFS_HIDRAW) -> bytes | None:
    node = _sysfs_node(path, sysfs)
    if node is None:
        return None
    try:
        return (node / "report_descriptor").read_bytes()
    except OSError:
        return None


def alsa_card_for(path: bytes, sysfs: Path = SYSFS_HIDRAW) -> str | None:
    """The ALSA card id of the USB device behind a hidraw node (…/X-Y/X-Y:1.3/0003:VID:PID.N -> …/X-Y/…/card*)."""
    node = _sysfs_node(path, sysfs)
    if node is None:
        return None
    try:
        usb_device = node.resolve().parent.parent
        for card in sorted(usb_device.glob("*/sound/card*/id")):
            return card.read_text().strip() or None
    except OSError:
        return None
    return None


def _groups(infos: Sequence[HidInfo]) -> dict[bytes, list[HidInfo]]:
    groups: dict[bytes, list[HidInfo]] = {}
    for i in infos:
        groups.setdefault(i.path, []).append(i)
    return groups


def _is_candidate(entries: Sequence[HidInfo], sysfs: Path) -> bool:
    if any(e.usage_page == PAGE_TELEPHONY for e in entries):
        return True
    raw = sysfs_descriptor(entries[0].path, sysfs)
    if raw is None:
        return False
    try:
        return parse_descriptor(raw).has_page(PAGE_TELEPHONY)
    except DescriptorError:
        return False


def _matches(selector: str | None, info: HidInfo) -> bool:
    if not selector:
        return True
    s = selector.strip().lower()
    if s == info.path.decode(errors="replace").lower():
        return True
    if s == f"{info.vendor_id:04x}:{info.product_id:04x}":
        return True
    return bool(info.product) and s in info.product.lower()


def read_layout(dev: HidDevice | None, path: bytes, sysfs: Path = SYSFS_HIDRAW) -> TelephonyLayout | None:
    raw = sysfs_descriptor(path, sysfs)
    if raw is None and dev is not None:
        raw = dev.report_descriptor()
    if not raw:
        return None
    try:
        return TelephonyLayout.from_descriptor(parse_descriptor(raw))
    except DescriptorError as exc:
        log.info("headset %r: unreadable report descriptor: %s", path, exc)
        return None


def candidates(infos: Sequence[HidInfo], selector: str | None = None,
               sysfs: Path = SYSFS_HIDRAW) -> dict[bytes, list[HidInfo]]:
    """Enumeration entries grouped by device path, keeping telephony devices that match ``selector``."""
    return {p: e for p, e in _groups(infos).items() if _matches(selector, e[0]) and _is_candidate(e, sysfs)}


def list_headsets(backend: HidBackend | None = None, sysfs: Path = SYSFS_HIDRAW) -> list[HeadsetInfo]:
    """Telephony HID devices present now, with what we can do with each. Never raises."""
    try:
        backend = backend or HidapiBackend()
        infos = backend.enumerate()
    except Exception as exc:
        log.info("cannot enumerate HID devices: %s", exc)
        return []
    out = []
    for path, entries in _groups(infos).items():
        if not _is_candidate(entries, sysfs):
            continue
        first = entries[0]
        error = None
        layout = read_layout(None, path, sysfs)
        if layout is None:
            try:
                dev = backend.open(path)
            except Exception as exc:
                dev, error = None, f"cannot open {path.decode(errors='replace')}: {exc}"
            if dev is not None:
                try:
                    layout = read_layout(dev, path, sysfs)
                finally:
                    dev.close()
        out.append(HeadsetInfo(
            name=first.product or f"HID {first.vendor_id:04x}:{first.product_id:04x}",
            vendor_id=first.vendor_id,
            product_id=first.product_id,
            path=path.decode(errors="replace"),
            manufacturer=first.manufacturer,
            serial=first.serial,
            capabilities=describe_capabilities(layout) if layout else {"inputs": [], "outputs": []},
            alsa_card=alsa_card_for(path, sysfs),
            error=error,
        ))
    return out


# ------------------------------------------------------------------------------------------- the service


class _Connection:
    """One open headset: its reader thread, its decoder (loop thread only) and its outgoing report queue."""

    def __init__(self, info: HidInfo, dev: HidDevice, layout: TelephonyLayout) -> None:
        self.info = info
        self.dev = dev
        self.layout = layout
        self.decoder = HeadsetDecoder(layout)
        self.outbox: deque[bytes] = deque()
        self.written: dict[int, bytes] = {}
        self.closed = threading.Event()
        self.thread: threading.Thread | None = None
        self.read_size = max(64, layout.descriptor.max_input_size)
        self.control_reports = {r.field.report_id for refs in layout.inputs.values() for r in refs}

    @property
    def name(self) -> str:
        return self.info.product or self.info.path.decode(errors="replace")

    def queue_leds(self, leds: LedState, force: bool) -> None:
        for report in build_output_reports(self.layout, leds):
            rid = report[0]
            if force or self.written.get(rid) != report:
                self.written[rid] = report
                self.outbox.append(report)


class HeadsetService:
    """Optional engine service ``softphone.headset.service:HeadsetService``."""

    name = "headset"

    def __init__(self, backend: HidBackend | None = None, *, poll_s: float = 1.0, read_timeout_ms: int = 100,
                 retry_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 sysfs: Path = SYSFS_HIDRAW) -> None:
        self._backend = backend
        self.poll_s = poll_s
        self.read_timeout_ms = read_timeout_ms
        self.retry_s = retry_s
        self._clock = clock
        self._sysfs = sysfs
        self._engine: EngineAPI | None = None
        self.machine = HeadsetMachine()
        self._conns: dict[bytes, _Connection] = {}
        self._ignored: dict[bytes, float] = {}       # path -> retry after (clock), for failures / non-telephony
        self._warned: set[bytes] = set()
        self._stopping = threading.Event()
        self._monitor: Worker | None = None
        self._lock = threading.Lock()
        self._queue: asyncio.Queue[Command] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._leds = LedState()
        self.enabled = False

    # ------------------------------------------------------------------ lifecycle

    def describe(self) -> dict[str, Any]:
        return {"headsets": self.status()} if self.enabled else {}

    async def start(self, engine: EngineAPI) -> None:
        self._engine = engine
        cfg = engine.settings.headset
        if not cfg.enabled:
            log.info("headset support disabled in settings")
            return
        if self._backend is None:
            try:
                self._backend = HidapiBackend()
            except ImportError as exc:
                log.info("headset support unavailable (hidapi not installed): %s", exc)
                return
        self.enabled = True
        self.machine.last_dialed = self._last_dialed(engine)
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run_commands(), name="headset-commands")
        self._unsubscribe = engine.bus.subscribe(CallUpdated, self._on_call)
        if engine.phone is not None:
            for snap in engine.phone.calls():
                self.machine.on_call(snap)
        self._leds = self.machine.leds
        self._stopping.clear()
        # plugging in is noticed by polling hidapi's enumeration while the monitor is otherwise idle
        self._monitor = Worker("headset-monitor", idle=self._scan, idle_s=self.poll_s,
                               on_error=lambda exc: log.error("headset scan failed", exc_info=exc))
        self._monitor.start()
        self._monitor.submit(self._scan)

    async def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            c.queue_leds(LedState(), force=False)     # lights off; the reader thread flushes before closing
        self._stopping.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._join_threads)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    def _join_threads(self) -> None:
        if self._monitor is not None:
            self._monitor.stop(5)
            self._monitor = None
        with self._lock:
            conns = list(self._conns.values())
            self._conns.clear()
        for c in conns:
            if c.thread is not None:
                c.thread.join(5)

    @property
    def connected(self) -> list[str]:
        with self._lock:
            return [c.name for c in self._conns.values()]

    def status(self) -> list[dict[str, Any]]:
        """Connected headsets for ``status``/the settings page: id, name, path, capabilities, learned modes."""
        with self._lock:
            conns = list(self._conns.values())
        return [{
            "name": c.name,
            "id": f"{c.info.vendor_id:04x}:{c.info.product_id:04x}",
            "path": c.info.path.decode(errors="replace"),
            "capabilities": describe_capabilities(c.layout),
            "modes": {ctl.value: m.value for ctl in c.layout.inputs if (m := c.decoder.mode(ctl)) is not None},
        } for c in conns]

    @staticmethod
    def _last_dialed(engine: EngineAPI) -> tuple[str, str | None] | None:
        try:
            rows = engine.history.list(limit=1, direction="outbound")
        except Exception as exc:
            log.debug("no history for redial: %s", exc)
            return None
        if not rows:
            return None
        row = rows[0]
        remote = row.get("remote")
        return (str(remote), row.get("account") or None) if remote else None

    # ------------------------------------------------------------------ monitor thread

    def _scan(self) -> None:
        assert self._backend is not None and self._engine is not None
        selector = self._engine.settings.headset.device
        try:
            infos = self._backend.enumerate()
        except Exception as exc:
            log.debug("hid enumerate failed: %s", exc)
            return
        groups = _groups(infos)
        now = self._clock()
        with self._lock:
            for path in [p for p in self._ignored if p not in groups]:
                del self._ignored[path]           # unplugged: try afresh when it comes back
            wanted = [p for p in groups if p not in self._conns
                      and self._ignored.get(p, -1.0) <= now]
        for path in wanted:
            entries = groups[path]
            if not _matches(selector, entries[0]) or not _is_candidate(entries, self._sysfs):
                if not any(e.usage_page == PAGE_TELEPHONY for e in entries):
                    with self._lock:
                        self._ignored[path] = float("inf")
                continue
            self._open(entries[0])

    def _open(self, info: HidInfo) -> None:
        assert self._backend is not None
        try:
            dev = self._backend.open(info.path)
        except Exception as exc:
            level = logging.DEBUG if info.path in self._warned else logging.WARNING
            self._warned.add(info.path)
            log.log(level, "cannot open headset %s (%s): %s (on Linux a udev rule granting access to "
                    "/dev/hidraw* is needed)", info.product or "?", info.path.decode(errors="replace"), exc)
            with self._lock:
                self._ignored[info.path] = self._clock() + self.retry_s
            return
        layout = read_layout(dev, info.path, self._sysfs)
        if layout is None or (not layout.inputs and not layout.outputs):
            dev.close()
            log.info("HID device %s has no usable telephony controls", info.product or info.path)
            with self._lock:
                self._ignored[info.path] = float("inf")
            return
        conn = _Connection(info, dev, layout)
        conn.thread = threading.Thread(target=self._reader_loop, args=(conn,), name="headset-reader",
                                       daemon=True)
        with self._lock:
            self._conns[info.path] = conn
        log.info("headset connected: %s (%s) %s", conn.name, info.path.decode(errors="replace"),
                 describe_capabilities(layout))
        self._to_loop(self._attached, conn)
        conn.thread.start()

    # ------------------------------------------------------------------ reader thread

    def _reader_loop(self, conn: _Connection) -> None:
        try:
            while True:
                while conn.outbox:
                    conn.dev.write(conn.outbox.popleft())
                if self._stopping.is_set() or conn.closed.is_set():
                    break
                data = conn.dev.read(conn.read_size, self.read_timeout_ms)
                if data:
                    self._to_loop(self._on_report, conn, data, self._clock())
        except Exception as exc:
            if not self._stopping.is_set():
                log.warning("headset %s disconnected: %s", conn.name, exc)
        finally:
            conn.closed.set()
            conn.dev.close()
            with self._lock:
                if self._conns.get(conn.info.path) is conn:
                    del self._conns[conn.info.path]
                    # reopen on the next scan if it is still there (unplug removes it from enumeration)
                    self._ignored[conn.info.path] = self._clock() + self.poll_s

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        engine = self._engine
        if engine is None or self._stopping.is_set():
            return
        with contextlib.suppress(RuntimeError):   # loop closed during shutdown
            engine.call_soon_threadsafe(self._guarded, fn, *args)

    @staticmethod
    def _guarded(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("headset handler %s failed", getattr(fn, "__name__", fn))

    # ------------------------------------------------------------------ loop thread

    def _attached(self, conn: _Connection) -> None:
        now = self._clock()
        conn.decoder.set_host(self._leds, now)
        conn.queue_leds(self._leds, force=True)

    def _on_report(self, conn: _Connection, report: bytes, now: float) -> None:
        if conn.closed.is_set() or not self.enabled:
            return
        events = conn.decoder.feed(report, now)
        commands: list[Command] = []
        for ev in events:
            log.debug("headset %s: %s", conn.name, ev)
            commands.extend(self.machine.on_event(ev))
        for cmd in commands:
            assert self._queue is not None
            self._queue.put_nowait(cmd)
        rid = report[0] if conn.layout.numbered else 0
        # Echo the LED state after every telephony input report: some headsets reset mute/hook otherwise.
        self._publish_leds(now, echo_to=conn if rid in conn.control_reports else None)

    def _on_call(self, ev: CallUpdated) -> None:
        if not self.enabled:
            return
        self.machine.on_call(ev.call)
        self._publish_leds(self._clock())

    def _publish_leds(self, now: float, echo_to: _Connection | None = None) -> None:
        leds = self.machine.leds
        changed = leds != self._leds
        self._leds = leds
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            c.decoder.set_host(leds, now)
            if changed or c is echo_to:
                c.queue_leds(leds, force=c is echo_to)

    async def _run_commands(self) -> None:
        assert self._queue is not None
        while True:
            cmd = await self._queue.get()
            engine = self._engine
            if engine is None:
                continue
            try:
                await engine.command(cmd.name, dict(cmd.args), surface="headset")
                log.info("headset: %s %s", cmd.name, cmd.args)
            except SoftphoneError as exc:
                log.info("headset %s refused: %s", cmd.name, getattr(exc, "message", exc))
                self.machine.command_failed(cmd)
                self._publish_leds(self._clock())
            except Exception:
                log.exception("headset command %s failed", cmd.name)
                self.machine.command_failed(cmd)
                self._publish_leds(self._clock())

