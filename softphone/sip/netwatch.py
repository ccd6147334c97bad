"""Notices that the path under the registered accounts changed, and has pjsua move everything onto the new one.

Behind a home router the PBX reaches the phone through a mapping the router made for the phone's REGISTER (its
public address and port). A router that restarts, or reassigns ports, drops that mapping without telling anyone:
the next keep-alive makes a new one with another port, the PBX keeps sending calls to the old one, and the phone
stops ringing until the registration is refreshed, minutes later. Nothing arrives at the phone to say so.

So each registered account asks: every ``probe_interval(keepalive_s)`` an OPTIONS goes to its registrar (through
its proxy, on its own transport: the very flow calls will take) and the top ``Via`` of the answer says which
public address and port the server saw (``received``/``rport``, RFC 3581). Any answer will do — 200, 401, 404,
405 — all carry the Via. When that address differs from the one the registration was answered for, or answers
come back after a silence, the path changed: ``Endpoint.handleIpChange`` re-registers every account (pjsua's
contact rewriting learns the new address from the answer) and then re-INVITEs each call with new media
transports, Contact and Via (an ICE restart and a fresh TURN allocation where those are used).

A call whose media does not come back after the change (the far end refused the re-INVITE, or it timed out) is
handed to ``on_call_lost`` after ``MEDIA_GRACE_S``, so the engine can end it with a reason the rep can read
instead of leaving a silent line up.

The decisions are the pure :class:`FlowTracker` (tested without pjsua); :class:`NetWatch` is the adapter. All
pjsua calls happen on the engine's SIP command thread (``Worker``); ``on_probe_answer`` comes from pjsip's thread.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

PROBE_MIN_S = 2.0
PROBE_MAX_S = 30.0
MEDIA_GRACE_S = 6.0        # a re-INVITE through a PBX plus the first packets of the new media path
MEDIA_SAMPLE_S = 2.0       # media flowing = packets received within this window (our own RTP never pauses)
SETTLE_S = 3.0             # after a change, differences are pjsua's own re-registration settling, not new changes

REASON_LOST = "The network changed and the call could not be moved to the new connection"


def probe_interval(keepalive_s: int) -> float:
    """How often an account's path is checked: half the keep-alive interval, within [2 s, 30 s]; 0 = never
    (keep-alives off: nothing may be sent unasked). With the default 15 s keep-alive a router restart is seen
    within 7.5 s."""
    if keepalive_s <= 0:
        return 0.0
    return min(max(keepalive_s / 2.0, PROBE_MIN_S), PROBE_MAX_S)


@dataclass(frozen=True)
class Mapping:
    """The public address and port a server saw our request come from."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_VIA = re.compile(r"^(?:via|v)[ \t]*:[ \t]*(?P<value>[^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_SENT_BY = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*\w+\s+(?P<host>\[[^\]]+\]|[^;:\s]+)(?::(?P<port>\d+))?", re.IGNORECASE)
_PARAM = re.compile(r";\s*(?P<name>received|rport)\s*=\s*(?P<value>[^;,\s]+)", re.IGNORECASE)


def via_mapping(message: str) -> Mapping | None:
    """The address in the top ``Via`` of a response as the server saw it: ``received``/``rport`` where the
    server added them, else the sent-by host/port. None when there is no Via to read."""
    m = _VIA.search(message)
    if m is None:
        return None
    top = m.group("value").split(",", 1)[0].strip()
    sent = _SENT_BY.match(top)
    if sent is None:
        return None
    host = sent.group("host").strip("[]")
    port = int(sent.group("port") or 5060)
    for p in _PARAM.finditer(top):
        if p.group("name").lower() == "received":
            host = p.group("value").strip("[]")
        elif p.group("value").isdigit():
            port = int(p.group("value"))
    return Mapping(host, port)


class Verdict(enum.Enum):
    SAME = "same"
    CHANGED = "changed"
    UNKNOWN = "unknown"


@dataclass
class FlowTracker:
    """One account's view of its path to the registrar: what the registration saw, what probes see."""

    registered: Mapping | None = None
    last_seen: Mapping | None = None
    silent_probes: int = 0          # probes in a row that got no answer at all
    changes: int = 0
    last_change: float | None = None
    history: list[str] = field(default_factory=list)

    def on_registered(self, seen: Mapping | None) -> None:
        self.registered = seen
        self.last_seen = seen
        self.silent_probes = 0

    def on_answer(self, seen: Mapping | None, now: float) -> Verdict:
        """A probe was answered. CHANGED when the server now sees another address than at registration time,
        or when answers come back after a silence (the path broke; the old mapping may be gone with it)."""
        came_back = self.silent_probes > 0
        self.silent_probes = 0
        self.last_seen = seen
        if seen is None or self.registered is None:
            return Verdict.UNKNOWN
        if self.last_change is not None and now - self.last_change < SETTLE_S:
            return Verdict.SAME
        if seen != self.registered or came_back:
            self.changes += 1
            self.last_change = now
            why = f"now {seen} (registered as {self.registered})" if seen != self.registered else \
                f"answers came back at {seen} after a silence"
            self.history = [*self.history, why][-5:]
            return Verdict.CHANGED
        return Verdict.SAME

    def on_silence(self) -> None:
        self.silent_probes += 1


class AccountLike(Protocol):
    name: str

    def sendRequest(self, prm: Any) -> None: ...


@dataclass
class _Watched:
    acc: AccountLike
    target: str
    interval: float
    tracker: FlowTracker = field(default_factory=FlowTracker)
    generation: int = 0
    in_flight: bool = False


class NetWatch:
    """Per engine. ``registered``/``unregistered`` from ``Account.onRegState``, ``on_probe_answer`` from
    ``Account.onSendRequest``; ``stop`` before the accounts are shut down."""

    def __init__(self, ep: Any, later: Callable[[float, Callable[[], None]], None], *,
                 live_calls: Callable[[], dict[str, Any]] | None = None,
                 on_change: Callable[[str, str], None] | None = None,
                 on_call_lost: Callable[[str, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ep = ep
        self._later = later
        self._live_calls = live_calls or dict
        self._on_change = on_change
        self._on_call_lost = on_call_lost
        self._clock = clock
        self._accounts: dict[str, _Watched] = {}
        self._lock = threading.Lock()
        self._stopped = False

    # ------------------------------------------------------------------ from the engine

    def registered(self, acc: AccountLike, target: str, keepalive_s: int, answer: str) -> None:
        """The account registered; ``answer`` is the REGISTER response as received, ``target`` the URI probes
        go to (the registrar)."""
        seen = via_mapping(answer)
        interval = probe_interval(keepalive_s)
        with self._lock:
            w = self._accounts.get(acc.name)
            if w is None or w.acc is not acc:
                w = self._accounts[acc.name] = _Watched(acc, target, interval)
                start = True
            else:
                start = w.interval != interval or w.target != target
                w.target, w.interval = target, interval
            w.tracker.on_registered(seen)
            if start:
                w.generation += 1
                gen = w.generation
        if start and interval > 0:
            self._later(interval, lambda: self._probe(acc.name, gen))

    def unregistered(self, name: str) -> None:
        with self._lock:
            self._accounts.pop(name, None)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._accounts.clear()

    def status(self) -> dict[str, Any]:
        """For ``ctl status`` / doctor: per account the address the PBX sees and what changed lately."""
        with self._lock:
            return {name: {"public_address": str(w.tracker.last_seen) if w.tracker.last_seen else None,
                           "registered_as": str(w.tracker.registered) if w.tracker.registered else None,
                           "probe_interval_s": w.interval, "unanswered_probes": w.tracker.silent_probes,
                           "path_changes": w.tracker.changes, "recent_changes": list(w.tracker.history)}
                    for name, w in self._accounts.items()}

    def network_changed(self, why: str, *, local: bool = False) -> None:
        """Something outside noticed a change (a new local address: ``local``): move everything now."""
        self._later(0, lambda: self._handle_change(why, restart_listener=local))

    # ------------------------------------------------------------------ probes

    def _probe(self, name: str, generation: int) -> None:
        with self._lock:
            w = self._accounts.get(name)
            if self._stopped or w is None or w.generation != generation:
                return
            if w.in_flight:
                # the last probe is still unanswered (pjsip retransmits for up to 32 s): count a silence now,
                # so a dead path is noticed at the probe rate
                w.tracker.on_silence()
            w.in_flight = True
            interval = w.interval
            acc, target = w.acc, w.target
        try:
            import pjsua2 as pj

            prm = pj.SendRequestParam()
            prm.method = "OPTIONS"
            prm.txOption.targetUri = target
            acc.sendRequest(prm)
        except Exception as exc:  # a transport that is gone raises: that is a silence too
            log.info("path probe of %s not sent: %s", name, getattr(exc, "reason", exc))
            with self._lock:
                w.in_flight = False
                w.tracker.on_silence()
        self._later(interval, lambda: self._probe(name, generation))

    def on_probe_answer(self, name: str, prm: Any) -> None:
        """``Account.onSendRequest``: any response carries the Via we need; a timeout is a silence."""
        message = ""
        try:
            import pjsua2 as pj

            tsx = prm.e.body.tsxState
            if tsx.type == pj.PJSIP_EVENT_RX_MSG:
                message = str(tsx.src.rdata.wholeMsg)
        except Exception:
            message = ""
        with self._lock:
            w = self._accounts.get(name)
            if w is None:
                return
            w.in_flight = False
            if not message:
                w.tracker.on_silence()
                return
            verdict = w.tracker.on_answer(via_mapping(message), self._clock())
            why = w.tracker.history[-1] if w.tracker.history else ""
        if verdict is Verdict.CHANGED:
            log.warning("the network path of %s changed (%s): re-registering and moving calls", name, why)
            self._later(0, lambda: self._handle_change(f"{name}: {why}", restart_listener=False))

    # ------------------------------------------------------------------ the move

    def _handle_change(self, why: str, *, restart_listener: bool) -> None:
        import pjsua2 as pj

        with self._lock:
            if self._stopped:
                return
            for w in self._accounts.values():        # every account shares the router: none re-triggers now
                w.tracker.last_change = self._clock()
        self._watch_calls()
        prm = pj.IpChangeParam()
        prm.restartListener = restart_listener
        prm.shutdownTransport = False     # per account (AccountIpChangeConfig.shutdownTp): TCP/TLS only
        try:
            self._ep.handleIpChange(prm)
        except pj.Error as exc:
            log.error("handling the network change failed: %s", exc.reason)
        if self._on_change is not None:
            self._on_change("network_changed", why)

    def _watch_calls(self) -> None:
        """After the grace period, each call that was live at the change must be receiving media again: its
        packet count is read twice ``MEDIA_SAMPLE_S`` apart (the re-INVITE made new streams, so counts from
        before the change mean nothing); a call whose count did not move is lost. Each change watches its own
        calls: a later change never shortens an earlier call's grace."""
        ids = list(self._live_calls())
        if ids:
            self._later(MEDIA_GRACE_S, lambda: self._sample_calls(ids))

    def _sample_calls(self, ids: list[str]) -> None:
        if self._stopped:
            return
        calls = self._live_calls()
        counts = {cid: _rx_packets(calls[cid]) for cid in ids if cid in calls}
        if counts:
            self._later(MEDIA_SAMPLE_S, lambda: self._check_calls(counts))

    def _check_calls(self, before: dict[str, int]) -> None:
        if self._stopped:
            return
        calls = self._live_calls()
        lost = [cid for cid, n in before.items() if cid in calls and _rx_packets(calls[cid]) <= n]
        for call_id in lost:
            log.warning("call %s: no media after the network change; ending it", call_id)
            if self._on_call_lost is not None:
                self._on_call_lost(call_id, REASON_LOST)


def _rx_packets(call: Any) -> int:
    """RTP packets received on the call's audio streams so far (-1 when there is no stream to ask)."""
    total = -1
    try:
        import pjsua2 as pj

        info = call.getInfo()           # keep it: ``media`` points into this object (SWIG)
        for i, mi in enumerate(info.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                total = max(total, 0) + int(call.getStreamStat(i).rtcp.rxStat.pkt)
    except Exception:
        return total
    return total
