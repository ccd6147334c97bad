"""What a surface (ctl API, window, widget, headset, CRM logging) may ask of the engine, as small Protocols.

Services are written against ``EngineAPI``, never against ``softphone.app.Engine``: a unit test hands them a
fake with the same few members, and the engine can change inside without touching any surface. Everything here
runs on the engine's loop thread unless it says otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from softphone.accounts import AccountService
    from softphone.bus import EventBus
    from softphone.config import Settings
    from softphone.core.phone import Phone
    from softphone.sip.media import MediaBridge
    from softphone.storage.history import HistoryStore

# Who is asking: the command registry (softphone/commands.py) decides what each surface may run.
Surface = Literal["ctl", "window", "widget", "headset"]


class EngineAPI(Protocol):
    """The engine as its services see it."""

    settings: Settings
    data_dir: Path
    bus: EventBus
    history: HistoryStore
    accounts: AccountService

    @property
    def phone(self) -> Phone | None: ...
    @property
    def media(self) -> MediaBridge: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...

    async def command(self, name: str, args: dict[str, Any] | None = None, *,
                      surface: Surface = "ctl") -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...
    def demo_call_me(self) -> None: ...
    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None: ...

    def sdk_logged(self, call_id: str) -> bool:
        """Did a HubSpot tab log this call through the SDK (so nobody else may log it)?"""
        ...

    def provide_sdk_log(self, answer: Callable[[str], bool] | None) -> None:
        """The widget server says who answers ``sdk_logged`` (None when it stops)."""
        ...


class Service(Protocol):
    """A surface or adapter started with the engine (widget server, ctl API, headset, CRM logging …)."""

    name: str

    async def start(self, engine: EngineAPI) -> None: ...
    async def stop(self) -> None: ...
    def describe(self) -> dict[str, Any]:
        """What this service adds to ``ctl status`` and the ``ready`` line ({} for nothing)."""
        ...
