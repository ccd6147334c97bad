"""pjsua2 adapter: owns the Endpoint, accounts, transports and calls; turns callbacks into core events.

Threads. pjsua2 aborts the process when called from an unregistered thread, so every call into it happens
on one of two registered threads: ``sip-cmd`` (ours: runs queued commands at once, plus timers) and pjsip's own
worker (``threadCnt=1``: network events and callbacks). The wrapper releases the GIL inside pjsua2, so the
two never deadlock on it. Callbacks only translate and hand events to ``emit`` (which marshals to the runtime
loop); no business rules live here.

Lifetimes (verified pitfalls): a Python reference is kept to every Call, Account and media port; ended
calls are released on ``sip-cmd`` a little later, never inside their own callback; on shutdown: hang up,
pump, media ports, accounts, then ``libDestroy``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from softphone.config import AccountConfig
from softphone.core.callerid import identify
from softphone.core.events import (
    Direction,
    RegState,
    SipBusyIncoming,
    SipCallProgress,
    SipConnectionLost,
    SipDtmfReceived,
    SipIncomingCall,
    SipLegState,
    SipMediaUpdate,
    SipNetworkChanged,
    SipNewCall,
    SipRegistration,
    SipTransferProgress,
)
from softphone.core.inbound import (
    Door,
    Peer,
    Policy,
    Verdict,
    WireRequest,
    header_value,
    parse_request,
    with_learnt,
)
from softphone.core.numbers import display_name, display_remote
from softphone.sip import mediacfg, nat
from softphone.sip.frontdoor import FrontDoor
from softphone.sip.media import ConferenceOnlyMedia, MediaBridge
from softphone.sip.netwatch import NetWatch
from softphone.worker import Worker

if TYPE_CHECKING:
    from softphone.sip.demo import DemoLine

log = logging.getLogger(__name__)
pjlog = logging.getLogger("softphone.pjsip")

# With SOFTPHONE_SIP_LOG set (debugging), pjsip's detail goes to the normal log instead of DEBUG.
_VERBOSE = logging.INFO if os.environ.get("SOFTPHONE_SIP_LOG") else logging.DEBUG
REG_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
UNREGISTER_WAIT_S = 3.0              # how long a quit waits for the registrars to confirm the unregistration
Emit = Callable[[object], None]

_LEG_STATES = {
    pj.PJSIP_INV_STATE_CALLING: SipLegState.CALLING,
    pj.PJSIP_INV_STATE_EARLY: SipLegState.EARLY,
    pj.PJSIP_INV_STATE_CONNECTING: SipLegState.CONNECTING,
    pj.PJSIP_INV_STATE_CONFIRMED: SipLegState.CONFIRMED,
    pj.PJSIP_INV_STATE_DISCONNECTED: SipLegState.DISCONNECTED,
}


class _PjLog(pj.LogWriter):  # type: ignore[misc]
    """Route pjsip's log into Python logging (level <= 3: no SIP message bodies, so no credentials)."""

    def write(self, entry: Any) -> None:
        msg = _log_safe(str(entry.msg))
        level = int(entry.level)
        pjlog.log(logging.ERROR if level <= 1 else logging.WARNING if level == 2 else _VERBOSE, "%s", msg)


def _log_safe(msg: str) -> str:
    """pjsip quotes packets it could not parse (bytes a stranger chose) in its error lines: keep the first
    line only, with control characters escaped and a bounded length, unless whole messages were asked for."""
    if _VERBOSE == logging.INFO:
        return msg.rstrip()
    first = msg.strip().split("\n", 1)[0]
    safe = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in first[:300])
    return safe + (" […]" if len(first) > 300 or "\n" in msg.strip() else "")


