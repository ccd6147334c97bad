"""Test support for the widget: an Engine with a real Phone on a fake SIP port, and widget session stubs."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from softphone import commands
from softphone.accounts import AccountService
from softphone.bus import EventBus
from softphone.config import AccountConfig, Settings, WidgetConfig
from softphone.core.events import CallUpdated, SipCallProgress, SipIncomingCall, SipLegState, SipRegistration
from softphone.core.phone import AccountInfo, Phone
from softphone.errors import PhoneError
from softphone.ports import Surface
from softphone.sip.media import ConferenceOnlyMedia, MediaBridge
from softphone.storage.history import HistoryStore
from softphone.widget.hub import Session, WidgetHub
from tests.fakes import FakeClock, FakeScheduler, FakeSip


class FakeEngine:
    """``softphone.ports.EngineAPI`` with a real Phone (on a fake SIP port), real history and the real command
    registry: what the hub's unit tests need, without pjsua2."""

    def __init__(self, settings: Settings, data_dir: Path, phone_factory: Callable[[EventBus], Phone]) -> None:
        self.settings = settings
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.bus = EventBus()
        self.history = HistoryStore(data_dir / "history.db")
        self.accounts = AccountService()
        self.sip = FakeSip()
        self._phone = phone_factory(self.bus)
        self._media = ConferenceOnlyMedia()
        self._sdk_log: Callable[[str], bool] | None = None

    @property
    def phone(self) -> Phone | None:
        return self._phone

    @property
    def media(self) -> MediaBridge:
        return self._media

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return asyncio.get_event_loop()

    async def command(self, name: str, args: dict[str, Any] | None = None, *,
                      surface: Surface = "ctl") -> dict[str, Any]:
        return await commands.run(self, name, args, surface)

    def status(self) -> dict[str, Any]:
        return self._phone.status()

    def demo_call_me(self) -> None:
        raise PhoneError("The demo line is off in this test engine.")

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        asyncio.get_event_loop().call_soon_threadsafe(fn, *args)

    def sdk_logged(self, call_id: str) -> bool:
        return self._sdk_log is not None and self._sdk_log(call_id)

    def provide_sdk_log(self, answer: Callable[[str], bool] | None) -> None:
        self._sdk_log = answer


def make_engine(tmp: Path, *, registrar: bool = False, hide_widget: bool = False, port: int = 9025,
                origins: list[str] | None = None) -> FakeEngine:
    acc = AccountConfig(name="Office", sip_uri="sip:+15551230000@pbx.example",
                        registrar="sip:pbx.example" if registrar else None)
    widget = WidgetConfig(port=port, hide_widget_after_call=hide_widget)
    if origins is not None:
        widget.allowed_origins = origins
    settings = Settings(accounts=[acc], widget=widget)
    ids = itertools.count(1)
    sip_port = FakeSip()

    def phone(bus: EventBus) -> Phone:
        return Phone(sip=sip_port, publish=bus.publish, clock=FakeClock(),
                     new_id=lambda: f"call-{next(ids)}", scheduler=FakeScheduler(),
                     accounts=[AccountInfo(name="Office", domain="pbx.example", has_registrar=registrar)])

    engine = FakeEngine(settings, tmp / "data", phone)
    engine.sip = sip_port
    engine.bus.subscribe(CallUpdated, engine.history.on_call_updated)
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


def sip(engine: FakeEngine, call_id: str, state: SipLegState, code: int | None = None, reason: str = "") -> None:
    assert engine.phone is not None
    engine.phone.handle(SipCallProgress(call_id, state, code, reason))


def ring_in(engine: FakeEngine, call_id: str = "in-1", remote: str = "+14155550132") -> None:
    assert engine.phone is not None
    engine.phone.handle(SipIncomingCall(call_id=call_id, account="Office", remote=remote, to="+15551230000"))


def register(engine: FakeEngine, state: Any) -> None:
    assert engine.phone is not None
    engine.phone.handle(SipRegistration("Office", state))
