"""Headset state machine: call state -> LEDs, headset requests -> phone commands. PURE.

One machine per engine, shared by every connected headset. It mirrors the calls it sees in ``CallUpdated``
and answers two questions:

- ``leds``: what every headset should show. Ring while a call rings in; Off-Hook while any call is up,
  *including held calls* (some headsets report on-hook when Off-Hook drops and the call would end); Hold while
  a call is held; Mute (and Microphone) mirrors the mute state of the call the mute button acts on.
- ``on_event(event) -> list[Command]``: what a ``HookSwitch``/``MuteSwitch``/``FlashPressed``/``RedialPressed``
  request means now. Every command names its ``call_id`` so a race with the app or the widget can at worst
  fail with ``no_such_call``; it never acts on another call.

LEDs are optimistic: answering lights Off-Hook at once and hanging up clears it at once, so headsets that
follow the Off-Hook LED (Jabra, Poly, EPOS) do not bounce back while SIP catches up. A failed command is
reported with ``command_failed`` and the LEDs fall back to the real call state.

Hook switch while a call rings: the first off-hook request answers it; a second hook request while that call
is still ringing (double press, or an absolute headset going back on hook) declines it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softphone.core.call import foreground
from softphone.core.events import CallSnapshot, CallState, Direction
from softphone.headset.decode import FlashPressed, HeadsetEvent, HookSwitch, LedState, MuteSwitch, RedialPressed

__all__ = ["Command", "HeadsetMachine"]

_UP = frozenset({CallState.OUTGOING, CallState.RINGING, CallState.EARLY, CallState.ESTABLISHED, CallState.HELD})


@dataclass(frozen=True)
class Command:
    """A call to ``Engine.command(name, args)``."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


class HeadsetMachine:
    def __init__(self, last_dialed: tuple[str, str | None] | None = None) -> None:
        self._calls: dict[str, CallSnapshot] = {}
        self._answering: set[str] = set()
        self._ending: set[str] = set()
        self._pending_mute: dict[str, bool] = {}
        self.last_dialed = last_dialed          # (number, account) of the last outbound call

    # ------------------------------------------------------------------ calls

    def on_call(self, snap: CallSnapshot) -> LedState:
        cid = snap.call_id
        if snap.state is CallState.TERMINATED:
            self._calls.pop(cid, None)
            self._answering.discard(cid)
            self._ending.discard(cid)
            self._pending_mute.pop(cid, None)
        else:
            self._calls[cid] = snap
            if snap.state is not CallState.INCOMING:
                self._answering.discard(cid)
            if self._pending_mute.get(cid) == snap.muted:
                self._pending_mute.pop(cid, None)
        if snap.direction is Direction.OUTBOUND and snap.remote:
            self.last_dialed = (snap.remote, snap.account or None)
        return self.leds

    def command_failed(self, cmd: Command) -> LedState:
        cid = cmd.args.get("call_id")
        if isinstance(cid, str):
            if cmd.name == "answer":
                self._answering.discard(cid)
            elif cmd.name in ("hangup", "decline"):
                self._ending.discard(cid)
            elif cmd.name == "mute":
                self._pending_mute.pop(cid, None)
        return self.leds

    @property
    def calls(self) -> list[CallSnapshot]:
        return list(self._calls.values())

    def _live(self) -> list[CallSnapshot]:
        return [c for c in self._calls.values() if c.call_id not in self._ending]

    def _ringing(self) -> list[CallSnapshot]:
        return [c for c in self._live() if c.state is CallState.INCOMING and c.call_id not in self._answering]

    def _foreground(self) -> CallSnapshot | None:
        """The engine's foreground rule (``core.call.foreground``) over the calls not being ended."""
        return foreground(self._live())

    @property
    def leds(self) -> LedState:
        live = self._live()
        fg = self._foreground()
        muted = False if fg is None else self._pending_mute.get(fg.call_id, fg.muted)
        return LedState(
            off_hook=any(c.state in _UP for c in live) or any(c.call_id in self._answering for c in live),
            ring=bool(self._ringing()),
            mute=muted,
            hold=any(c.state is CallState.HELD for c in live),
        )

    # ------------------------------------------------------------------ headset requests

    def on_event(self, event: HeadsetEvent) -> list[Command]:
        if isinstance(event, HookSwitch):
            return self._hook(event.off_hook)
        if isinstance(event, MuteSwitch):
            return self._mute(event.muted)
        if isinstance(event, FlashPressed):
            return self._flash()
        if isinstance(event, RedialPressed):
            return self._redial()
        return []

    def _hook(self, off_hook: bool) -> list[Command]:
        answering = [c for c in self._live() if c.call_id in self._answering and c.state is CallState.INCOMING]
        if answering:
            # A second hook event while the call we are answering still rings: decline it.
            cid = answering[-1].call_id
            self._answering.discard(cid)
            self._ending.add(cid)
            return [Command("decline", {"call_id": cid})]
        ringing = self._ringing()
        if off_hook:
            if ringing:
                cid = ringing[-1].call_id
                self._answering.add(cid)
                return [Command("answer", {"call_id": cid})]
            return []
        fg = self._foreground()
        if fg is None:
            return []
        self._ending.add(fg.call_id)
        return [Command("hangup", {"call_id": fg.call_id})]

    def _mute(self, muted: bool) -> list[Command]:
        fg = self._foreground()
        if fg is None:
            return []
        current = self._pending_mute.get(fg.call_id, fg.muted)
        if current == muted:
            return []
        self._pending_mute[fg.call_id] = muted
        return [Command("mute", {"call_id": fg.call_id, "muted": muted})]

    def _flash(self) -> list[Command]:
        live = self._live()
        established = [c for c in live if c.state is CallState.ESTABLISHED]
        held = [c for c in live if c.state is CallState.HELD]
        ringing = self._ringing()
        if ringing and (established or held):
            cid = ringing[-1].call_id           # call waiting: take it (the phone holds the current call)
            self._answering.add(cid)
            return [Command("answer", {"call_id": cid})]
        if established and held:
            return [Command("swap")]
        if established:
            return [Command("hold", {"call_id": established[-1].call_id})]
        if held:
            return [Command("resume", {"call_id": held[-1].call_id})]
        return []

    def _redial(self) -> list[Command]:
        if self._live() or self.last_dialed is None:
            return []
        number, account = self.last_dialed
        args: dict[str, Any] = {"number": number}
        if account:
            args["account"] = account
        return [Command("dial", args)]