def _with_params(uri: str, transport: str, *, lr: bool = False) -> str:
    """Add ;transport= (tcp/tls) and ;lr where the URI does not say already."""
    low = uri.lower()
    out = uri
    if transport in ("tcp", "tls") and ";transport=" not in low and not low.startswith("sips:"):
        out += f";transport={transport}"
    if lr and ";lr" not in low:
        out += ";lr"
    return out


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, engine: SipEngine, name: str, *, demo_peer: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.name = name
        self.demo_peer = demo_peer
        self.has_registrar = False
        self.backoff = 0
        self.unregistering = False
        self.probe_target = ""          # registrar URI the network watch's OPTIONS go to
        self.keepalive_s = 0

    def onRegState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            code = int(prm.code)
            reason = str(prm.reason)
            if info.regIsActive:
                self.backoff = 0
                state = RegState.REGISTERED
                # the registrar answered from here: calls it relays to us will come from the same place
                self.engine._learn_peer(self.name, str(prm.rdata.srcAddress))
                self.engine._watch_path(self, str(prm.rdata.wholeMsg))
            elif self.unregistering or (200 <= code < 300 and int(prm.expiration) == 0):
                state = RegState.UNREGISTERED
            else:
                state = RegState.FAILED
                self.engine._schedule_reregister(self)
            if state is not RegState.REGISTERED and self.engine.netwatch is not None:
                self.engine.netwatch.unregistered(self.name)
            self.engine._emit(SipRegistration(self.name, state, code or None, reason if code != 200 else ""))
        except Exception:
            log.exception("onRegState")

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self.engine._on_incoming(self, prm.callId, prm.rdata)
        except Exception:
            log.exception("onIncomingCall")

    def onSendRequest(self, prm: Any) -> None:
        """The answer (or timeout) of a network-watch OPTIONS probe."""
        try:
            if self.engine.netwatch is not None:
                self.engine.netwatch.on_probe_answer(self.name, prm)
        except Exception:
            log.exception("onSendRequest")


class _Call(pj.Call):  # type: ignore[misc]
    def __init__(self, engine: SipEngine, acc: _Account, call_id: str, pj_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, pj_id)
        self.engine = engine
        self.acc = acc
        self.call_id = call_id
        self.media_active = False
        self.ended = False
        self.refused = False          # a stranger's INVITE answered 403: nothing about it reaches the core

    def onCallState(self, prm: Any) -> None:
        try:
            ci = self.getInfo()
            leg = _LEG_STATES.get(ci.state)
            if leg is None:
                return
            code = int(ci.lastStatusCode) or None
            if leg is SipLegState.EARLY and code == 180:
                leg = SipLegState.RINGING
            if leg is SipLegState.DISCONNECTED:
                self.ended = True
                self.engine._on_disconnected(self)
            if not self.refused:
                self.engine._emit(SipCallProgress(self.call_id, leg, code, str(ci.lastReason)))
        except Exception:
            log.exception("onCallState")

    def onCallMediaState(self, prm: Any) -> None:
        try:
            self.engine._on_media_state(self)
        except Exception:
            log.exception("onCallMediaState")

    def onDtmfEvent(self, prm: Any) -> None:
        # pjsua reports RFC 4733 digits at start, on updates (flag 1) and at the end (flag 2); SIP INFO once.
        flags = int(prm.flags)
        if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO or not flags & 3:
            self.engine._emit(SipDtmfReceived(self.call_id, str(prm.digit)))

    def onStreamDestroyed(self, prm: Any) -> None:
        # Last moment the stream (and its conference slot) exists: keep its RTCP figures for history, and
        # disconnect the devices now. After this pjsua2 frees the slot; touching the call's AudioMedia later
        # would disconnect whatever port reuses that slot number.
        try:
            self.engine.media.record_quality(self.call_id, self, int(prm.streamIdx))
        except Exception:
            log.exception("record_quality")
        try:
            self.engine.media.call_media_inactive(self.call_id)
        except Exception:
            log.exception("call_media_inactive")

    def onCallTransferStatus(self, prm: Any) -> None:
        self.engine._emit(SipTransferProgress(self.call_id, int(prm.statusCode), bool(prm.finalNotify)))

    def onCallTransferRequest(self, prm: Any) -> None:
        try:
            self.engine._on_transfer_request(self, prm)
        except Exception:
            log.exception("onCallTransferRequest")
            prm.statusCode = 603

    def onCallReplaced(self, prm: Any) -> None:
        try:
            self.engine._on_replaced(self, prm)
        except Exception:
            log.exception("onCallReplaced")


