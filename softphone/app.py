"""Composition root: build the adapters, wire them to the core over the bus, start and stop them in order.

One ``Engine`` per process (pjsua2 allows one Endpoint). Every surface — ctl API, desktop window, HubSpot
widget, headset — is a ``Service`` (``softphone.ports``) that gets the engine at start and talks to the phone
only through ``Engine.command`` (the registry in ``softphone.commands``: validation, surfaces, errors) and the
bus (events), on the runtime loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softphone import commands, secrets
from softphone.accounts import AccountService
from softphone.bus import EventBus
from softphone.config import AccountConfig, Settings
from softphone.config import load as load_settings
from softphone.core.events import CallState, CallUpdated, Notice, RegistrationChanged, RegState, SipRegistration
from softphone.core.inbound import Verdict
from softphone.core.phone import AccountInfo, Phone
from softphone.errors import ConfigError, PhoneError, SoftphoneError
from softphone.hubspot.events import CallerIdentified
from softphone.ports import Service, Surface
from softphone.sip import trust
from softphone.sip.media import ConferenceOnlyMedia, MediaBridge
from softphone.storage.history import HistoryStore

if TYPE_CHECKING:
    from softphone.sip.engine import SipEngine

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "Demo line"


# Optional services, loaded by module path so a missing extra (e.g. no hidapi) never stops the phone.
OPTIONAL_SERVICES: list[tuple[str, str]] = [
    ("softphone.widget.service", "WidgetService"),
    ("softphone.hubspot.logging_service", "LoggingService"),
    ("softphone.headset.service", "HeadsetService"),
    ("softphone.nat_probe", "NatCheckService"),
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
    audio. A full collection over the engine's tens of thousands of objects holds the GIL longer than pjmedia's
    clock thread can wait without the speaker running dry; frozen, the collections that come during a call only
    walk what the call itself allocated. Run at start and whenever the last call ends."""
    gc.unfreeze()      # (what was frozen before is looked at again: cycles that died since are freed)
    gc.collect()
    gc.freeze()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def account_info(a: AccountConfig) -> AccountInfo:
    """What the core needs to know of a configured account."""
    return AccountInfo(name=a.name, domain=a.domain, scheme=a.scheme, default_country=a.default_country,
                       has_registrar=a.registrar is not None, dtmf_method=a.dtmf_method)


