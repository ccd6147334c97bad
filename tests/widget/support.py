"""Test support for the widget: an Engine with a real Phone on a fake SIP port, and widget session stubs."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from softphone.app import Engine
from softphone.config import AccountConfig, Settings, WidgetConfig
from softphone.core.events import CallUpdated, SipCallProgress, SipIncomingCall, SipLegState, SipRegistration
from softphone.core.phone import AccountInfo, Phone
from softphone.widget.hub import Session, WidgetHub
from tests.fakes import FakeClock, FakeScheduler, FakeSip


def make_engine(tmp: Path, *, registrar: bool = False, hide_widget: bool = False, port: int = 9025,
                origins: list[str] | None = None) -> Engine:
    acc = AccountConfig(name="Office", sip_uri="sip:+15551230000@pbx.example",
                        registrar="sip:pbx.example" if registrar else None)
    widget = WidgetConfig(port=port, hide_widget_after_call=hide_widget)
    if origins is not None:
        widget.allowed_origins = origins
    settings = Settings(accounts=[acc], widget=widget)
    engine = Engine(settings, tmp / "data", optional_services=False)
    engine.bus.subscribe(CallUpdated, engine.history.on_call_updated)
    ids = itertools.count(1)
    engine.sip = FakeSip()
    engine.phone = Phone(sip=engine.sip, publish=engine.bus.publish, clock=FakeClock(),
                         new_id=lambda: f"call-{next(ids)}", scheduler=FakeScheduler(),
                         accounts=[AccountInfo(name="Office", domain="pbx.example", has_registrar=registrar)])
    return engine


class Widget:
    """A widget session as the hub sees it: records every frame it is sent."""

    def __init__(self, hub: WidgetHub) -> None:
        self.hub = hub
        self.frames: list[dict[str, Any]] = []
        self.session: Session = hub.attach(self.frames.append)
        self._req = itertools.count(1)

    async def send(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        req = next(self._req)
        await self.hub.handle(self.session, {**frame, "req": req})
        return next((f for f in self.frames if f.get("type") == "reply" and f.get("req") == req), None)

    async def ready(self, **sdk: Any) -> None:
        await self.send({"type": "ready", "sdk": {"iframeLocation": "widget", **sdk}})

    def sdk(self, method: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "sdk" and (method is None or f["method"] == method)]

    def methods(self) -> list[str]:
        return [f["method"] for f in self.frames if f.get("type") == "sdk"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == kind]

    def close(self) -> None:
        self.hub.detach(self.session)


def sip(engine: Engine, call_id: str, state: SipLegState, code: int | None = None, reason: str = "") -> None:
    assert engine.phone is not None
    engine.phone.handle(SipCallProgress(call_id, state, code, reason))


def ring_in(engine: Engine, call_id: str = "in-1", remote: str = "+14155550132") -> None:
    assert engine.phone is not None
    engine.phone.handle(SipIncomingCall(call_id=call_id, account="Office", remote=remote, to="+15551230000"))


def register(engine: Engine, state: Any) -> None:
    assert engine.phone is not None
    engine.phone.handle(SipRegistration("Office", state))
