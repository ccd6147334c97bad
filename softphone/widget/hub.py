"""Widget sessions ⇄ the engine: who tells HubSpot what, and when.

Every connected widget (one per HubSpot tab, plus the sandbox) is a ``Session``. Each call has at most one
*owner* session that speaks for it to HubSpot (the tab that dialled it; for other calls the preferred tab:
HubSpot's calling window, then the inbound "remote" frame, then a drag-and-drop widget; visible before
hidden; most recently active first). The owner gets the call's SDK messages from the ``CallLedger`` exactly
once; every session gets plain UI updates, so a second tab shows and controls the live call without ever
sending a second ``outgoingCall``.

Ownership survives reloads: when the owner goes away, the call's next owed message (or the next session to
say ``onReady``) picks a new owner; a session whose ``onReady`` carries the call's ``engagementId`` takes the
call back. Messages owed while no session is ready wait and are delivered in order when one is.

Completion is guaranteed: after ``callEnded`` the owner shows the post-call panel and sends the rep's
notes/outcome as ``callCompleted``. If the rep dials again, the page is closed (the widget sends
``callCompleted`` itself on ``pagehide``) or nobody acts for ``complete_after_s``, the call is completed with
the draft the rep left. Missed and refused inbound calls are completed at once (once HubSpot has told us the
engagement id, or after a short wait).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from softphone.core.events import (
    AvailabilityChanged,
    CallSnapshot,
    CallTransferred,
    CallUpdated,
    Direction,
    Notice,
    RegistrationChanged,
)
from softphone.core.phone import Phone
from softphone.errors import NoSuchCall, PhoneError, SoftphoneError
from softphone.hubspot import sdk
from softphone.hubspot.events import CompletionUnconfirmed
from softphone.hubspot.sdk import CallRecord, DialRequest, SdkMessage, SdkPayloadError
from softphone.ports import EngineAPI

log = logging.getLogger(__name__)

LOCATION_RANK = {"window": 0, "remote": 1, "widget": 2}
MAX_NUMBER = 256


@dataclass(eq=False)
class Session:
    """One connected widget page."""

    id: str
    send: Callable[[dict[str, Any]], None]
    connected_at: float
    ready: bool = False                 # the SDK said onReady: HubSpot accepts messages from this page
    location: str = "widget"            # iframeLocation: widget | remote | window
    uses_calling_window: bool = False
    hidden: bool = False
    last_active: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def relay_only(self) -> bool:
        """HubSpot's navigation-bar frame in calling-window mode: it only opens/relays to the calling window,
        which owns every call (HubSpot's demo never calls the SDK from the remote in that mode)."""
        return self.location == "remote" and self.uses_calling_window

    @property
    def can_own(self) -> bool:
        return self.ready and not self.relay_only


class FrameError(SoftphoneError):
    code = "bad_frame"


@functools.lru_cache(maxsize=256)
def pretty_number(number: str) -> str:
    """+14155550132 -> +1 415-555-0132 (what the rep reads); anything else unchanged."""
    if not number.startswith("+"):
        return number
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def _str_field(frame: dict[str, Any], key: str, *, limit: int = 200, required: bool = True) -> str | None:
    v = frame.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v or len(v) > limit:
        raise FrameError(f"“{key}” is missing or invalid.")
    return v


def _default_outcomes() -> list[dict[str, str]]:
    """HubSpot's six default call outcomes, as the post-call panel lists them (every account has them)."""
    return [{"label": k, "id": v} for k, v in sdk.DEFAULT_OUTCOMES.items()]


class WidgetHub:
    def __init__(self, engine: EngineAPI, *, clock: Callable[[], float] = time.monotonic,
                 complete_after_s: float = 900.0, engagement_wait_s: float = 5.0) -> None:
        self.engine = engine
        self.sessions: dict[str, Session] = {}
        self.ledger = sdk.CallLedger(own_number=self._own_number,
                                     hide_widget=engine.settings.widget.hide_widget_after_call)
        self.dedupe = sdk.DialDeduper()
        self.stats: dict[str, int] = {"dials": 0, "duplicate_dials": 0, "refused_dials": 0}
        self._clock = clock
        self._complete_after_s = complete_after_s
        self._engagement_wait_s = engagement_wait_s
        self._ids = itertools.count(1)
        self._dial_owner: str | None = None
        self._drafts: dict[str, tuple[str, str]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._postcall_sent: dict[str, tuple[str, int | None]] = {}
        self._caller_lookup: dict[str, str] = {}
        self._relayed: dict[str, set[str]] = {}      # call -> tabs that got a copy of its incomingCall
        self.outcomes: list[dict[str, str]] = _default_outcomes()
        self._logged_in: bool | None = engine.phone.logged_in if engine.phone is not None else None
        bus = engine.bus
        self._unsubscribe = [
            bus.subscribe(CallUpdated, self._on_call),
            bus.subscribe(RegistrationChanged, self._on_registration),
            bus.subscribe(AvailabilityChanged, self._on_availability),
            bus.subscribe(Notice, self._on_notice),
            bus.subscribe(CallTransferred, self._on_transferred),
        ]
        self._owed_stored: set[str] = set()
        self._restore_postcalls()

    def close(self) -> None:
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe = []
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()

    # ------------------------------------------------------------------ engine facts

    @property
    def phone(self) -> Phone:
        if self.engine.phone is None:
            raise PhoneError("The phone is still starting.")
        return self.engine.phone

    def _own_number(self, snap: CallSnapshot) -> str | None:
        """The rep's E.164 number for HubSpot (caller_id_number, else a phone-number URI user), or None."""
        acc = self.engine.settings.account(snap.account)
        if acc is None:
            return None
        return sdk.from_number(acc.caller_id_number, acc.user)

    def set_outcomes(self, data: object) -> bool:
        """The account's own call outcomes, once the CRM API answered (raw JSON, validated here); the six
        defaults stay when it gives none. Every open widget gets the new list. True if the account's list is used."""
        own = sdk.parse_call_outcomes(data)
        self.outcomes = own or _default_outcomes()
        self._broadcast({"type": "outcomes", "outcomes": self.outcomes})
        return bool(own)

    def sdk_logged(self, call_id: str) -> bool:
        """A widget session delivered outgoingCall/incomingCall for this call and HubSpot did not refuse the
        engagement: HubSpot logs it, nobody else may."""
        rec = self.ledger.get(call_id)
        return rec is not None and rec.started and not rec.engagement_failed

    def status(self) -> dict[str, Any]:
        st = self.phone.status()
        return {
            "logged_in": st["logged_in"],
            "available": st["available"],
            "accounts": [{k: a.get(k) for k in ("name", "demo", "registration", "reason")}
                         for a in st["accounts"]],
        }

    # ------------------------------------------------------------------ sessions

    def attach(self, send: Callable[[dict[str, Any]], None]) -> Session:
        now = self._clock()
        s = Session(id=f"w{next(self._ids)}", send=send, connected_at=now, last_active=now)
        self.sessions[s.id] = s
        s.send(self._hello(s))
        return s

    def detach(self, s: Session) -> None:
        self.sessions.pop(s.id, None)
        for call_id, (sid, _) in list(self._postcall_sent.items()):
            if sid == s.id:
                del self._postcall_sent[call_id]

    def _hello(self, s: Session) -> dict[str, Any]:
        calls = []
        for rec in self.ledger.records():
            if rec.live or rec.awaiting_completion:
                calls.append(self._view(rec.snapshot, rec, s))
        known = {c["call_id"] for c in calls}
        for snap in self.phone.calls():
            if snap.call_id not in known:
                calls.append(self._view(snap, None, s))
        return {
            "type": "hello",
            "session": s.id,
            "status": self.status(),
            "calls": calls,
            "outcomes": self.outcomes,
            "hide_widget": self.ledger.hide_widget,
        }

    def _preferred(self, exclude: str | None = None) -> Session | None:
        ready = [s for s in self.sessions.values() if s.can_own and s.id != exclude]
        if not ready:
            return None
        ready.sort(key=lambda s: (s.hidden, LOCATION_RANK.get(s.location, 3), -s.last_active))
        return ready[0]

    def _ensure_owner(self, rec: CallRecord) -> Session | None:
        cur = self.sessions.get(rec.owner) if rec.owner else None
        if cur is not None and not cur.relay_only:
            return cur if cur.ready else None
        new = self._preferred()
        if new is not None:
            if rec.owner is not None:
                log.info("call %s: owner %s is gone, %s takes over", rec.call_id, rec.owner, new.id)
            rec.owner = new.id
        return new

    # ------------------------------------------------------------------ sending

    def _send_sdk(self, s: Session, msg: SdkMessage) -> None:
        s.send(msg.to_json())

    def _view(self, snap: CallSnapshot, rec: CallRecord | None, s: Session) -> dict[str, Any]:
        d = snap.to_json()
        d.pop("dialing_context", None)
        d["owned"] = rec is not None and rec.owner == s.id
        d["remote_display"] = pretty_number(snap.remote)
        d["caller"] = [m.to_json() for m in rec.caller] if rec else []
        d["caller_name"] = sdk.describe(rec.caller) if rec else ""
        d["caller_lookup"] = self._caller_lookup.get(snap.call_id, "")
        d["awaiting_completion"] = bool(rec and rec.awaiting_completion)
        d["needs_rep"] = rec.needs_rep if rec else True
        d["suggested_outcome"] = sdk.suggested_outcome(snap)
        if rec is not None and rec.engagement_id is not None:
            d["engagement_id"] = rec.engagement_id
        return d

    def _broadcast_call(self, snap: CallSnapshot, rec: CallRecord | None) -> None:
        for s in list(self.sessions.values()):
            s.send({"type": "call", "call": self._view(snap, rec, s)})

    def _broadcast(self, frame: dict[str, Any], *, ready_only: bool = False) -> None:
        for s in list(self.sessions.values()):
            if s.ready or not ready_only:
                s.send(frame)

    def _flush(self, rec: CallRecord) -> None:
        """Deliver what HubSpot is owed for this call through its owner, if one is ready."""
        owner = self._ensure_owner(rec)
        if owner is None:
            return
        for msg in self.ledger.owed(rec.call_id):
            self._send_sdk(owner, msg)
            self._relay(rec, owner, msg)
        if not rec.awaiting_completion:
            return
        if not rec.needs_rep:
            self._auto_complete_soon(rec)
            return
        sent = self._postcall_sent.get(rec.call_id)
        self._store_owed(rec.call_id, True)
        if sent != (owner.id, rec.engagement_id):
            self._postcall_sent[rec.call_id] = (owner.id, rec.engagement_id)
            owner.send(self._postcall(rec, owner))
            self._arm_backstop(rec.call_id)

    def _relay(self, rec: CallRecord, owner: Session, msg: SdkMessage) -> None:
        """Several HubSpot tabs without a calling window: HubSpot expects ``incomingCall`` in every tab (its
        ringing UI and caller-ID match), but only the owner's creates the engagement. The other tabs also hear
        that the call was answered/ended, so their ringing UI closes; they never get ``callCompleted``."""
        if msg.method == "incomingCall":
            if owner.uses_calling_window:
                return
            others = [s for s in self.sessions.values()
                      if s is not owner and s.can_own and not s.uses_calling_window]
            self._relayed[rec.call_id] = {s.id for s in others}
            for s in others:
                self._send_sdk(s, SdkMessage(msg.method, {**msg.data, "createEngagement": False}, msg.call_id))
        elif msg.method in ("callAnswered", "callEnded"):
            data = {k: v for k, v in msg.data.items() if k != "engagementId"}
            for sid in self._relayed.get(rec.call_id, set()):
                other = self.sessions.get(sid)
                if other is not None and other is not owner and other.ready:
                    self._send_sdk(other, SdkMessage(msg.method, data, msg.call_id))
            if msg.method == "callEnded":
                self._relayed.pop(rec.call_id, None)

    def _postcall(self, rec: CallRecord, s: Session) -> dict[str, Any]:
        snap = rec.snapshot
        template = sdk.call_completed(snap, rec.engagement_id, own_number=self._own_number(snap),
                                      hide_widget=self.ledger.hide_widget)
        notes, disposition = self._drafts.get(rec.call_id, ("", ""))
        return {"type": "postcall", "call": self._view(snap, rec, s), "completion": template.data,
                "draft": {"notes": notes, "disposition": disposition or sdk.suggested_outcome(snap)}}

    # ------------------------------------------------------------------ completion

    def _timer(self, call_id: str, delay: float, fn: Callable[[], object]) -> None:
        old = self._timers.pop(call_id, None)
        if old is not None:
            old.cancel()
        self._timers[call_id] = asyncio.get_running_loop().call_later(delay, fn)

    def _arm_backstop(self, call_id: str) -> None:
        self._timer(call_id, self._complete_after_s, lambda: self._complete(call_id, reason="idle"))

    def _auto_complete_soon(self, rec: CallRecord) -> None:
        if rec.engagement_id is not None or rec.engagement_failed:
            self._complete(rec.call_id, reason="missed")
        elif rec.call_id not in self._timers:
            self._timer(rec.call_id, self._engagement_wait_s, lambda: self._complete(rec.call_id, reason="missed"))

    def _complete(self, call_id: str, *, reason: str, target: Session | None = None) -> bool:
        """Send ``callCompleted`` with the rep's draft (or the notes given). False if no session can."""
        rec = self.ledger.get(call_id)
        if rec is None or not rec.awaiting_completion:
            return False
        s = target if target is not None and target.ready else self._ensure_owner(rec)
        if s is None:
            return False
        notes, disposition = self._drafts.pop(call_id, ("", ""))
        if reason != "rep" and not disposition:
            disposition = sdk.suggested_outcome(rec.snapshot)
        self._store_outcome(call_id, notes, disposition)
        msg = self.ledger.complete(call_id, notes=notes, disposition=disposition)
        if msg is None:
            return False
        self._send_sdk(s, msg)
        self._finish(call_id)
        log.info("call %s completed (%s)", call_id, reason)
        return True

    def _restore_postcalls(self) -> None:
        """Calls whose post-call panel was open when the engine stopped: HubSpot is still owed their
        ``callCompleted``, with the notes the rep had typed; the first widget that connects shows the panel."""
        try:
            owed = self.engine.history.owed_postcalls()
        except Exception:
            log.exception("reading the open post-call panels from history failed")
            return
        for snap in owed:
            rec = self.ledger.restore(snap)
            if rec is not None:
                self._owed_stored.add(snap.call_id)
                if snap.notes or snap.disposition:
                    self._drafts[snap.call_id] = (snap.notes, snap.disposition)
                log.info("call %s: post-call panel restored (HubSpot still owed callCompleted)", snap.call_id)

    def _store_owed(self, call_id: str, owed: bool) -> None:
        """The post-call state lives in the history row, so an engine restart still completes the call."""
        if owed == (call_id in self._owed_stored):
            return
        try:
            self.engine.history.set_fields(call_id, postcall_owed=1 if owed else 0)
        except Exception:
            log.exception("storing the post-call state of %s failed", call_id)
            return
        if owed:
            self._owed_stored.add(call_id)
        else:
            self._owed_stored.discard(call_id)

    def _finish(self, call_id: str) -> None:
        self._store_owed(call_id, False)
        t = self._timers.pop(call_id, None)
        if t is not None:
            t.cancel()
        self._drafts.pop(call_id, None)
        self._postcall_sent.pop(call_id, None)
        self._caller_lookup.pop(call_id, None)
        self._broadcast({"type": "completed", "call_id": call_id})

    def _store_outcome(self, call_id: str, notes: str, disposition: str) -> None:
        if not notes and not disposition:
            return
        try:
            self.phone.set_outcome(call_id, notes=notes, disposition=disposition)
        except NoSuchCall:
            self.engine.history.set_fields(call_id, notes=notes, disposition=disposition)

    # ------------------------------------------------------------------ bus events

    def _on_call(self, ev: CallUpdated) -> None:
        snap = ev.call
        new = self.ledger.get(snap.call_id) is None
        rec = self.ledger.observe(snap)
        if rec is not None and new and snap.direction is Direction.INBOUND and not self.phone.available:
            # do-not-disturb refuses the call at once: an engagement would log a call the rep never saw
            rec.refused = True
        if rec is not None:
            if (rec.owner is None and not rec.started and self._dial_owner is not None
                    and snap.direction is Direction.OUTBOUND):
                rec.owner = self._dial_owner
            self._flush(rec)
        self._broadcast_call(snap, rec)

    def _on_registration(self, ev: RegistrationChanged) -> None:
        if self.engine.phone is None:
            return
        logged_in = self.phone.logged_in
        if logged_in != self._logged_in:
            self._logged_in = logged_in
            for s in self.sessions.values():
                if s.ready:
                    self._send_sdk(s, SdkMessage("userLoggedIn" if logged_in else "userLoggedOut", {}))
        self._broadcast({"type": "status", "status": self.status()})

    def _on_availability(self, ev: AvailabilityChanged) -> None:
        for s in self.sessions.values():
            if s.ready:
                self._send_sdk(s, SdkMessage("userAvailable" if ev.available else "userUnavailable", {}))
        self._broadcast({"type": "status", "status": self.status()})

    def _on_transferred(self, ev: CallTransferred) -> None:
        rec = self.ledger.get(ev.call_id)
        owner = self._ensure_owner(rec) if rec is not None else None
        if owner is None:
            return                          # nobody can tell HubSpot now; its callEnded still will
        msg = self.ledger.transferred(ev.call_id)
        if msg is not None:
            self._send_sdk(owner, msg)

    def _on_notice(self, ev: Notice) -> None:
        frame = {"type": "notice", "level": ev.level, "message": ev.message, "code": ev.code,
                 "call_id": ev.call_id}
        rec = self.ledger.get(ev.call_id) if ev.call_id else None
        if rec is not None:
            owner = self._ensure_owner(rec)
            if owner is not None and ev.level == "error":
                self._send_sdk(owner, sdk.send_error(ev.message))
        self._broadcast(frame)

    # ------------------------------------------------------------------ frames from widgets

    async def handle(self, s: Session, frame: object) -> None:
        """One JSON frame from a widget. Replies to frames carrying ``req``; never raises."""
        if not isinstance(frame, dict):
            return
        req = frame.get("req")
        kind = frame.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        try:
            if handler is None:
                raise FrameError("Unknown message type.")
            s.last_active = self._clock()
            result = await handler(self, s, frame)
        except SoftphoneError as exc:
            if req is not None:
                s.send({"type": "reply", "req": req, "ok": False,
                        "error": {"code": exc.code, "message": exc.message}})
            return
        except Exception:
            log.exception("widget frame %r failed", kind)
            if req is not None:
                s.send({"type": "reply", "req": req, "ok": False,
                        "error": {"code": "internal", "message": "Something went wrong in the softphone."}})
            return
        if req is not None:
            s.send({"type": "reply", "req": req, "ok": True, "result": result or {}})

    async def _h_ready(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        info = frame.get("sdk") if isinstance(frame.get("sdk"), dict) else {}
        assert isinstance(info, dict)
        first = not s.ready
        s.ready = True
        loc = info.get("iframeLocation")
        s.location = loc if isinstance(loc, str) and loc in LOCATION_RANK else "widget"
        s.uses_calling_window = bool(info.get("usesCallingWindow"))
        s.info = {k: info[k] for k in ("portalId", "userId", "ownerId") if isinstance(info.get(k), (int, str))}
        adopted: CallRecord | None = None
        if info.get("engagementId") is not None:
            try:
                eid = sdk.parse_engagement_id(info.get("engagementId"))
            except SdkPayloadError:
                eid = None
            adopted = self.ledger.by_engagement(eid) if eid is not None and s.can_own else None
            if adopted is not None and (adopted.live or adopted.awaiting_completion):
                adopted.owner = s.id
            else:
                adopted = None
        # HubSpot waits for `initialized` even while the phone is still starting: logged out until it is up
        st = self.phone.status() if self.engine.phone is not None else {"logged_in": False, "available": False}
        if frame.get("initialized"):
            # the page re-connected after an engine restart: HubSpot already had `initialized`
            self._send_sdk(s, SdkMessage("userLoggedIn" if st["logged_in"] else "userLoggedOut", {}))
            self._send_sdk(s, SdkMessage("userAvailable" if st["available"] else "userUnavailable", {}))
        elif first:
            self._send_sdk(s, sdk.initialized(logged_in=st["logged_in"], available=st["available"],
                                              engagement_id=adopted.engagement_id if adopted else None))
        for rec in self.ledger.records():
            if not rec.completed:
                self._flush(rec)
            if rec.owner == s.id:
                s.send({"type": "call", "call": self._view(rec.snapshot, rec, s)})
        return {"adopted": adopted.call_id if adopted else None}

    async def _h_dial(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._dial(s, frame)
        except SoftphoneError as exc:
            # every refused dial reaches the rep as a HubSpot alert; nothing was sent to the network
            self.stats["refused_dials"] += 1
            if s.ready:
                self._send_sdk(s, sdk.send_error(exc.message))
            raise

    async def _dial(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        source = frame.get("source", "hubspot")
        if source == "hubspot":
            req = sdk.parse_dial_number(frame.get("payload"))
        elif source == "widget":
            try:
                number = _str_field(frame, "number", limit=MAX_NUMBER)
            except FrameError:
                raise SdkPayloadError("Type a number to call.") from None
            assert number is not None
            key = "".join(ch for ch in number if ch.isalnum() or ch in "+*#@:.").lower()
            req = DialRequest(number=number, country=None, context={}, fingerprint=f"typed:{s.id}:{frame.get('req')}",
                              target_key=f"{key}|")
        else:
            raise FrameError("Unknown dial source.")
        now = self._clock()
        active = {c.call_id for c in self.phone.calls()}
        dup = self.dedupe.duplicate_of(req, now, in_progress=active.__contains__)
        if dup is not None:
            self.stats["duplicate_dials"] += 1
            log.info("duplicate dial request ignored (call %s)", dup or "in flight")
            return {"call_id": dup, "duplicate": True}
        self.dedupe.remember(req, "", now)
        for rec in self.ledger.awaiting_completion(owner=s.id):
            self._complete(rec.call_id, reason="next call", target=s)
        owner = s.id if not s.relay_only else None       # calling-window mode: the window takes the call
        self._dial_owner = owner
        try:
            result = await self.engine.command("dial", {
                "number": req.number,
                "country": req.country,
                "dialing_context": req.context if source == "hubspot" else None,
            }, surface="widget")
        except SoftphoneError:
            self.dedupe.forget(req)
            raise
        finally:
            self._dial_owner = None
        call_id = str(result["call_id"])
        self.dedupe.remember(req, call_id, now)
        self.stats["dials"] += 1
        placed = self.ledger.get(call_id)
        if placed is not None and placed.owner is None and owner is not None:
            placed.owner = owner
            self._flush(placed)
        return {"call_id": call_id}

    async def _h_engagement(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        data = frame.get("data") if isinstance(frame.get("data"), dict) else {}
        assert isinstance(data, dict)
        eid = sdk.parse_engagement_id(data.get("engagementId"))
        ext = data.get("externalCallId") if isinstance(data.get("externalCallId"), str) else None
        rec = self.ledger.engagement_created(s.id, eid, ext) or self.ledger.engagement_created(None, eid, ext)
        if rec is None:
            return {"call_id": None}
        try:
            self.phone.set_engagement(rec.call_id, rec.engagement_id or eid)
        except NoSuchCall:
            self.engine.history.set_fields(rec.call_id, engagement_id=eid)
            self._flush(rec)
        return {"call_id": rec.call_id}

    async def _h_engagement_failed(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        data = frame.get("data") if isinstance(frame.get("data"), dict) else {}
        assert isinstance(data, dict)
        ext = data.get("externalCallId") if isinstance(data.get("externalCallId"), str) else None
        rec = self.ledger.engagement_failed(s.id, ext) or self.ledger.engagement_failed(None, ext)
        if rec is None:
            return {"call_id": None}
        log.warning("HubSpot could not create an engagement for call %s", rec.call_id)
        self._flush(rec)
        return {"call_id": rec.call_id}

    def _inbound_for(self, s: Session) -> CallRecord | None:
        cands = [r for r in self.ledger.records() if r.snapshot.direction is Direction.INBOUND and r.started]
        mine = [r for r in cands if r.owner == s.id] or cands
        return mine[-1] if mine else None

    async def _h_caller_id(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        rec = self._inbound_for(s)
        if rec is None:
            return {"call_id": None}
        rec.caller = sdk.parse_caller_id_matches(frame.get("data"))
        self._caller_lookup[rec.call_id] = "matched" if rec.caller else "none"
        self._broadcast_call(rec.snapshot, rec)
        return {"call_id": rec.call_id, "matches": len(rec.caller)}

    async def _h_caller_id_failed(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        rec = self._inbound_for(s)
        if rec is None:
            return {"call_id": None}
        rec.caller = []
        self._caller_lookup[rec.call_id] = "none"
        self._broadcast_call(rec.snapshot, rec)
        return {"call_id": rec.call_id}

    async def _h_command(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        args = frame.get("args", {})
        if not isinstance(args, dict):
            raise FrameError("“args” must be an object.")
        # the registry decides what a HubSpot tab may run (call control, never settings or accounts)
        return await self.engine.command(frame.get("name"), args, surface="widget")  # type: ignore[arg-type]

    async def _h_end_call(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        """HubSpot's end-call button: the call this tab owns if it owns a live one, else the foreground call."""
        live = [r for r in self.ledger.live() if r.owner == s.id]
        fg = self.phone.foreground()
        if live and (fg is None or all(r.call_id != fg.call_id for r in live)):
            return await self.engine.command("hangup", {"call_id": live[-1].call_id}, surface="widget")
        if fg is None:
            raise NoSuchCall("No call to end.")
        return await self.engine.command("hangup", {"call_id": fg.call_id}, surface="widget")

    async def _h_draft(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        call_id = _str_field(frame, "call_id")
        assert call_id is not None
        notes, disposition = sdk.parse_outcome(frame.get("notes"), frame.get("disposition"))
        rec = self.ledger.get(call_id)
        if rec is not None and rec.awaiting_completion:
            self._drafts[call_id] = (notes, disposition)
            self._arm_backstop(call_id)
            # kept with the history row: an engine restart shows the panel again with what the rep typed
            try:
                self.engine.history.set_fields(call_id, notes=notes, disposition=disposition)
            except Exception:
                log.exception("storing the draft of %s failed", call_id)
        return {}

    async def _h_complete(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        call_id = _str_field(frame, "call_id")
        assert call_id is not None
        notes, disposition = sdk.parse_outcome(frame.get("notes"), frame.get("disposition"))
        rec = self.ledger.get(call_id)
        if rec is None or not rec.awaiting_completion:
            return {"already": True}
        self._drafts[call_id] = (notes, disposition)
        if frame.get("sent"):
            # the page sent callCompleted itself (engine unreachable, or the page closing): record it
            self._drafts.pop(call_id, None)
            self._store_outcome(call_id, notes, disposition)
            self.ledger.mark_completed(call_id)
            self._finish(call_id)
            if frame.get("closing") and rec.engagement_id is not None and (notes or disposition):
                # a closing page cannot know its message arrived (a whole-tab reload may drop it)
                self.engine.bus.publish(CompletionUnconfirmed(call_id, rec.engagement_id, notes, disposition))
            return {"completed": True}
        if not s.ready:
            raise PhoneError("HubSpot is not connected to this widget yet.")
        return {"completed": self._complete(call_id, reason="rep", target=s)}

    async def _h_visibility(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        data = frame.get("data") if isinstance(frame.get("data"), dict) else {}
        assert isinstance(data, dict)
        s.hidden = bool(data.get("isHidden")) or bool(data.get("isMinimized"))
        return {}

    async def _h_ping(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        return {"t": frame.get("t")}

    async def _h_note(self, s: Session, frame: dict[str, Any]) -> dict[str, Any]:
        """Host events we only log (onSetCallState, onUpdateEngagement*, onNavigateToRecordFailed, …)."""
        log.debug("widget %s: %s", s.id, str(frame.get("event"))[:80])
        return {}

    _handlers: dict[str, Callable[[WidgetHub, Session, dict[str, Any]], Any]] = {
        "ready": _h_ready,
        "dial": _h_dial,
        "engagement": _h_engagement,
        "engagement_failed": _h_engagement_failed,
        "caller_id": _h_caller_id,
        "caller_id_failed": _h_caller_id_failed,
        "command": _h_command,
        "end_call": _h_end_call,
        "draft": _h_draft,
        "complete": _h_complete,
        "visibility": _h_visibility,
        "ping": _h_ping,
        "host_event": _h_note,
    }