class SipEngine:
    """Implements ``softphone.core.ports.SipPort`` on top of pjsua2."""

    def __init__(self, emit: Emit, sip_port: int = 0, media: MediaBridge | None = None,
                 bind_address: str | None = None, tls_ca_file: str | None = None,
                 listen_address: str | None = None, user_agent: str = "Softphone") -> None:
        self._tls_ca = tls_ca_file
        self._user_agent = user_agent
        # bind_address (sip_bind_address): the one address peers must use, never rewritten; listen_address: the
        # interface towards the accounts' servers (NAT rewriting still applies)
        self._listen = bind_address or listen_address
        self._emit_cb = emit
        self._port = sip_port
        self._bind = bind_address
        self.media: MediaBridge = media if media is not None else ConferenceOnlyMedia()
        self.ep: Any = None
        self._accounts: dict[str, _Account] = {}
        self._calls: dict[str, _Call] = {}
        self._transports: dict[str, int] = {}
        self._lock = threading.RLock()
        self.worker = Worker("sip-cmd", on_start=self._init_endpoint, on_stop=self._shutdown,
                             on_error=_log_job_error)
        self._log_writer = _PjLog()
        self._closing = False
        self._direct_ident: int | None = None
        self._nameservers = _system_nameservers()
        self.demo: DemoLine | None = None
        self.transport_info: dict[str, str] = {}
        self.front_door = FrontDoor(on_refused=_log_refused, on_busy=self._on_busy_incoming)
        self._doors: tuple[Door, ...] = ()                 # from the accounts (engine thread writes, whole)
        self._learnt: dict[str, frozenset[Peer]] = {}      # registrar addresses seen answering our REGISTERs
        self._stranger = Verdict.REJECT
        self.refused_in_callback = 0
        # NAT: the endpoint-wide STUN list and keep-alives; the path watch that moves calls after a change
        self.nat = nat.EndpointNat(submit=self.submit)
        self.netwatch: NetWatch | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the endpoint on the ``sip-cmd`` thread; blocks until it is up (or raises)."""
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def _init_endpoint(self) -> None:
        ep = pj.Endpoint()
        with _stdout_to_stderr():  # pjlib prints its banner before our log writer exists; stdout is for JSON
            ep.libCreate()
            self._lib_init(ep)

    def _lib_init(self, ep: Any) -> None:
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 1
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = 16
        cfg.uaConfig.userAgent = self._user_agent   # no version by default: scanners fingerprint versions
        # pjsip's own asynchronous resolver (RFC 3263: NAPTR/SRV for PBX domains; never blocks a thread)
        for ns in self._nameservers:
            cfg.uaConfig.nameserver.append(ns)
        # SOFTPHONE_SIP_LOG=5 logs whole SIP messages for debugging (digest responses, never passwords).
        level = int(os.environ.get("SOFTPHONE_SIP_LOG", "3"))
        cfg.logConfig.level = level
        cfg.logConfig.consoleLevel = level
        cfg.logConfig.writer = self._log_writer
        cfg.logConfig.decor = 0
        mediacfg.configure_endpoint(cfg.medConfig)
        self.nat.configure(cfg.uaConfig)
        ep.libInit(cfg)
        self.ep = ep
        for name, kind in (("udp", pj.PJSIP_TRANSPORT_UDP), ("tcp", pj.PJSIP_TRANSPORT_TCP),
                           ("tls", pj.PJSIP_TRANSPORT_TLS)):
            tcfg = pj.TransportConfig()
            tcfg.port = self._port if name != "tls" else 0
            if self._listen:
                tcfg.boundAddress = self._listen
            if self._bind:
                tcfg.publicAddress = self._bind
            if name == "tls":
                tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
                tcfg.tlsConfig.verifyServer = True
                for ca in (self._tls_ca, "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
                    if ca and os.path.isfile(ca):
                        tcfg.tlsConfig.CaListFile = ca
                        break
            try:
                tid = ep.transportCreate(kind, tcfg)
            except pj.Error as exc:
                log.error("cannot create %s transport: %s", name, exc.reason)
                continue
            self._transports[name] = tid
            info = ep.transportGetInfo(tid)
            self.transport_info[name] = str(info.localName)
        if "udp" not in self._transports:
            raise RuntimeError("no UDP SIP transport could be created (port in use?)")
        ep.audDevManager().setNullDev()
        ep.libStart()
        mediacfg.configure_codecs(ep)
        self.media.start(ep)
        host, _, port = self.transport_info["udp"].rpartition(":")
        self.front_door.install((host.strip("[]"), int(port)))
        self.netwatch = NetWatch(ep, self.worker.later, live_calls=self._live_calls,
                                 on_change=lambda _code, why: self._emit(SipNetworkChanged(why)),
                                 on_call_lost=lambda cid, why: self._emit(SipConnectionLost(cid, why)))
        log.info("SIP endpoint up: %s", self.transport_info)

    def _shutdown(self) -> None:
        ep = self.ep
        if ep is None:
            return
        with contextlib.suppress(pj.Error):
            ep.hangupAllCalls()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and any(not c.ended for c in self._calls.values()):
            time.sleep(0.02)
        if self.netwatch is not None:
            self.netwatch.stop()
        # Run what the callbacks queued (demo-call cleanup) so no Call outlives the library.
        self.worker.drain()
        self._closing = True
        self._unregister_all()
        if self.demo is not None:
            self.demo.stop()
        with contextlib.suppress(Exception):
            self.media.stop()
        self._calls.clear()
        import gc

        gc.collect()
        self._shutdown_accounts()
        self.demo = None
        self.front_door.remove()
        # The calls are ended and the registrar has answered (or UNREGISTER_WAIT_S passed): without the flag,
        # pjsua would sit out a fixed second "for unregistration" on every quit.
        ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)
        self.ep = None

    def _unregister_all(self) -> None:
        """Unregister every account and wait, bounded, for the registrars' answers (pjsua's worker thread
        handles them meanwhile): a quit leaves no stale binding for the PBX to ring."""
        registered = [a for a in self._accounts.values() if a.has_registrar]
        for acc in registered:
            acc.unregistering = True
            with contextlib.suppress(pj.Error):
                acc.setRegistration(False)
        deadline = time.monotonic() + UNREGISTER_WAIT_S
        while registered and time.monotonic() < deadline:
            with contextlib.suppress(pj.Error):
                registered = [a for a in registered if a.getInfo().regIsActive]
            if registered:
                time.sleep(0.02)

    def _shutdown_accounts(self) -> None:
        """In its own frame so no local keeps an Account alive past ``libDestroy``."""
        for acc in self._accounts.values():
            with contextlib.suppress(pj.Error):
                acc.shutdown()
        self._accounts.clear()

    # ------------------------------------------------------------------ helpers (sip-cmd thread)

    def _emit(self, ev: object) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._emit_cb(ev)

    def submit(self, fn: Callable[[], None]) -> None:
        self.worker.submit(fn)

    def call_on_thread(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on ``sip-cmd`` and wait for its result."""
        return self.worker.call(fn, timeout)

    def _schedule_reregister(self, acc: _Account) -> None:
        if acc.unregistering:
            return
        delay = REG_BACKOFF_S[min(acc.backoff, len(REG_BACKOFF_S) - 1)]
        acc.backoff += 1
        log.info("registration of %s failed; retrying in %.0f s", acc.name, delay)

        def retry() -> None:
            if acc.name in self._accounts and not acc.unregistering and not acc.getInfo().regIsActive:
                acc.setRegistration(True)

        self.worker.later(delay, retry)

    # ------------------------------------------------------------------ who may call us (the front door)

    def set_doors(self, doors: tuple[Door, ...], stranger: Verdict) -> None:
        """The accounts' ways in (from config, with resolved registrar/proxy addresses); any thread."""
        self._doors = doors
        self._stranger = stranger
        self._refresh_policy()

    def _learn_peer(self, account: str, address: str) -> None:
        peer = _peer(address)
        if peer is not None and peer not in self._learnt.get(account, frozenset()):
            self._learnt = {**self._learnt, account: self._learnt.get(account, frozenset()) | {peer}}
            self._refresh_policy()

    def _refresh_policy(self) -> None:
        doors = self._doors + (self.demo.doors() if self.demo is not None else ())
        self.front_door.policy = with_learnt(Policy(doors, self._stranger), self._learnt)

    def _admitted(self, account: str, source: str, message: str) -> bool:
        """The check in onIncomingCall: this account's door, and a Request-URI user it answers as."""
        door = self.front_door.policy.door(account)
        peer = _peer(source)
        req = parse_request(message.encode("utf-8", "surrogateescape"))
        ok = (door is not None and peer is not None and door.admits(peer.ip, peer.port)
              and req is not None and door.answers(req.ruri_user))
        if not ok:
            self.refused_in_callback += 1
            _log_refused(req.method if req else "INVITE", source, Verdict.REJECT)
        return ok

    def _on_busy_incoming(self, account: str, req: WireRequest) -> None:
        """pjsip worker thread: a legitimate call found no free line (refused by the front door with 486)."""
        remote, name = identify(req.from_header, req.asserted or None)
        self._emit(SipBusyIncoming(account, remote, name))

    def inbound_status(self) -> dict[str, Any]:
        return {**self.front_door.status(), "refused_after_pjsua": self.refused_in_callback}

    # ------------------------------------------------------------------ accounts

    def add_account(self, a: AccountConfig, password: str | None, turn_password: str | None = None) -> None:
        self.submit(lambda: self._add_account(a, password, turn_password))

    def _add_account(self, a: AccountConfig, password: str | None, turn_password: str | None = None) -> None:
        acfg = pj.AccountConfig()
        ident = a.sip_uri
        if a.display_name:
            safe = a.display_name.replace('"', "").replace("\\", "")
            ident = f'"{safe}" <{a.sip_uri}>'
        acfg.idUri = ident
        tid = self._transports.get(a.transport)
        if tid is None:
            self._emit(SipRegistration(a.name, RegState.FAILED, None, f"{a.transport.upper()} transport unavailable"))
            return
        acfg.sipConfig.transportId = tid
        if a.registrar:
            acfg.regConfig.registrarUri = _with_params(a.registrar, a.transport)
            acfg.regConfig.timeoutSec = a.register_expires
            acfg.regConfig.retryIntervalSec = 0   # our own backoff (REG_BACKOFF_S)
            acfg.regConfig.firstRetryIntervalSec = 0
            acfg.regConfig.dropCallsOnFail = False  # a lost registrar never drops a live call
            acfg.regConfig.registerOnAdd = True
        else:
            acfg.regConfig.registerOnAdd = False
        if a.proxy:
            acfg.sipConfig.proxies.append(_with_params(a.proxy, a.transport, lr=True))
        if a.auth_username and password:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", a.auth_username, 0, password))
        if a.srtp != "off":
            acfg.mediaConfig.srtpUse = (pj.PJMEDIA_SRTP_MANDATORY if a.srtp == "mandatory"
                                        else pj.PJMEDIA_SRTP_OPTIONAL)
            acfg.mediaConfig.srtpSecureSignaling = 0
        nat.configure_account(acfg, a, bind_address=self._bind, turn_password=turn_password)
        if self._listen and not self._bind:
            acfg.mediaConfig.transportConfig.boundAddress = self._listen
        acc = _Account(self, a.name)
        acc.has_registrar = a.registrar is not None
        acc.probe_target = acfg.regConfig.registrarUri if a.registrar else ""
        acc.keepalive_s = a.keepalive_s
        self._accounts[a.name] = acc
        self.nat.account_added(self.ep, a)
        if acc.has_registrar:
            self._emit(SipRegistration(a.name, RegState.REGISTERING))
        acc.create(acfg, False)
        # a TURN server that gives no relay would hold every INVITE ~8 s: calls then go out without it
        nat.verify_turn(a, turn_password, lambda why: self.submit(lambda: self._without_turn(acc, acfg, why)))
        if not acc.has_registrar:
            self._emit(SipRegistration(a.name, RegState.NONE))

    def _without_turn(self, acc: _Account, acfg: Any, why: str) -> None:
        if self._accounts.get(acc.name) is not acc or self._closing:
            return
        nat.without_turn(acfg)
        try:
            acc.modify(acfg)
        except pj.Error as exc:
            log.warning("account %s: TURN could not be turned off: %s", acc.name, exc.reason)

    # ------------------------------------------------------------------ network path (NAT)

    def _watch_path(self, acc: _Account, answer: str) -> None:
        """pjsip thread: a REGISTER was answered; its Via says which public address the registrar saw."""
        if self.netwatch is not None and acc.probe_target and not acc.demo_peer:
            self.netwatch.registered(acc, acc.probe_target, acc.keepalive_s, answer)

    def _live_calls(self) -> dict[str, Any]:
        return {cid: c for cid, c in list(self._calls.items()) if not c.ended}

    def network_changed(self, why: str) -> None:
        """A new local address (from outside): re-register and move the calls now."""
        if self.netwatch is not None:
            self.netwatch.network_changed(why, local=True)

    def nat_status(self) -> dict[str, Any]:
        """For ``ctl status`` (``nat``) and doctor: per account the public address its registrar sees and the
        path changes followed."""
        return self.netwatch.status() if self.netwatch is not None else {}

    def stun_status(self) -> dict[str, Any]:
        """STUN servers pjsua uses (they answered our probe) and those left out, with why."""
        return {"in_use": list(self.nat.stun), "unreachable": dict(self.nat.unreachable)}

    def remove_account(self, name: str) -> None:
        """Unregister and drop an account (settings change). Its live calls keep running until they end."""
        def job() -> None:
            acc = self._accounts.pop(name, None)
            if acc is not None and not acc.demo_peer:
                acc.unregistering = True
                with contextlib.suppress(pj.Error):
                    acc.shutdown()
        self.submit(job)

    def add_demo_line(self, name: str) -> int:
        """Create the built-in demo line (a loopback peer on this endpoint); returns its SIP port."""
        port: int = self.call_on_thread(lambda: self._add_demo(name))
        return port

    def demo_call_me(self) -> None:
        """Have the demo line ring the rep (inbound calls without a PBX)."""
        def job() -> None:
            if self.demo is not None:
                self.demo.call_rep()
        self.submit(job)

    def _add_demo(self, name: str) -> int:
        from softphone.sip.demo import DemoLine

        self.demo = DemoLine(self, name)
        self._refresh_policy()
        return self.demo.port

    # ------------------------------------------------------------------ SipPort

    def make_call(self, call_id: str, account: str, uri: str) -> None:
        def job() -> None:
            acc = self._accounts.get(account)
            if acc is None:
                self._emit(SipCallProgress(call_id, SipLegState.DISCONNECTED, None, "Account not ready"))
                return
            call = _Call(self, acc, call_id)
            self._calls[call_id] = call
            prm = pj.CallOpParam(True)
            prm.opt.audioCount = 1
            prm.opt.videoCount = 0
            try:
                call.makeCall(uri, prm)
            except pj.Error as exc:
                self._calls.pop(call_id, None)  # never got a pjsua id: safe to drop now
                self._emit(SipCallProgress(call_id, SipLegState.DISCONNECTED, None, _reason(exc)))
        if self._direct_ident == threading.get_ident():
            job()  # registered runtime thread + asynchronous DNS: send the INVITE now, no thread hop
        else:
            self.submit(job)

    def allow_direct_dial(self) -> bool:
        """Register the calling (runtime) thread with pjsua so dials are sent from it without a thread hop.

        Only when pjsip resolves names asynchronously (nameservers configured): ``makeCall`` then never blocks
        on DNS, and costs less than the hand-off to the SIP thread and back through the GIL."""
        if not self._nameservers:
            return False
        self.ep.libRegisterThread("runtime")
        self._direct_ident = threading.get_ident()
        return True

    def _call_op(self, call_id: str, op: Callable[[_Call], None]) -> None:
        def job() -> None:
            call = self._calls.get(call_id)
            if call is None or call.ended:
                return
            try:
                op(call)
            except pj.Error as exc:
                log.warning("call %s: %s", call_id, _reason(exc))
        self.submit(job)

    def answer(self, call_id: str) -> None:
        def op(c: _Call) -> None:
            prm = pj.CallOpParam(True)
            prm.statusCode = 200
            c.answer(prm)
        self._call_op(call_id, op)

    def ring(self, call_id: str) -> None:
        def op(c: _Call) -> None:
            prm = pj.CallOpParam()
            prm.statusCode = 180
            c.answer(prm)
        self._call_op(call_id, op)

    def hangup(self, call_id: str, sip_code: int | None = None) -> None:
        def op(c: _Call) -> None:
            prm = pj.CallOpParam()
            if sip_code:
                prm.statusCode = sip_code
            c.hangup(prm)
        self._call_op(call_id, op)

    def hold(self, call_id: str) -> None:
        def op(c: _Call) -> None:
            self.media.call_media_inactive(c.call_id)
            c.setHold(pj.CallOpParam(True))
        self._call_op(call_id, op)

    def resume(self, call_id: str) -> None:
        def op(c: _Call) -> None:
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            c.reinvite(prm)
        self._call_op(call_id, op)

    def set_mute(self, call_id: str, muted: bool) -> None:
        self._call_op(call_id, lambda c: self.media.set_mute(c.call_id, muted))

    def send_dtmf(self, call_id: str, digits: str, method: str) -> None:
        # Timers hold the call id, never the Call: a Call must only die in its DISCONNECTED callback.
        def later(delay: float, fn: Callable[[_Call], None]) -> None:
            self.worker.later(delay, lambda: self._with_call(call_id, fn))

        def send(c: _Call, tries: int = 0) -> None:
            if not c.media_active and method != "info" and tries < 30:
                # right after answer the RTP stream may not be up yet: wait for it instead of losing digits
                later(0.05, lambda c2: send(c2, tries + 1))
                return
            if method == "info":
                # one INFO per digit, paced like key presses: back-to-back INFOs can overtake each other
                # through a multi-process proxy and be refused (500 Invalid CSeq) by the far end
                for i, d in enumerate(digits):
                    later(0.2 * i, functools.partial(_send_info_digit, digit=d))
            else:
                c.dialDtmf(digits)

        self._call_op(call_id, send)

    def _with_call(self, call_id: str, fn: Callable[[_Call], None]) -> None:
        call = self._calls.get(call_id)
        if call is not None and not call.ended:
            fn(call)

    def transfer(self, call_id: str, uri: str) -> None:
        self._call_op(call_id, lambda c: c.xfer(uri, pj.CallOpParam(True)))

    def transfer_attended(self, call_id: str, target_call_id: str) -> None:
        def op(c: _Call) -> None:
            other = self._calls.get(target_call_id)
            if other is not None and not other.ended:
                c.xferReplaces(other, pj.CallOpParam(True))
        self._call_op(call_id, op)

    # ------------------------------------------------------------------ callbacks (pjsip worker thread)

    def _on_incoming(self, acc: _Account, pj_call_id: int, rdata: Any) -> None:
        src = str(rdata.srcAddress)
        message = _wire_text(rdata)
        if not self._admitted(acc.name, src, message):
            # The front door should have stopped it (it is off, or the request matched another account's
            # door): refuse before anything rings. The Call object answers and is released at DISCONNECTED.
            refused = _Call(self, acc, f"refused-{uuid.uuid4()}", pj_call_id)
            with self._lock:
                self._calls[refused.call_id] = refused
            refused.refused = True
            prm = pj.CallOpParam()
            prm.statusCode = 403
            with contextlib.suppress(pj.Error):
                refused.hangup(prm)
            return
        if acc.demo_peer and self.demo is not None:
            self.demo.on_incoming(acc, pj_call_id)
            return
        call_id = str(uuid.uuid4())
        call = _Call(self, acc, call_id, pj_call_id)
        with self._lock:
            self._calls[call_id] = call
        ci = call.getInfo()
        remote, name = identify(str(ci.remoteUri), header_value(message, "P-Asserted-Identity"))
        self._emit(SipIncomingCall(
            call_id=call_id, account=acc.name, remote=remote, remote_name=name,
            to=display_remote(str(ci.localUri)),
        ))

    def _on_transfer_request(self, call: _Call, prm: Any) -> None:
        """We are being transferred (REFER): accept and track the new outbound call as our own."""
        new = _Call(self, call.acc, str(uuid.uuid4()))
        with self._lock:
            self._calls[new.call_id] = new
        prm.newCall = new
        remote = str(prm.dstUri)
        self._emit(SipNewCall(new.call_id, Direction.OUTBOUND, call.acc.name, display_remote(remote),
                              replaces=call.call_id, remote_name=display_name(remote)))

    def _on_replaced(self, call: _Call, prm: Any) -> None:
        """Attended-transfer target: an INVITE with Replaces took over ``call``; track the new call."""
        new = _Call(self, call.acc, str(uuid.uuid4()), int(prm.newCallId))
        with self._lock:
            self._calls[new.call_id] = new
        prm.newCall = new
        remote = str(new.getInfo().remoteUri)
        self._emit(SipNewCall(new.call_id, Direction.INBOUND, call.acc.name, display_remote(remote),
                              replaces=call.call_id, remote_name=display_name(remote)))

    def _on_disconnected(self, call: _Call) -> None:
        with contextlib.suppress(Exception):
            self.media.call_ended(call.call_id)
        with self._lock:
            # Drop our reference inside the DISCONNECTED callback (pjsua2's "delete this" point). Destroying a
            # Call later is unsafe: ~Call clears the user data of, and hangs up, whatever call reuses its slot.
            if self._calls.get(call.call_id) is call:
                del self._calls[call.call_id]

    def _on_media_state(self, call: _Call) -> None:
        ci = call.getInfo()
        active = False
        remote_hold = False
        codec = ""
        for i, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            if mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                active = True
                self.media.call_media_active(call.call_id, call.getAudioMedia(i))
                try:
                    si = call.getStreamInfo(i)
                    codec = f"{si.codecName}/{si.codecClockRate}"
                except pj.Error:
                    pass
            elif mi.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD:
                remote_hold = True
                self.media.call_media_inactive(call.call_id)
            else:
                self.media.call_media_inactive(call.call_id)
        call.media_active = active
        self._emit(SipMediaUpdate(call.call_id, remote_hold, codec))


