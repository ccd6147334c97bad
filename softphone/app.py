"""Composition root: build the adapters, wire them to the core over the bus, start and stop them in order.

One ``Engine`` per process (pjsua2 allows one Endpoint). Every surface — ctl API, desktop window, HubSpot
widget, headset — is a ``Service`` that gets the engine at start and talks to the phone only through
``Engine.command`` (validation, errors) and the bus (events), on the runtime loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from softphone import secrets
from softphone.bus import EventBus
from softphone.config import AccountConfig, Settings
from softphone.core.events import CallUpdated, Notice, RegistrationChanged, RegState
from softphone.core.phone import AccountInfo, Phone
from softphone.errors import PhoneError, SoftphoneError
from softphone.storage.history import HistoryStore

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "Demo line"


class Service(Protocol):
    """A surface or adapter started with the engine (widget server, ctl API, headset, …)."""

    name: str

    async def start(self, engine: Engine) -> None: ...
    async def stop(self) -> None: ...


# Optional services, loaded by module path so a missing extra (e.g. no hidapi) never stops the phone.
OPTIONAL_SERVICES: list[tuple[str, str]] = [
    ("softphone.widget.service", "WidgetService"),
    ("softphone.headset.service", "HeadsetService"),
]


class _LoopScheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> object:
        return self._loop.call_later(delay_s, callback)

    def cancel(self, handle: object) -> None:
        if isinstance(handle, asyncio.TimerHandle):
            handle.cancel()


def settle_heap() -> None:
    """Collect once and move every live object out of the collector's reach (``gc.freeze``), while no call has
    audio. A full collection over the engine's ~50 000 objects holds the GIL for ~30 ms (measured here), longer
    than pjmedia's clock thread can wait without the speaker running dry; frozen, the collections that come
    during a call only walk what the call itself allocated. Run at start and whenever the last call ends."""
    gc.unfreeze()      # (what was frozen before is looked at again: cycles that died since are freed)
    gc.collect()
    gc.freeze()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Engine:
    def __init__(self, settings: Settings, data_dir: Path, *, services: list[Service] | None = None,
                 optional_services: bool = True, media: Any = None, audio: bool = False) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.bus = EventBus()
        self.history = HistoryStore(data_dir / "history.db")
        self._extra_services = list(services or [])
        self._optional = optional_services
        self._media = media
        self._audio = audio
        self.services: list[Service] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.phone: Phone | None = None
        self.sip: Any = None
        self.demo_port: int | None = None
        self.stopped = asyncio.Event()
        self._ready: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def accounts(self) -> list[AccountConfig]:
        return [a for a in self.settings.accounts if a.enabled]

    async def start(self, register_timeout_s: float = 10.0) -> dict[str, Any]:
        """Start everything; returns the ``ready`` record once accounts registered or failed."""
        from softphone.sip.engine import SipEngine

        loop = asyncio.get_running_loop()
        self.loop = loop
        closed = self.history.close_orphans(_utcnow())
        if closed:
            log.warning("closed %d call(s) left open by a previous crash as FAILED", closed)
        self.bus.subscribe(CallUpdated, self.history.on_call_updated)

        accounts = self.accounts()
        passwords = {a.name: secrets.get_password(a.name) for a in accounts if a.auth_username}
        def emit(ev: object) -> None:
            loop.call_soon_threadsafe(self._on_sip_event, ev)

        if self._media is None and self._audio:
            self._media = self._make_sound_devices()

        self.sip = SipEngine(
            emit=emit,
            sip_port=self.settings.sip_port,
            media=self._media,
            bind_address=self.settings.sip_bind_address,
            tls_ca_file=next((a.tls_ca_file for a in accounts if a.transport == "tls" and a.tls_ca_file), None),
        )
        infos = [
            AccountInfo(name=a.name, domain=a.domain, scheme=a.scheme, default_country=a.default_country,
                        has_registrar=a.registrar is not None, dtmf_method=a.dtmf_method)
            for a in accounts
        ]
        if self.settings.use_demo_line:
            infos.append(AccountInfo(name=DEMO_ACCOUNT, domain="demo.invalid", has_registrar=False, demo=True))
        self.phone = Phone(
            sip=self.sip,
            publish=self.bus.publish,
            clock=_utcnow,
            new_id=lambda: str(uuid.uuid4()),
            scheduler=_LoopScheduler(loop),
            accounts=infos,
            no_answer_timeout_s=float(self.settings.no_answer_timeout_s),
        )
        reg_done = asyncio.Event()
        pending = {a.name for a in accounts if a.registrar}

        def on_reg(ev: RegistrationChanged) -> None:
            if ev.state in (RegState.REGISTERED, RegState.FAILED):
                pending.discard(ev.account)
            if not pending:
                reg_done.set()

        unsub = self.bus.subscribe(RegistrationChanged, on_reg)
        self._wire_media()
        await loop.run_in_executor(None, self.sip.start)
        self.sip.allow_direct_dial()
        self.demo_port = await loop.run_in_executor(
            None, self.sip.add_demo_line, DEMO_ACCOUNT) if self.settings.use_demo_line else None
        for a in accounts:
            self.sip.add_account(a, passwords.get(a.name))
        if not pending:
            reg_done.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reg_done.wait(), register_timeout_s)
        unsub()

        self.services = list(self._extra_services)
        if self._optional:
            for mod, cls in OPTIONAL_SERVICES:
                try:
                    factory = getattr(importlib.import_module(mod), cls)
                except (ImportError, AttributeError) as exc:
                    log.info("optional service %s not available: %s", mod, exc)
                    continue
                self.services.append(factory())
        for svc in self.services:
            try:
                await svc.start(self)
            except Exception as exc:
                # A surface failing to start (port taken, no HID) must not stop the phone: report and go on.
                log.error("service %s failed to start: %s", svc.name, exc)
                self._ready.setdefault("service_errors", {})[svc.name] = str(exc)
        assert self.phone is not None
        settle_heap()
        self._ready.update({
            "event": "ready",
            "accounts": self.phone.status()["accounts"],
            "demo_line": self.settings.use_demo_line,
            "services": [s.name for s in self.services],
        })
        return dict(self._ready)

    def _make_sound_devices(self) -> Any:
        """The sounddevice bridge; None (no devices, calls still work) when PortAudio is unusable."""
        try:
            from softphone.audio.bridge import SoundDeviceMedia

            def notice(level: str, message: str) -> None:
                self.call_soon_threadsafe(self.bus.publish, Notice(level, message, "audio_device"))

            return SoundDeviceMedia(self.settings.audio, self.data_dir, on_notice=notice)
        except Exception as exc:
            log.warning("audio bridge unavailable (%s): calls run without sound devices", exc)
            return None

    def _wire_media(self) -> None:
        """Ringtone/ringback/call-waiting follow call states; quality and recording land in history."""
        media = self._media
        if media is None or not hasattr(media, "sync_calls"):
            return
        loop = self.loop
        assert loop is not None

        def on_call(ev: CallUpdated) -> None:
            assert self.phone is not None
            media.sync_calls([c.state.value for c in self.phone.calls()])
            if ev.call.state.value == "TERMINATED":
                loop.call_later(1.0, self._store_media_stats, ev.call.call_id)
                loop.call_later(2.0, self._settle_if_idle)

        self.bus.subscribe(CallUpdated, on_call)

    def _settle_if_idle(self) -> None:
        if self.phone is not None and not any(c.state.value != "TERMINATED" for c in self.phone.calls()):
            settle_heap()

    def _store_media_stats(self, call_id: str) -> None:
        try:
            st = self._media.stats(call_id) if self._media is not None else {}
        except Exception as exc:
            log.debug("no media stats for %s: %s", call_id, exc)
            return
        fields: dict[str, Any] = {}
        if st.get("quality"):
            fields["quality"] = st["quality"]
        if st.get("recording_path"):
            fields["recording_path"] = str(st["recording_path"])
        if fields:
            self.history.set_fields(call_id, **fields)

    def media_stats(self, call_id: str) -> dict[str, Any]:
        try:
            stats: dict[str, Any] = self._media.stats(call_id) if self._media is not None else {}
            return stats
        except Exception:
            return {}

    async def stop(self) -> None:
        for svc in reversed(self.services):
            try:
                await asyncio.wait_for(svc.stop(), 5)
            except Exception as exc:
                log.warning("service %s did not stop cleanly: %s", svc.name, exc)
        if self.sip is not None:
            assert self.loop is not None
            await self.loop.run_in_executor(None, self.sip.stop)
            # deliver the DISCONNECTED reports of calls ended at shutdown so history is closed properly
            await asyncio.sleep(0)
        self.history.close()
        self.stopped.set()

    def _on_sip_event(self, ev: object) -> None:
        if self.phone is not None:
            self.phone.handle(ev)

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------------ commands

    async def command(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """The one command surface (ctl API, window, widget). Returns JSON; raises ``SoftphoneError``."""
        args = dict(args or {})
        handler = _COMMANDS.get(name)
        if handler is None:
            err = SoftphoneError(f"Unknown command “{name}”.")
            err.code = "unknown_command"
            raise err
        try:
            return await handler(self, args)
        except (TypeError, ValueError, KeyError) as exc:
            raise PhoneError(f"Bad arguments for {name}: {exc}") from None
        except OSError as exc:
            raise SoftphoneError(f"{name} failed: {exc.strerror or exc}") from None

    def status(self) -> dict[str, Any]:
        assert self.phone is not None
        st = self.phone.status()
        for c in st["calls"]:
            c["audio"] = self.media_stats(c["call_id"])
        hs = next((s for s in self.services if s.name == "headset"), None)
        if hs is not None and hasattr(hs, "status"):
            st["headsets"] = hs.status()
        st["demo_port"] = self.demo_port
        st["services"] = [s.name for s in self.services]
        return st


def _opt_str(args: dict[str, Any], key: str) -> str | None:
    v = args.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise PhoneError(f"“{key}” must be text.")
    return v


async def _dial(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    ctx = a.get("dialing_context")
    snap = e.phone.dial(a["number"], account=_opt_str(a, "account"), country=_opt_str(a, "country"),
                        dialing_context=ctx if isinstance(ctx, dict) else None)
    return snap.to_json()


def _simple(method: str, *keys: str) -> Callable[[Engine, dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def run(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
        assert e.phone is not None
        kwargs = {k: _opt_str(a, k) for k in keys}
        snap = getattr(e.phone, method)(**kwargs)
        return dict(snap.to_json())
    return run


async def _mute(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    return e.phone.mute(bool(a.get("muted", True)), call_id=_opt_str(a, "call_id")).to_json()


async def _toggle_mute(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    cur = e.phone.calls()
    target = next((c for c in reversed(cur) if c.call_id == a.get("call_id")), None) or (cur[-1] if cur else None)
    muted = not target.muted if target else True
    return e.phone.mute(muted, call_id=_opt_str(a, "call_id")).to_json()


async def _dtmf(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    snap = e.phone.dtmf(a["digits"], call_id=_opt_str(a, "call_id"))
    media = e._media
    if media is not None and hasattr(media, "play_dtmf"):
        media.play_dtmf(a["digits"])  # keypad feedback for the rep
    return snap.to_json()


async def _transfer(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    return e.phone.transfer(a["target"], call_id=_opt_str(a, "call_id")).to_json()


async def _available(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    e.phone.set_available(bool(a["available"]))
    return {"available": e.phone.available}


async def _status(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    return e.status()


async def _history(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    rows = e.history.list(limit=int(a.get("limit", 50)), query=str(a.get("query", "")),
                          status=a.get("status"), direction=a.get("direction"))
    return {"calls": rows}


async def _demo_call_me(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    if e.demo_port is None:
        raise PhoneError("The demo line is off (an account is configured; set demo_line = \"on\" to keep it).")
    e.sip.demo_call_me()
    return {"ok": True}


async def _normalize(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    t = e.phone.resolve(a["number"], account=_opt_str(a, "account"), country=_opt_str(a, "country"))
    return {"display": t.display, "is_uri": t.uri is not None}


async def _headsets(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    from softphone.headset.service import list_headsets

    assert e.loop is not None
    found = await e.loop.run_in_executor(None, list_headsets)
    hs = next((s for s in e.services if s.name == "headset"), None)
    return {"available": [h.to_json() for h in found],
            "connected": hs.status() if hs is not None and hasattr(hs, "status") else []}


async def _outcome(e: Engine, a: dict[str, Any]) -> dict[str, Any]:
    assert e.phone is not None
    return e.phone.set_outcome(a["call_id"], notes=_opt_str(a, "notes"),
                               disposition=_opt_str(a, "disposition")).to_json()


_COMMANDS: dict[str, Callable[[Engine, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "dial": _dial,
    "answer": _simple("answer", "call_id"),
    "decline": _simple("decline", "call_id"),
    "hangup": _simple("hangup", "call_id"),
    "hold": _simple("hold", "call_id"),
    "resume": _simple("resume", "call_id"),
    "swap": _simple("swap"),
    "mute": _mute,
    "unmute": lambda e, a: _mute(e, {**a, "muted": False}),
    "toggle_mute": _toggle_mute,
    "dtmf": _dtmf,
    "transfer": _transfer,
    "set_available": _available,
    "status": _status,
    "history": _history,
    "set_outcome": _outcome,
    "demo_call_me": _demo_call_me,
    "normalize": _normalize,
    "headsets": _headsets,
}


def _settings_commands() -> None:
    from softphone.settings_commands import COMMANDS

    _COMMANDS.update(COMMANDS)


_settings_commands()


def main_thread_is_loop() -> bool:
    return threading.current_thread() is threading.main_thread()
