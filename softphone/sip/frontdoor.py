"""The SIP front door: a pjsip module that turns strangers away before pjsua sees them.

pjsua answers an INVITE with 100 Trying, allocates a call slot and opens RTP sockets *before* the application's
``onIncomingCall`` runs; it answers OPTIONS with 200 (and its capabilities) and MESSAGE with 200 with no
callback at all. So a check in ``onIncomingCall`` alone lets a scanner fill the call slots, grow file
descriptors and learn what we are. This module sits just before pjsip's transaction layer (priority 15) and
answers out-of-dialog requests from anyone but the account's signalling path with a stateless 403 (or nothing),
so they never create a transaction, a call or a socket. The rules are ``softphone.core.inbound``.

pjsua2 has no Python binding for pjsip modules, so the module is registered through ctypes against the symbols
the pjsua2 extension exports. The one thing ctypes must know is where ``pjsip_rx_data`` keeps the packet and its
source address; that depends on a build-time constant (PJSIP_MAX_PKT_LEN). The layout is therefore *proven* at
start with a probe packet of known content, length, source address and port; if any of them does not match,
the front door stays off, says so, and the engine falls back to checking in ``onIncomingCall``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from softphone.core.inbound import Counters, Policy, Verdict, WireRequest, parse_request

log = logging.getLogger(__name__)

PRIORITY = 15                       # PJSIP_MOD_PRIORITY_TSX_LAYER - 1
_PACKET = 304 + 16                  # sizeof(tp_info) + pj_time_val: where pkt_info.packet starts (x86-64 / arm64)
_PKT_LENS = (4000, 1500, 2000, 4096, 8000, 8192, 16000, 16384, 32000, 32768, 65535, 65536)
_INET6_ADDRSTRLEN = 46


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


_ON_RX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class _Module(ctypes.Structure):
    """``struct pjsip_module`` (pjsip/sip_module.h)."""

    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p), ("name", _PjStr), ("id", ctypes.c_int),
                ("priority", ctypes.c_int), ("load", ctypes.c_void_p), ("start", ctypes.c_void_p),
                ("stop", ctypes.c_void_p), ("unload", ctypes.c_void_p), ("on_rx_request", _ON_RX),
                ("on_rx_response", ctypes.c_void_p), ("on_tx_request", ctypes.c_void_p),
                ("on_tx_response", ctypes.c_void_p), ("on_tsx_state", ctypes.c_void_p)]


class _Layout:
    """Offsets inside ``pjsip_rx_data`` for one PJSIP_MAX_PKT_LEN."""

    def __init__(self, pkt_len: int) -> None:
        self.pkt_len = pkt_len
        self.zero = _PACKET + pkt_len
        self.len = (self.zero + 4 + 7) & ~7           # pj_ssize_t after a pj_uint32_t
        src_addr = self.len + 8                        # pj_sockaddr (28 bytes, 4-aligned)
        self.src_name = src_addr + 28 + 4              # after int src_addr_len
        self.src_port = (self.src_name + _INET6_ADDRSTRLEN + 3) & ~3


def _library() -> Any:
    import pjsua2

    path = os.path.join(os.path.dirname(pjsua2.__file__), next(
        n for n in os.listdir(os.path.dirname(pjsua2.__file__)) if n.startswith("_pjsua2") and n.endswith(".so")))
    lib = ctypes.CDLL(path)
    lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
    lib.pjsip_endpt_register_module.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Module)]
    lib.pjsip_endpt_unregister_module.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Module)]
    lib.pjsip_endpt_respond_stateless.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                                  ctypes.c_void_p, ctypes.c_void_p]
    lib.pjsua_call_get_count.restype = ctypes.c_uint
    lib.pjsua_call_get_max_count.restype = ctypes.c_uint
    return lib


class FrontDoor:
    """Install with ``install()`` on pjsua's command thread after ``libStart``; ``remove()`` before ``libDestroy``."""

    def __init__(self, *, on_refused: Callable[[str, str, Verdict], None] | None = None,
                 on_busy: Callable[[str, WireRequest], None] | None = None) -> None:
        self.policy = Policy()
        self.counters = Counters()
        self.active = False
        self.reason = "not installed"
        self._on_refused = on_refused
        self._on_busy = on_busy
        self.busy = 0
        self._passed: OrderedDict[str, None] = OrderedDict()    # Call-IDs of new calls let through (pjsip thread)
        self._lib: Any = None
        self._endpt: int | None = None
        self._module: _Module | None = None
        self._callback: Any = None
        self._layout: _Layout | None = None
        self._probe: tuple[bytes, int] | None = None
        self._probed = threading.Event()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle (sip-cmd thread)

    def install(self, udp_address: tuple[str, int]) -> bool:
        """Register the module and prove the rdata layout with a probe sent to ``udp_address``."""
        try:
            self._lib = _library()
            self._endpt = self._lib.pjsua_get_pjsip_endpt()
        except (OSError, AttributeError, StopIteration) as exc:
            self.reason = f"pjsip symbols not available ({exc})"
            log.warning("SIP front door off: %s", self.reason)
            return False
        self._callback = _ON_RX(self._on_rx_request)
        self._name = ctypes.create_string_buffer(b"mod-softphone-front-door")
        mod = _Module()
        mod.name = _PjStr(ctypes.cast(self._name, ctypes.c_char_p), len(self._name.value))
        mod.id = -1
        mod.priority = PRIORITY
        mod.on_rx_request = self._callback
        status = self._lib.pjsip_endpt_register_module(self._endpt, ctypes.byref(mod))
        if status != 0:
            self.reason = f"module registration failed (pj_status {status})"
            log.warning("SIP front door off: %s", self.reason)
            return False
        self._module = mod
        return self._prove(udp_address)

    def remove(self) -> None:
        if self._module is not None and self._lib is not None:
            self._lib.pjsip_endpt_unregister_module(self._endpt, ctypes.byref(self._module))
        self._module = None
        self.active = False

    def _prove(self, address: tuple[str, int]) -> bool:
        host, port = address
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            src_port = s.getsockname()[1]
            call_id = f"front-door-probe-{uuid.uuid4().hex}"
            text = (f"OPTIONS sip:probe@{host}:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {host}:{src_port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:probe@{host}>;tag=1\r\nTo: <sip:probe@{host}>\r\n"
                    f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
            self._probe = (text, src_port)
            self._probed.clear()
            s.sendto(text, (host, port))
            # pjsip's worker thread delivers it; this thread must not block it (it is not the worker)
            self._probed.wait(2.0)
        self._probe = None
        if self._layout is None:
            self.reason = "could not locate the packet and source address in pjsip_rx_data"
            log.warning("SIP front door off: %s; unsolicited calls are checked in onIncomingCall only", self.reason)
            return False
        self.active = True
        self.reason = f"on (pjsip packet buffer {self._layout.pkt_len} bytes)"
        log.info("SIP front door %s", self.reason)
        return True

    # ------------------------------------------------------------------ pjsip worker thread

    def _read_probe(self, rdata: int, text: bytes, src_port: int) -> _Layout | None:
        if ctypes.string_at(rdata + _PACKET, len(text)) != text:
            return None
        for n in _PKT_LENS:
            lay = _Layout(n)
            if n < len(text):
                continue
            zero = ctypes.c_uint32.from_address(rdata + lay.zero).value
            length = ctypes.c_ssize_t.from_address(rdata + lay.len).value
            if zero != 0 or length != len(text):
                continue
            name = ctypes.string_at(rdata + lay.src_name, _INET6_ADDRSTRLEN).split(b"\0", 1)[0]
            port = ctypes.c_int.from_address(rdata + lay.src_port).value
            if name and port == src_port:
                return lay
        return None

    def _on_rx_request(self, rdata: int | None) -> int:
        if not rdata:
            return 0
        try:
            probe = self._probe
            if probe is not None and self._layout is None:
                lay = self._read_probe(rdata, *probe)
                if lay is not None:
                    self._layout = lay
                    self._probed.set()
                    return 1                       # the probe is ours: consumed, never answered
            lay = self._layout
            if lay is None or not self.active:
                return 0
            length = min(ctypes.c_ssize_t.from_address(rdata + lay.len).value, lay.pkt_len)
            if length <= 0:
                return 0
            data = ctypes.string_at(rdata + _PACKET, length)
            ip = ctypes.string_at(rdata + lay.src_name, _INET6_ADDRSTRLEN).split(b"\0", 1)[0].decode("ascii",
                                                                                                      "replace")
            port = ctypes.c_int.from_address(rdata + lay.src_port).value
            req = parse_request(data)
            if req is None:
                return 0
            verdict = self.policy.judge(req, ip, port)
            if verdict is Verdict.PASS:
                return self._busy(rdata, req, ip, port)
            with self._lock:
                self.counters.count(verdict, req.method, f"{ip}:{port}")
            if verdict is Verdict.REJECT:
                self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, 403, None, None, None)
            elif verdict is Verdict.NOT_FOUND:
                self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, 404, None, None, None)
            if self._on_refused is not None:
                with contextlib.suppress(Exception):
                    self._on_refused(req.method, f"{ip}:{port}", verdict)
            return 1
        except Exception:
            log.exception("front door check failed; request passed to pjsip")
            return 0

    def _busy(self, rdata: int, req: WireRequest, ip: str, port: int) -> int:
        """A new call on the account's own path while every pjsua call slot is taken: pjsua would answer 486 and
        say nothing. Answer it here and report it, so the rep sees the missed call."""
        if req.method != "INVITE" or req.to_tag:
            return 0
        if req.call_id in self._passed:            # a retransmission of a call pjsua already has
            return 0
        if self._lib.pjsua_call_get_count() < self._lib.pjsua_call_get_max_count():
            self._passed[req.call_id] = None
            while len(self._passed) > 256:
                self._passed.popitem(last=False)
            return 0
        account = self.policy.account_for(req, ip, port)
        if account is None:
            return 0
        self._lib.pjsip_endpt_respond_stateless(self._endpt, rdata, 486, None, None, None)
        with self._lock:
            self.busy += 1
        if self._on_busy is not None:
            self._on_busy(account, req)
        return 1

    def status(self) -> dict[str, Any]:
        with self._lock:
            counts = self.counters.to_json()
            busy = self.busy
        return {"active": self.active, "state": self.reason, "busy_refused": busy, **counts}