@contextlib.contextmanager
def _stdout_to_stderr() -> Any:
    import ctypes
    import sys

    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def _send_info_digit(call: Any, digit: str) -> None:
    prm = pj.CallSendDtmfParam()
    prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
    prm.digits = digit
    prm.duration = 160
    call.sendDtmf(prm)


def _system_nameservers(path: str = "/etc/resolv.conf") -> list[str]:
    """IPv4 nameservers of the system resolver (pjsip's resolver speaks plain DNS over UDP)."""
    out: list[str] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and parts[1].count(".") == 3:
                    out.append(parts[1])
    except OSError:
        return []
    return out[:3]


def _log_job_error(exc: BaseException) -> None:
    if isinstance(exc, pj.Error):
        log.warning("pjsua2 error: %s", exc.info() if hasattr(exc, "info") else exc)
    else:
        log.error("SIP command failed", exc_info=exc)


def _peer(address: str) -> Peer | None:
    """"1.2.3.4:5060" / "[::1]:5060" → Peer; None when unparsable."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit():
        return None
    return Peer(host.strip("[]"), int(port))


def _wire_text(rdata: Any) -> str:
    try:
        return str(rdata.wholeMsg)
    except Exception:
        return ""


_refusals = itertools.count(1)


def _log_refused(method: str, source: str, verdict: Verdict) -> None:
    """One line per refusal for the first few, then one in a hundred (a scan must not flood the log); the
    method is a parsed token and the source an address: nothing the sender wrote verbatim."""
    n = next(_refusals)
    if n <= 20 or n % 100 == 0:
        log.warning("SIP front door: %s from %s %s (%d refused so far)", method, source,
                    "answered 404" if verdict is Verdict.NOT_FOUND else "refused", n)


def _reason(exc: Any) -> str:
    reason = str(getattr(exc, "reason", "") or exc)
    title = str(getattr(exc, "title", ""))
    return f"{reason}" if not title else f"{reason} ({title})"