class Engine:
    def __init__(self, settings: Settings, data_dir: Path, *, services: list[Service] | None = None,
                 optional_services: bool = True, media: MediaBridge | None = None, audio: bool = False) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.bus = EventBus()
        self.history = HistoryStore(data_dir / "history.db")
        self.accounts = AccountService(apply=self._apply_account)
        self._extra_services = list(services or [])
        self._optional = optional_services
        self._media: MediaBridge | None = media
        self._audio = audio
        self.services: list[Service] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._phone: Phone | None = None
        self._sip: SipEngine | None = None
        self.demo_port: int | None = None
        self._sdk_log: Callable[[str], bool] | None = None
        self.stopped = asyncio.Event()
        self._ready: dict[str, Any] = {}

    # ------------------------------------------------------------------ what services see (softphone.ports)

    @property
    def phone(self) -> Phone | None:
        return self._phone

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def media(self) -> MediaBridge:
        if self._media is None:
            self._media = ConferenceOnlyMedia()
        return self._media

    @property
    def sip(self) -> SipEngine:
        if self._sip is None:
            raise PhoneError("The phone is still starting.")
        return self._sip

    def demo_call_me(self) -> None:
        if self.demo_port is None:
            raise PhoneError("The demo line is off (an account is configured; set demo_line = \"on\" to keep it).")
        self.sip.demo_call_me()

    def sdk_logged(self, call_id: str) -> bool:
        return self._sdk_log is not None and self._sdk_log(call_id)

    def provide_sdk_log(self, answer: Callable[[str], bool] | None) -> None:
        self._sdk_log = answer

    def describe(self) -> dict[str, Any]:
        """What the services add to ``status`` and the ``ready`` line."""
        out: dict[str, Any] = {}
        for svc in self.services:
            out.update(svc.describe())
        return out

    # ------------------------------------------------------------------ lifecycle

    def enabled_accounts(self) -> list[AccountConfig]:
        return [a for a in self.settings.accounts if a.enabled]

    async def start(self, register_timeout_s: float = 10.0) -> dict[str, Any]:
        """Start everything; returns the ``ready`` record once accounts registered or failed."""
        from softphone.sip.engine import SipEngine

        loop = asyncio.get_running_loop()
        self._loop = loop
        closed = self.history.close_orphans(_utcnow())
        if closed:
            log.warning("closed %d call(s) left open by a previous crash as FAILED", closed)
        self.bus.subscribe(CallUpdated, self.history.on_call_updated)
        self.bus.subscribe(CallerIdentified, self._on_caller_identified)

        accounts = self.enabled_accounts()
        passwords: dict[str, str | None] = {}
        unusable: dict[str, str] = {}      # accounts that cannot register: why (shown as the registration reason)
        for a in accounts:
            if not a.auth_username:
                continue
            try:
                passwords[a.name] = secrets.read_password(a.name)
            except SoftphoneError as exc:
                unusable[a.name] = exc.message
                continue
            if passwords[a.name] is None:
                unusable[a.name] = f"No password stored: softphone account set-password {a.name!r}"
        def emit(ev: object) -> None:
            loop.call_soon_threadsafe(self._on_sip_event, ev)

        if self._media is None and self._audio:
            self._media = self._make_sound_devices()

        listen = None if self.settings.sip_bind_address else await loop.run_in_executor(
            None, trust.listen_address, accounts, not accounts)
        sip = self._sip = SipEngine(
            emit=emit,
            sip_port=self.settings.sip_port,
            media=self.media,
            bind_address=self.settings.sip_bind_address,
            listen_address=listen,
            user_agent=self.settings.user_agent,
            tls_ca_file=next((a.tls_ca_file for a in accounts if a.transport == "tls" and a.tls_ca_file), None),
        )
        infos = [account_info(a) for a in accounts]
        if self.settings.use_demo_line:
            infos.append(AccountInfo(name=DEMO_ACCOUNT, domain="demo.invalid", has_registrar=False, demo=True))
        self._phone = Phone(
            sip=sip,
            publish=self.bus.publish,
            clock=_utcnow,
            new_id=lambda: str(uuid.uuid4()),
            scheduler=_LoopScheduler(loop),
            accounts=infos,
            no_answer_timeout_s=float(self.settings.no_answer_timeout_s),
            inbound_ring_timeout_s=float(self.settings.inbound_ring_timeout_s),
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
        await loop.run_in_executor(None, sip.start)
        sip.allow_direct_dial()
        self.demo_port = await loop.run_in_executor(
            None, sip.add_demo_line, DEMO_ACCOUNT) if self.settings.use_demo_line else None
        await self._refresh_doors()
        for a in accounts:
            if a.name in unusable:
                pending.discard(a.name)
                self._phone.handle(SipRegistration(a.name, RegState.FAILED, None, unusable[a.name]))
                continue
            sip.add_account(a, passwords.get(a.name), _turn_password(a))
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
        settle_heap()
        self._ready.update({
            "event": "ready",
            "accounts": self._phone.status()["accounts"],
            "demo_line": self.settings.use_demo_line,
            "services": [s.name for s in self.services],
            **self.describe(),
        })
        return dict(self._ready)

    def _make_sound_devices(self) -> MediaBridge | None:
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
        media = self.media
        loop = self._loop
        assert loop is not None

        def on_call(ev: CallUpdated) -> None:
            phone = self._phone
            assert phone is not None
            media.sync_calls([c.state.value for c in phone.calls()])
            if ev.call.state is CallState.TERMINATED:
                loop.call_later(1.0, self._store_media_stats, ev.call.call_id)
                loop.call_later(2.0, self._settle_if_idle)

        self.bus.subscribe(CallUpdated, on_call)

    def _settle_if_idle(self) -> None:
        if self._phone is not None and not any(c.active for c in self._phone.calls()):
            settle_heap()

    def _store_media_stats(self, call_id: str) -> None:
        try:
            st = self.media.stats(call_id)
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
            return self.media.stats(call_id)
        except Exception:
            return {}

    async def _refresh_doors(self) -> None:
        """Tell the SIP front door who may ring each account (DNS off the loop)."""
        if self._sip is None or self._loop is None:
            return
        doors = await self._loop.run_in_executor(None, trust.doors, self.enabled_accounts())
        self._sip.set_doors(doors, Verdict.DROP if self.settings.stranger_calls == "ignore" else Verdict.REJECT)

    def _apply_account(self, a: AccountConfig | None, old_name: str | None) -> None:
        """Re-register a changed account in the running engine (or drop a removed one)."""
        if self._phone is None or self._sip is None or self._loop is None:
            return
        try:
            self.settings = load_settings()
        except ConfigError as exc:
            log.error("config unreadable after an account change: %s", exc.message)
        self._loop.create_task(self._refresh_doors())
        for name in {n for n in (old_name, a.name if a else None) if n}:
            self._sip.remove_account(name)
            self._phone.remove_account(name)
        if a is not None and a.enabled:
            self._phone.upsert_account(account_info(a))
            try:
                password = secrets.read_password(a.name) if a.auth_username else None
            except SoftphoneError as exc:
                self._phone.handle(SipRegistration(a.name, RegState.FAILED, None, exc.message))
                return
            self._sip.add_account(a, password, _turn_password(a))

    async def stop(self) -> None:
        for svc in reversed(self.services):
            try:
                await asyncio.wait_for(svc.stop(), 5)
            except Exception as exc:
                log.warning("service %s did not stop cleanly: %s", svc.name, exc)
        if self._sip is not None:
            assert self._loop is not None
            await self._loop.run_in_executor(None, self._sip.stop)
            # deliver the DISCONNECTED reports of calls ended at shutdown so history is closed properly
            await asyncio.sleep(0)
        self.history.close()
        self.stopped.set()

    def _on_caller_identified(self, ev: CallerIdentified) -> None:
        """HubSpot knows the caller: the contact's name wins over the SIP display name (window, history)."""
        if self._phone is not None and ev.name:
            with contextlib.suppress(SoftphoneError):
                self._phone.set_remote_name(ev.call_id, ev.name, ev.company, ev.record_url)

    def _on_sip_event(self, ev: object) -> None:
        if self._phone is not None:
            self._phone.handle(ev)

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------------ commands

    async def command(self, name: str, args: dict[str, Any] | None = None, *,
                      surface: Surface = "ctl") -> dict[str, Any]:
        """The one command surface: looked up in the registry (which surfaces may run it), arguments validated,
        then run. Returns JSON; raises ``SoftphoneError`` (never anything else for bad input)."""
        return await commands.run(self, name, args, surface)

    def status(self) -> dict[str, Any]:
        phone = self._phone
        if phone is None:
            raise PhoneError("The phone is still starting.")
        st = phone.status()
        for c in st["calls"]:
            c["audio"] = self.media_stats(c["call_id"])
        st["demo_port"] = self.demo_port
        if self._sip is not None:
            st["inbound"] = self._sip.inbound_status()
            st["sip_transports"] = dict(self._sip.transport_info)
            st["nat"] = self._sip.nat_status()
            st["stun"] = self._sip.stun_status()
        st["services"] = [s.name for s in self.services]
        st.update(self.describe())
        return st


def _turn_password(a: AccountConfig) -> str | None:
    """The account's TURN password from the keyring (``account set-password NAME --turn``); without it TURN is
    tried with none (the NAT check tells the rep the server refused)."""
    if not (a.turn_server and a.turn_username):
        return None
    from softphone.accounts import turn_key

    try:
        return secrets.read_password(turn_key(a.name))
    except SoftphoneError as exc:
        log.warning("account %s: TURN password unreadable: %s", a.name, exc.message)
        return None
