"""The phone: every call command and every SIP report goes through here, on the runtime thread.

It owns the call records (as ``CallSnapshot``), validates commands before anything reaches the SIP port, runs
the state machine and the end-status mapping, and publishes ``CallUpdated`` / ``RegistrationChanged`` /
``Notice`` for every surface. No I/O: time, ids, timers and the SIP stack are injected.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from softphone.core.call import (
    RINGING_STATES,
    TALKING_STATES,
    IllegalTransition,
    foreground,
    hold_state,
    next_state,
    resume_state,
)
from softphone.core.endstatus import end_status
from softphone.core.events import (
    AvailabilityChanged,
    CallEndStatus,
    CallSnapshot,
    CallState,
    CallTransferred,
    CallUpdated,
    Direction,
    DtmfReceived,
    Notice,
    PhoneChanged,
    RegistrationChanged,
    RegState,
    SipBusyIncoming,
    SipCallProgress,
    SipConnectionLost,
    SipDtmfReceived,
    SipIncomingCall,
    SipMediaUpdate,
    SipNetworkChanged,
    SipNewCall,
    SipRegistration,
    SipTransferProgress,
)
from softphone.core.numbers import DialTarget, normalize
from softphone.core.ports import Scheduler, SipPort
from softphone.errors import InvalidNumber, NoSuchCall, NotRegistered, PhoneError, UnknownAccount

log = logging.getLogger(__name__)

MAX_CALLS = 4
DTMF_CHARS = frozenset("0123456789*#ABCDabcd")


@dataclass(frozen=True)
class AccountInfo:
    """What the core needs to know about an account (built from config by the composition root)."""

    name: str
    domain: str
    scheme: str = "sip"
    default_country: str = "US"
    has_registrar: bool = True
    demo: bool = False
    dtmf_method: str = "rfc4733"      # rfc4733 | info


@dataclass
class _Flags:
    cancelled_by_us: bool = False
    declined_by_us: bool = False
    timed_out: bool = False
    timer: object | None = None
    dnd: bool = False                  # refused on arrival (do-not-disturb or no free line)
    transfer_to: tuple[str, bool] | None = None   # (who, attended) while a transfer is under way
    refusal: str = ""
    lost: str = ""                     # why the network lost the call (it ends FAILED with this reason)


class Phone:
    def __init__(
        self,
        sip: SipPort,
        publish: Callable[[object], None],
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        scheduler: Scheduler,
        accounts: list[AccountInfo],
        no_answer_timeout_s: float = 60.0,
        inbound_ring_timeout_s: float = 60.0,
    ) -> None:
        self._sip = sip
        self._publish = publish
        self._now = clock
        self._new_id = new_id
        self._sched = scheduler
        self._accounts = {a.name: a for a in accounts}
        self._reg: dict[str, RegistrationChanged] = {
            a.name: RegistrationChanged(a.name, RegState.REGISTERING if a.has_registrar else RegState.NONE)
            for a in accounts
        }
        self._calls: dict[str, CallSnapshot] = {}
        self._flags: dict[str, _Flags] = {}
        self._ended: dict[str, CallSnapshot] = {}
        self.no_answer_timeout_s = no_answer_timeout_s
        self.inbound_ring_timeout_s = inbound_ring_timeout_s
        self.available = True
        self._summary: PhoneChanged | None = None

    def upsert_account(self, info: AccountInfo) -> None:
        """An account added or changed in settings while running (its registration restarts)."""
        self._accounts[info.name] = info
        reg = RegistrationChanged(info.name, RegState.REGISTERING if info.has_registrar else RegState.NONE)
        self._reg[info.name] = reg
        self._publish(reg)
        self._summarize()

    def remove_account(self, name: str) -> None:
        if self._accounts.pop(name, None) is not None:
            self._reg.pop(name, None)
            self._publish(RegistrationChanged(name, RegState.UNREGISTERED))
            self._summarize()

    # ------------------------------------------------------------------ queries

    @property
    def accounts(self) -> list[AccountInfo]:
        return list(self._accounts.values())

    def registration(self, account: str) -> RegistrationChanged:
        return self._reg[account]

    def can_call(self, account: str) -> bool:
        return self._reg[account].state in (RegState.REGISTERED, RegState.NONE)

    @property
    def logged_in(self) -> bool:
        """True when at least one account can place calls (HubSpot's isLoggedIn)."""
        return any(self.can_call(a) for a in self._accounts)

    def calls(self) -> list[CallSnapshot]:
        return list(self._calls.values())

    def call(self, call_id: str) -> CallSnapshot:
        try:
            return self._calls[call_id]
        except KeyError:
            ended = self._ended.get(call_id)
            if ended is not None:
                return ended
            raise NoSuchCall("No such call.") from None

    def foreground(self) -> CallSnapshot | None:
        """The call a bare hang-up, mute or DTMF acts on (``core.call.foreground``)."""
        return foreground(self._calls.values())

    def status(self) -> dict[str, Any]:
        fg = self.foreground()
        return {
            "available": self.available,
            "logged_in": self.logged_in,
            "foreground_call_id": fg.call_id if fg is not None else None,
            "accounts": [
                {
                    "name": a.name,
                    "domain": a.domain,
                    "demo": a.demo,
                    "registration": self._reg[a.name].state.value,
                    "sip_code": self._reg[a.name].sip_code,
                    "reason": self._reg[a.name].reason,
                }
                for a in self._accounts.values()
            ],
            "calls": [c.to_json() for c in self._calls.values()],
        }

    # ------------------------------------------------------------------ commands

    def default_account(self) -> AccountInfo:
        """The first account able to call, preferring real ones over the demo line."""
        ordered = sorted(self._accounts.values(), key=lambda a: a.demo)
        for a in ordered:
            if self.can_call(a.name):
                return a
        if not ordered:
            raise NotRegistered("No account is configured.")
        a = ordered[0]
        raise NotRegistered(self._not_registered_message(a.name))

    def resolve(self, target: str, account: str | None = None, country: str | None = None) -> DialTarget:
        acc = self._account(account) if account else self.default_account()
        return normalize(target, country or acc.default_country)

    def dial(
        self,
        target: str,
        account: str | None = None,
        country: str | None = None,
        dialing_context: dict[str, Any] | None = None,
    ) -> CallSnapshot:
        """Validate, then place a call. Raises ``PhoneError`` (nothing sent) on bad input or state."""
        acc = self._account(account) if account else self.default_account()
        dest = normalize(target, country or acc.default_country)
        if not self.can_call(acc.name):
            raise NotRegistered(self._not_registered_message(acc.name))
        if len(self._calls) >= MAX_CALLS:
            raise PhoneError(f"Too many calls at once (limit {MAX_CALLS}). Hang one up first.")
        # A new call puts the current conversation on hold, like every desk phone.
        for c in list(self._calls.values()):
            if c.state is CallState.ESTABLISHED:
                self.hold(c.call_id)
        call_id = self._new_id()
        snap = CallSnapshot(
            call_id=call_id,
            direction=Direction.OUTBOUND,
            account=acc.name,
            remote=dest.display,
            state=CallState.OUTGOING,
            started_at=self._now(),
            dialing_context=dialing_context,
        )
        self._calls[call_id] = snap
        self._flags[call_id] = _Flags()
        # INVITE first, then tell the surfaces (history write, widget): SIP replies come back through the
        # runtime loop, so none can be handled before this call record is published.
        self._sip.make_call(call_id, acc.name, dest.request_uri(acc.domain, acc.scheme))
        self._emit(snap, None)
        self._flags[call_id].timer = self._sched.call_later(
            self.no_answer_timeout_s, lambda: self._no_answer_timeout(call_id)
        )
        return snap

    def answer(self, call_id: str | None = None) -> CallSnapshot:
        snap = self._pick(call_id, {CallState.INCOMING}, "No incoming call to answer.")
        for other in list(self._calls.values()):
            if other.call_id != snap.call_id and other.state is CallState.ESTABLISHED:
                self.hold(other.call_id)  # call waiting: answering the new call holds the current one
        self._sip.answer(snap.call_id)
        return snap

    def decline(self, call_id: str | None = None) -> CallSnapshot:
        snap = self._pick(call_id, {CallState.INCOMING}, "No incoming call to decline.")
        self._flags[snap.call_id].declined_by_us = True
        self._sip.hangup(snap.call_id, 603)
        return snap

    def hangup(self, call_id: str | None = None) -> CallSnapshot:
        """End the given call, or the one the rep is most likely looking at."""
        if call_id is None:
            snap = self.foreground()
            if snap is None:
                raise NoSuchCall("No call to hang up.")
        else:
            snap = self.call(call_id)
            if not snap.active:
                raise NoSuchCall("That call has already ended.")
        flags = self._flags[snap.call_id]
        if snap.state is CallState.INCOMING:
            flags.declined_by_us = True
            self._sip.hangup(snap.call_id, 603)
        else:
            if snap.state in RINGING_STATES:
                flags.cancelled_by_us = True
            self._sip.hangup(snap.call_id)
        return snap

    def hold(self, call_id: str | None = None) -> CallSnapshot:
        snap = self._pick(call_id, {CallState.ESTABLISHED}, "No call in progress to hold.")
        self._update(snap, state=hold_state(snap.state), held=True)
        self._sip.hold(snap.call_id)
        return self._calls[snap.call_id]

    def resume(self, call_id: str | None = None) -> CallSnapshot:
        snap = self._pick(call_id, {CallState.HELD}, "No held call to resume.")
        for other in list(self._calls.values()):
            if other.call_id != snap.call_id and other.state is CallState.ESTABLISHED:
                self.hold(other.call_id)
        self._update(snap, state=resume_state(snap.state), held=False)
        self._sip.resume(snap.call_id)
        return self._calls[snap.call_id]

    def swap(self) -> CallSnapshot:
        """Hold the current call and resume the held one (two-call juggling)."""
        held = [c for c in self._calls.values() if c.state is CallState.HELD]
        if not held:
            raise NoSuchCall("No held call to swap to.")
        return self.resume(held[-1].call_id)

    def mute(self, muted: bool, call_id: str | None = None) -> CallSnapshot:
        snap = self._pick(call_id, TALKING_STATES | RINGING_STATES, "No call to mute.")
        self._update(snap, muted=muted)
        self._sip.set_mute(snap.call_id, muted)
        return self._calls[snap.call_id]

    def dtmf(self, digits: str, call_id: str | None = None) -> CallSnapshot:
        if not isinstance(digits, str) or not digits or not set(digits) <= DTMF_CHARS or len(digits) > 64:
            raise InvalidNumber("DTMF digits must be 0-9, *, #, A-D.")
        snap = self._pick(call_id, {CallState.ESTABLISHED, CallState.EARLY}, "No call in progress for DTMF.")
        self._sip.send_dtmf(snap.call_id, digits.upper(), self._accounts[snap.account].dtmf_method)
        return snap

    def transfer(self, target: str, call_id: str | None = None) -> CallSnapshot:
        """Blind transfer (REFER). ``target`` may also be the call_id of another call: attended transfer."""
        snap = self._pick(call_id, TALKING_STATES, "No call to transfer.")
        if target in self._calls and target != snap.call_id:
            other = self._calls[target]
            if other.state not in TALKING_STATES:
                raise NoSuchCall("The consultation call is not connected yet.")
            self._flags[snap.call_id].transfer_to = (other.remote, True)
            self._sip.transfer_attended(snap.call_id, other.call_id)
            return snap
        acc = self._accounts[snap.account]
        dest = normalize(target, acc.default_country)
        self._flags[snap.call_id].transfer_to = (dest.display, False)
        self._sip.transfer(snap.call_id, dest.request_uri(acc.domain, acc.scheme))
        return snap

    def set_available(self, available: bool) -> None:
        if available != self.available:
            self.available = available
            self._publish(AvailabilityChanged(available))
            self._summarize()

    def set_engagement(self, call_id: str, engagement_id: int) -> CallSnapshot:
        snap = self.call(call_id)
        return self._update(snap, engagement_id=engagement_id)

    def set_remote_name(self, call_id: str, name: str, company: str = "", record_url: str = "") -> CallSnapshot:
        """Who the caller is, learnt after the call began (the CRM); live and recently ended calls. Only an
        https record link is kept (surfaces make it clickable)."""
        url = record_url if record_url.startswith("https://") else ""
        return self._update(self.call(call_id), remote_name=name, remote_company=company, record_url=url)

    def set_outcome(self, call_id: str, notes: str | None = None, disposition: str | None = None) -> CallSnapshot:
        snap = self.call(call_id)
        changes: dict[str, Any] = {}
        if notes is not None:
            changes["notes"] = notes
        if disposition is not None:
            changes["disposition"] = disposition
        return self._update(snap, **changes)

    # ------------------------------------------------------------------ SIP events

    def handle(self, event: object) -> None:
        """Entry point for everything the SIP adapter reports."""
        if isinstance(event, SipCallProgress):
            self._on_progress(event)
        elif isinstance(event, SipIncomingCall):
            self._on_incoming(event)
        elif isinstance(event, SipNewCall):
            self._on_new_call(event)
        elif isinstance(event, SipRegistration):
            self._on_registration(event)
        elif isinstance(event, SipMediaUpdate):
            self._on_media(event)
        elif isinstance(event, SipDtmfReceived):
            if event.call_id in self._calls:
                self._publish(DtmfReceived(event.call_id, event.digit))
        elif isinstance(event, SipTransferProgress):
            self._on_transfer(event)
        elif isinstance(event, SipBusyIncoming):
            self._on_busy_incoming(event)
        elif isinstance(event, SipConnectionLost):
            self._on_connection_lost(event)
        elif isinstance(event, SipNetworkChanged):
            self._publish(Notice("warning", "The network changed: reconnecting the phone line and live calls.",
                                 "network_changed"))
        else:
            log.warning("unknown SIP event %r", event)

    def _on_registration(self, ev: SipRegistration) -> None:
        if ev.account not in self._accounts:
            return
        new = RegistrationChanged(ev.account, ev.state, ev.sip_code, ev.reason)
        if new != self._reg[ev.account]:
            self._reg[ev.account] = new
            self._publish(new)
            self._summarize()

    def _on_incoming(self, ev: SipIncomingCall) -> None:
        busy = len(self._calls) >= MAX_CALLS
        snap = CallSnapshot(
            call_id=ev.call_id,
            direction=Direction.INBOUND,
            account=ev.account,
            remote=ev.remote,
            remote_name=ev.remote_name,
            local=ev.to,
            state=CallState.INCOMING,
            started_at=self._now(),
        )
        self._calls[ev.call_id] = snap
        self._flags[ev.call_id] = _Flags()
        if not self.available or busy:
            # Do-not-disturb / every line in use: refuse at once but keep the record (shown as missed), so the
            # rep sees who tried to call.
            self._flags[ev.call_id].dnd = True
            self._flags[ev.call_id].refusal = "Do not disturb" if not self.available else \
                f"All {MAX_CALLS} lines were in use"
            self._sip.hangup(ev.call_id, 486)
        else:
            self._sip.ring(ev.call_id)
            self._flags[ev.call_id].timer = self._sched.call_later(
                self.inbound_ring_timeout_s, lambda: self._no_answer_timeout(ev.call_id)
            )
        self._emit(snap, None)

    def _on_busy_incoming(self, ev: SipBusyIncoming) -> None:
        """Record a call the stack had to refuse for want of a free line (shown and logged as missed)."""
        now = self._now()
        snap = CallSnapshot(call_id=self._new_id(), direction=Direction.INBOUND, account=ev.account,
                            remote=ev.remote, remote_name=ev.remote_name, state=CallState.INCOMING, started_at=now)
        self._emit(snap, None)
        done = dataclasses.replace(snap, state=CallState.TERMINATED, ended_at=now, end_status=CallEndStatus.MISSED,
                                   sip_code=486, reason=f"All {MAX_CALLS} lines were in use")
        self._ended[done.call_id] = done
        self._emit(done, CallState.INCOMING)

    def _on_new_call(self, ev: SipNewCall) -> None:
        outbound = ev.direction is Direction.OUTBOUND
        snap = CallSnapshot(
            call_id=ev.call_id,
            direction=ev.direction,
            account=ev.account,
            remote=ev.remote,
            remote_name=ev.remote_name,
            state=CallState.OUTGOING if outbound else CallState.INCOMING,
            started_at=self._now(),
            reason=f"transfer of {ev.replaces}" if ev.replaces else "",
        )
        self._calls[ev.call_id] = snap
        self._flags[ev.call_id] = _Flags()
        self._emit(snap, None)
        if outbound:
            self._flags[ev.call_id].timer = self._sched.call_later(
                self.no_answer_timeout_s, lambda: self._no_answer_timeout(ev.call_id)
            )

    def _on_progress(self, ev: SipCallProgress) -> None:
        snap = self._calls.get(ev.call_id)
        if snap is None:
            return
        try:
            state = next_state(snap.state, ev.state)
        except IllegalTransition as exc:
            log.debug("ignoring %s for call %s: %s", ev.state, ev.call_id, exc)
            return
        flags = self._flags[ev.call_id]
        changes: dict[str, Any] = {"state": state}
        if ev.sip_code is not None:
            changes["sip_code"] = ev.sip_code
        if ev.reason:
            changes["reason"] = ev.reason
        if state is CallState.ESTABLISHED and snap.answered_at is None:
            changes["answered_at"] = self._now()
            self._cancel_timer(flags)
        if state is CallState.TERMINATED:
            self._cancel_timer(flags)
            changes["ended_at"] = self._now()
            changes["end_status"] = end_status(
                snap.direction,
                answered=snap.answered_at is not None,
                sip_code=ev.sip_code,
                cancelled_by_us=flags.cancelled_by_us,
                declined_by_us=flags.declined_by_us and not flags.dnd,
                timed_out=flags.timed_out,
                connection_lost=bool(flags.lost),
            )
            if flags.dnd:
                changes["reason"] = flags.refusal
            if flags.lost:
                changes["reason"] = flags.lost
            changes["held"] = False
        new = self._update(snap, **changes)
        if new.state is CallState.TERMINATED:
            del self._calls[new.call_id]
            del self._flags[new.call_id]
            self._ended[new.call_id] = new
            while len(self._ended) > 50:
                self._ended.pop(next(iter(self._ended)))
            if new.sip_code and new.end_status is CallEndStatus.FAILED and not flags.lost:
                why = new.reason or f"SIP {new.sip_code}"
                self._publish(Notice("error", f"Call to {new.remote} failed: {why}", "sip_failure", new.call_id))

    def _on_media(self, ev: SipMediaUpdate) -> None:
        snap = self._calls.get(ev.call_id)
        if snap is None:
            return
        self._update(snap, remote_hold=ev.remote_hold, codec=ev.codec or snap.codec)

    def _on_transfer(self, ev: SipTransferProgress) -> None:
        if ev.call_id not in self._calls or not ev.final:
            return
        if 200 <= ev.sip_code < 300:
            to, attended = self._flags[ev.call_id].transfer_to or ("", False)
            self._publish(CallTransferred(ev.call_id, to, attended))
            self._sip.hangup(ev.call_id)
        else:
            self._publish(Notice("error", f"Transfer failed (SIP {ev.sip_code}).", "transfer_failed", ev.call_id))

    def _on_connection_lost(self, ev: SipConnectionLost) -> None:
        """The call could not follow a network change: end it (BYE) as FAILED with the reason, never a silent
        line left up."""
        snap = self._calls.get(ev.call_id)
        if snap is None or not snap.active:
            return
        self._flags[ev.call_id].lost = ev.reason
        self._publish(Notice("error", f"Call with {snap.remote} lost: {ev.reason}.", "call_lost", ev.call_id))
        self._sip.hangup(ev.call_id)

    def _no_answer_timeout(self, call_id: str) -> None:
        """Outbound: nobody picked up (NO_ANSWER). Inbound: the rep never answered (MISSED; 480 to the caller)."""
        snap = self._calls.get(call_id)
        if snap is None or snap.state not in RINGING_STATES:
            return
        self._flags[call_id].timed_out = True
        if snap.direction is Direction.INBOUND:
            self._sip.hangup(call_id, 480)
        else:
            self._sip.hangup(call_id)

    # ------------------------------------------------------------------ helpers

    def _account(self, name: str) -> AccountInfo:
        try:
            return self._accounts[name]
        except KeyError:
            raise UnknownAccount(f"No account named “{name}”.") from None

    def _not_registered_message(self, account: str) -> str:
        reg = self._reg[account]
        why = f" ({reg.reason or 'SIP ' + str(reg.sip_code)})" if (reg.reason or reg.sip_code) else ""
        return f"Account “{account}” is not registered{why}; calls cannot be placed yet."

    def _pick(self, call_id: str | None, states: set[CallState] | frozenset[CallState], missing: str) -> CallSnapshot:
        if call_id is not None:
            snap = self._calls.get(call_id)
            if snap is None or snap.state not in states:
                raise NoSuchCall(missing)
            return snap
        for c in reversed(list(self._calls.values())):
            if c.state in states:
                return c
        raise NoSuchCall(missing)

    def _cancel_timer(self, flags: _Flags) -> None:
        if flags.timer is not None:
            self._sched.cancel(flags.timer)
            flags.timer = None

    def _update(self, snap: CallSnapshot, **changes: Any) -> CallSnapshot:
        new = dataclasses.replace(snap, **changes)
        if new == snap:
            return snap
        if new.call_id in self._calls:
            self._calls[new.call_id] = new
        elif new.call_id in self._ended:
            self._ended[new.call_id] = new
        self._emit(new, snap.state)
        return new

    def _emit(self, snap: CallSnapshot, previous: CallState | None) -> None:
        self._publish(CallUpdated(snap, previous))
        self._summarize()

    def _summarize(self) -> None:
        """Publish ``PhoneChanged`` when a derived fact changed (computed here once, never by a surface)."""
        fg = self.foreground()
        summary = PhoneChanged(fg.call_id if fg is not None else None, self.logged_in, self.available)
        if summary != self._summary:
            self._summary = summary
            self._publish(summary)
