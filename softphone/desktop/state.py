"""What the desktop shell (tray, toast, notifications) derives from the engine's event stream.

Pure: no Qt, no I/O. ``DesktopState.apply(event)`` takes one control-API event (``core.events.event_to_json``)
and returns the effects the shell must carry out, so the rules (which icon, when a toast appears or goes, what
counts as missed) are tested without a display. The window's page folds the same events with the same rules
(ui/app/store.js; tests/desktop/test_store.py holds the two together). Facts the engine derives — the
foreground call, ``logged_in``, do-not-disturb — come from its ``status`` snapshot and ``phone`` events as
they are, never recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

ACTIVE_STATES = frozenset({"OUTGOING", "RINGING", "EARLY", "INCOMING", "ESTABLISHED", "HELD"})


class TrayState(str, Enum):
    """The tray icon variants (one SVG each in assets/icons/tray-<value>.svg)."""

    OFFLINE = "offline"        # engine unreachable or no account can call
    READY = "ready"            # registered (or the demo line), available
    DND = "dnd"                # do not disturb: incoming calls are declined
    RINGING = "ringing"        # an incoming call is waiting
    IN_CALL = "call"
    MISSED = "missed"          # ready, with missed calls not seen yet


@dataclass(frozen=True)
class ShowToast:
    """An incoming call is ringing: show answer/decline, even when the window is hidden."""

    call: dict[str, Any]


@dataclass(frozen=True)
class HideToast:
    call_id: str


@dataclass(frozen=True)
class NotifyMissed:
    call: dict[str, Any]


@dataclass(frozen=True)
class TrayChanged:
    state: TrayState
    tooltip: str


Effect = ShowToast | HideToast | NotifyMissed | TrayChanged


def _call_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def caller_label(call: dict[str, Any]) -> str:
    """The name when known (HubSpot contact or SIP display name), else the number."""
    name = str(call.get("remote_name") or "").strip()
    remote = str(call.get("remote") or "").strip()
    return name or remote or "Unknown caller"


@dataclass
class DesktopState:
    connected: bool = False
    available: bool = True
    logged_in: bool = False
    accounts: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    foreground_call_id: str | None = None
    missed: int = 0
    _toasting: set[str] = field(default_factory=set)
    _tray: TrayChanged | None = None

    # ------------------------------------------------------------------ queries

    def tray_state(self) -> TrayState:
        if any(c.get("state") == "INCOMING" for c in self.calls.values()):
            return TrayState.RINGING
        if self.calls:
            return TrayState.IN_CALL
        if not self.connected or not self.logged_in:
            return TrayState.OFFLINE
        if not self.available:
            return TrayState.DND
        if self.missed:
            return TrayState.MISSED
        return TrayState.READY

    def tooltip(self) -> str:
        st = self.tray_state()
        if st is TrayState.RINGING:
            ringing = next(c for c in self.calls.values() if c.get("state") == "INCOMING")
            return f"Softphone — incoming call from {caller_label(ringing)}"
        if st is TrayState.IN_CALL:
            shown = self.foreground() or next(iter(self.calls.values()))
            more = f" (+{len(self.calls) - 1})" if len(self.calls) > 1 else ""
            return f"Softphone — in call with {caller_label(shown)}{more}"
        if st is TrayState.OFFLINE:
            if not self.connected:
                return "Softphone — phone engine not running"
            return "Softphone — no account can place calls"
        parts = ["Softphone — ready"]
        if st is TrayState.DND:
            parts = ["Softphone — do not disturb"]
        if self.missed:
            parts.append(f"{self.missed} missed call{'s' if self.missed != 1 else ''}")
        return ", ".join(parts)

    def foreground(self) -> dict[str, Any] | None:
        """The call a bare hang-up, mute or DTMF acts on: the engine's choice."""
        return self.calls.get(self.foreground_call_id) if self.foreground_call_id else None

    def incoming(self) -> list[dict[str, Any]]:
        return [c for c in self.calls.values() if c.get("state") == "INCOMING"]

    # ------------------------------------------------------------------ updates

    def apply(self, event: dict[str, Any]) -> list[Effect]:
        """Fold one engine event in; return the effects (toast, notification, tray) it causes."""
        kind = event.get("type")
        effects: list[Effect] = []
        if kind == "status":
            self._apply_status(event.get("status") or {}, effects)
        elif kind == "call":
            call = event.get("call")
            if isinstance(call, dict):
                self._apply_call(call, effects)
        elif kind == "phone":
            self.foreground_call_id = _call_id(event.get("foreground_call_id"))
            self.logged_in = bool(event.get("logged_in"))
            self.available = bool(event.get("available", True))
        elif kind == "registration":
            self._apply_registration(event)
        elif kind == "engine":
            self.connected = bool(event.get("connected"))
            if not self.connected:
                for call_id in sorted(self._toasting):
                    effects.append(HideToast(call_id))
                self._toasting.clear()
                self.calls.clear()
                self.foreground_call_id = None
        return self._with_tray(effects)

    def seen_missed(self) -> list[Effect]:
        """The rep looked (window shown on the history, or the notification opened)."""
        self.missed = 0
        return self._with_tray([])

    def _apply_status(self, status: dict[str, Any], effects: list[Effect]) -> None:
        self.connected = True
        self.available = bool(status.get("available", True))
        self.logged_in = bool(status.get("logged_in", False))
        self.foreground_call_id = _call_id(status.get("foreground_call_id"))
        self.accounts = [a for a in status.get("accounts") or [] if isinstance(a, dict)]
        fresh = {c["call_id"]: c for c in status.get("calls") or []
                 if isinstance(c, dict) and c.get("call_id") and c.get("state") in ACTIVE_STATES}
        for call_id in sorted(self._toasting - {k for k, c in fresh.items() if c.get("state") == "INCOMING"}):
            effects.append(HideToast(call_id))
            self._toasting.discard(call_id)
        self.calls = fresh
        for c in fresh.values():
            self._toast_rules(c, effects)

    def _apply_call(self, call: dict[str, Any], effects: list[Effect]) -> None:
        call_id = str(call.get("call_id") or "")
        if not call_id:
            return
        if call.get("state") in ACTIVE_STATES:
            self.calls[call_id] = call
        else:
            self.calls.pop(call_id, None)
            if call.get("direction") == "inbound" and call.get("end_status") == "MISSED":
                self.missed += 1
                effects.append(NotifyMissed(call))
        self._toast_rules(call, effects)

    def _toast_rules(self, call: dict[str, Any], effects: list[Effect]) -> None:
        call_id = str(call["call_id"])
        ringing = call.get("state") == "INCOMING" and call.get("direction", "inbound") == "inbound"
        if ringing:
            # re-sent on every update so the toast shows the newest name (HubSpot may match the contact late)
            self._toasting.add(call_id)
            effects.append(ShowToast(call))
        elif call_id in self._toasting:
            self._toasting.discard(call_id)
            effects.append(HideToast(call_id))

    def _apply_registration(self, event: dict[str, Any]) -> None:
        """The account's line (whether any account can call arrives as ``logged_in`` in a ``phone`` event)."""
        name = event.get("account")
        self.accounts = [{**acc, "registration": event.get("state"), "sip_code": event.get("sip_code"),
                          "reason": event.get("reason") or ""} if acc.get("name") == name else acc
                         for acc in self.accounts]

    def _with_tray(self, effects: list[Effect]) -> list[Effect]:
        tray = TrayChanged(self.tray_state(), self.tooltip())
        if tray != self._tray:
            self._tray = tray
            effects.append(tray)
        return effects
