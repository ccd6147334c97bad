"""Every call lands in HubSpot and every caller gets a name, even when no HubSpot tab saw the call.

An engine service (``name``, ``start(engine)``, ``stop()``, ``describe()``) on the event bus:

- **Caller names.** A new call's number is looked up among HubSpot contacts (``phone`` / ``mobilephone`` in
  E.164 and national spellings) in a task of its own: the ring never waits. The answer is cached for a short
  while, bounded in time, and published as ``CallerIdentified``; nobody found, or any failure, publishes
  nothing (and is not an error the rep needs to see).
- **Call logging.** When a call ends, the widget hub is asked whether a HubSpot tab was told about it through
  the SDK (``sdk_logged``). If not, the call is written to the durable outbox and from there to HubSpot as a
  call engagement (the same properties the SDK path sends, plus our call id as ``hs_call_external_id``),
  associated with the caller's contact and company. Notes or an outcome added later (the desktop window's
  post-call panel) update the same engagement. The engagement id goes into the call (history row, every
  surface) either way.
- **Notes a closing tab sent.** A widget page that closes with its post-call panel open sends
  ``callCompleted`` itself and cannot know it arrived (a whole-tab reload may drop it:
  ``CompletionUnconfirmed``). The notes and outcome are then also written to the SDK's engagement through the
  API: an update of those two properties only, harmless when the message did arrive.
- **Nothing lost.** The outbox (``softphone.storage.outbox``) survives restarts. HubSpot down, 5xx or a
  timeout: retried with exponential backoff. 429: nothing is sent before ``Retry-After``. 4xx: the rep gets a
  ``Notice`` with HubSpot's reason, the call stays queued; a token fixed with ``softphone hubspot connect`` is
  picked up while running. A create whose answer never came (crash, timeout) is looked up by its external id
  — after HubSpot's search index had time to see it — before anything is created again: one call, one
  engagement.

Written against ``CrmEngine`` (what it needs of the engine), never ``softphone.app``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from softphone import secrets
from softphone.core.events import CallSnapshot, CallState, CallUpdated, Direction, Notice
from softphone.errors import NoSuchCall
from softphone.hubspot import sdk
from softphone.hubspot.crm import (
    PRIVATE_APP_LIMIT,
    SEARCH_LIMIT,
    AccountDetails,
    Contact,
    CrmAuthError,
    CrmClient,
    CrmError,
    CrmMissingScopes,
    phone_forms,
)
from softphone.hubspot.events import CallerIdentified, CallLogged, CallOutcomesKnown, CompletionUnconfirmed
from softphone.storage.outbox import FILENAME, REJECTED, RETRY, Outbox, OutboxItem

if TYPE_CHECKING:
    import httpx

    from softphone.bus import EventBus
    from softphone.config import Settings
    from softphone.core.phone import Phone
    from softphone.storage.history import HistoryStore

log = logging.getLogger(__name__)


class CrmEngine(Protocol):
    """What this service uses of the engine (a subset of ``softphone.ports.EngineAPI``)."""

    settings: Settings
    data_dir: Path
    bus: EventBus
    history: HistoryStore

    @property
    def phone(self) -> Phone | None: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...

    def sdk_logged(self, call_id: str) -> bool:
        """True when a HubSpot tab logged the call through the SDK (the widget hub answers): never twice."""
        ...


def own_number(settings: Settings, account: str) -> str:
    """The rep's side of a call as HubSpot shows it (what the callee sees as caller ID): the same rule as the
    widget's ``fromNumber`` (never a login name); empty when the account has no phone number to show."""
    acc = settings.account(account)
    if acc is None:
        return ""
    return sdk.from_number(acc.caller_id_number, acc.user) or ""


def call_title(direction: str, who: str) -> str:
    return f"{'Call to' if direction == Direction.OUTBOUND.value else 'Call from'} {who}"


def call_payload(snap: CallSnapshot, settings: Settings, *, existing: OutboxItem | None = None,
                 caller: Contact | None = None) -> dict[str, Any]:
    """What the outbox keeps for a call: the engagement properties (the SDK path's mapping, plus our call id as
    ``hs_call_external_id`` and a title) and the number spellings to find its contact by."""
    acc = settings.account(snap.account)
    country = acc.default_country if acc is not None else "US"
    forms = phone_forms(snap.remote, country)
    props = sdk.engagement_properties(snap, own_number=own_number(settings, snap.account), notes=snap.notes,
                                      disposition=snap.disposition)
    if existing is not None:
        title = str(existing.payload.get("properties", {}).get("hs_call_title", ""))
        auto_title = bool(existing.payload.get("auto_title"))
    else:
        auto_title = caller is None or not caller.name
        who = caller.name if caller is not None and not auto_title else (forms[1] if len(forms) > 1 else snap.remote)
        title = call_title(snap.direction.value, who)
    props["hs_call_title"] = title
    props["hs_call_external_id"] = snap.call_id
    had_notes = existing is not None and "hs_call_body" in existing.payload.get("properties", {})
    if had_notes and "hs_call_body" not in props:
        props["hs_call_body"] = ""       # notes were cleared: clear them in HubSpot too
    # auto_title: named after the number; the contact found when it is created names it instead
    return {"remote": snap.remote, "forms": forms, "direction": snap.direction.value, "properties": props,
            "auto_title": auto_title}


class LoggingService:
    name = "hubspot-crm"

    def __init__(self, *, token_source: Callable[[], str | None] = secrets.get_hubspot_token,
                 transport: httpx.AsyncBaseTransport | None = None, lookup_timeout_s: float = 2.0,
                 cache_ttl_s: float = 120.0, index_lag_s: float = 30.0, backoff_s: tuple[float, float] = (2.0, 300.0),
                 rejected_retry_s: float = 900.0, token_poll_s: float = 5.0,
                 limit: tuple[int, float] = PRIVATE_APP_LIMIT, search_limit: tuple[int, float] = SEARCH_LIMIT,
                 keep_done_s: float = 7 * 86400.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._token_source = token_source
        self._transport = transport
        self.lookup_timeout_s = lookup_timeout_s
        self.cache_ttl_s = cache_ttl_s
        self.index_lag_s = index_lag_s
        self.backoff_s = backoff_s
        self.rejected_retry_s = rejected_retry_s
        self.token_poll_s = token_poll_s
        self.limit = limit
        self.search_limit = search_limit
        self.keep_done_s = keep_done_s
        self._clock = clock
        self._engine: CrmEngine | None = None
        self._sdk_logged: Callable[[str], bool] = lambda _cid: False
        self.outbox: Outbox | None = None
        self.client: CrmClient | None = None
        self._token: str | None = None
        self._token_read_at = 0.0
        self.account: AccountDetails | None = None
        self._account_tried_at = -1e9
        self._cache: dict[str, tuple[float, Contact | None]] = {}
        self._inflight: dict[str, asyncio.Task[Contact | None]] = {}
        self._callers: collections.OrderedDict[str, Contact] = collections.OrderedDict()
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsub: list[Callable[[], None]] = []
        self._blocked_until: float | None = None     # the token was refused: hold every call until then
        self._token_lock = asyncio.Lock()
        self._noticed: set[str] = set()
        self.stats: dict[str, int] = {"created": 0, "updated": 0, "found": 0, "lookups": 0, "identified": 0,
                                      "sdk_logged": 0}
        self.last_error = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self, engine: CrmEngine) -> None:
        self._engine = engine
        self._sdk_logged = engine.sdk_logged
        loop = asyncio.get_running_loop()
        self.outbox = Outbox(engine.data_dir / FILENAME, clock=self._clock)
        pruned = self.outbox.prune(self.keep_done_s)
        if pruned:
            log.info("forgot %d call(s) HubSpot has had for a week", pruned)
        self._wake = asyncio.Event()
        await self._refresh_token(force=True)
        self._unsub.append(engine.bus.subscribe(CallUpdated, self._on_call))
        self._unsub.append(engine.bus.subscribe(CompletionUnconfirmed, self._on_unconfirmed))
        self._worker = loop.create_task(self._run(), name="hubspot-outbox")
        if self.client is not None:
            self._spawn(self._load_account())
        pending = self.outbox.counts()["pending"]
        log.info("HubSpot CRM: %s, %d call(s) waiting in the outbox",
                 "connected" if self.client else "not connected (softphone hubspot connect)", pending)

    async def stop(self) -> None:
        for unsub in self._unsub:
            unsub()
        self._unsub = []
        tasks = [t for t in (self._worker, *self._tasks, *self._inflight.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._worker = None
        self._tasks.clear()
        self._inflight.clear()
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None

    def describe(self) -> dict[str, Any]:
        counts = self.outbox.counts() if self.outbox is not None else {"pending": 0, "rejected": 0}
        return {"hubspot_crm": {
            "connected": self.client is not None,
            "portal_id": self.account.portal_id if self.account else None,
            "pending": counts["pending"], "rejected": counts["rejected"],
            "logged": self.stats["created"] + self.stats["found"], "sdk_logged": self.stats["sdk_logged"],
            "last_error": self.last_error,
        }}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def _settings(self) -> Settings:
        assert self._engine is not None
        return self._engine.settings

    # ------------------------------------------------------------------ token and client

    async def _refresh_token(self, *, force: bool = False) -> bool:
        """Re-read the token (the CLI may have changed it); rebuild the client when it changed. True if so."""
        async with self._token_lock:
            return await self._refresh_token_locked(force)

    async def _refresh_token_locked(self, force: bool) -> bool:
        now = time.monotonic()
        if not force and now - self._token_read_at < self.token_poll_s:
            return False
        self._token_read_at = now
        try:
            token = await asyncio.get_running_loop().run_in_executor(None, self._token_source)
        except Exception as exc:
            log.warning("could not read the HubSpot token: %s", type(exc).__name__)
            return False
        if token == self._token and (self.client is not None or not token):
            return False
        self._token = token
        old, self.client = self.client, None
        if old is not None:
            await old.aclose()
        self._cache.clear()             # another token may be another portal: its contacts are not ours
        if token:
            self.client = CrmClient(token, base_url=self._settings.hubspot.api_base_url,
                                    transport=self._transport, limit=self.limit, search_limit=self.search_limit)
            self.account = None
            self._account_tried_at = -1e9
        return True

    async def _load_account(self) -> None:
        client = self.client
        if client is None or time.monotonic() - self._account_tried_at < 60:
            return
        self._account_tried_at = time.monotonic()
        try:
            self.account = await client.account_details()
        except CrmError as exc:
            log.info("HubSpot account details unavailable (record links will follow): %s", exc.message)
        try:
            own = sdk.parse_call_outcomes(await client.call_outcomes())
        except CrmError as exc:
            log.info("HubSpot call outcomes unavailable (the six defaults stay): %s", exc.message)
            return
        if own and self._engine is not None:
            self._engine.bus.publish(CallOutcomesKnown(tuple((o["label"], o["id"]) for o in own)))

    # ------------------------------------------------------------------ bus

    def _on_call(self, ev: CallUpdated) -> None:
        snap = ev.call
        if ev.previous_state is None and self._settings.hubspot.lookup_callers:
            self._spawn(self._identify(snap))
        if snap.state is not CallState.TERMINATED:
            return
        if ev.previous_state is not CallState.TERMINATED:
            # after every subscriber (the widget hub among them) has seen the end of the call
            asyncio.get_running_loop().call_soon(self._call_ended, snap)
        elif self.outbox is not None and (item := self.outbox.get(snap.call_id)) is not None:
            # notes / outcome added after the end: same engagement, new version
            if item.payload.get("sdk_engagement") and item.remote_id is not None:
                self._queue_outcome(item, snap.call_id, item.remote_id, snap.notes, snap.disposition)
            else:
                self._queue(snap)

    def _on_unconfirmed(self, ev: CompletionUnconfirmed) -> None:
        """A closing page's callCompleted may never have reached HubSpot: write its notes and outcome to the
        SDK's engagement through the API too (an update, harmless if the message did arrive)."""
        if not self._settings.hubspot.log_calls or self.outbox is None:
            return
        existing = self.outbox.get(ev.call_id)
        if existing is not None and not existing.payload.get("sdk_engagement"):
            return                  # the API logged this call itself: its own updates carry the notes
        if self.client is not None:
            self._queue_outcome(existing, ev.call_id, ev.engagement_id, ev.notes, ev.disposition)
        else:
            self._spawn(self._queue_outcome_if_connected(ev))

    async def _queue_outcome_if_connected(self, ev: CompletionUnconfirmed) -> None:
        await self._refresh_token()
        if self.client is not None and self.outbox is not None:
            # read again: the outbox may have changed while the token was read
            self._queue_outcome(self.outbox.get(ev.call_id), ev.call_id, ev.engagement_id, ev.notes, ev.disposition)

    def _queue_outcome(self, existing: OutboxItem | None, call_id: str, engagement_id: int, notes: str,
                       disposition: str) -> None:
        """Only the post-call panel's properties, to HubSpot's own engagement: the rest is what the SDK logged.
        ``existing``: the call's outbox row as the caller just read it."""
        assert self.outbox is not None
        props = sdk.outcome_properties(notes, disposition)
        if existing is not None and "hs_call_body" in existing.payload.get("properties", {}):
            props.setdefault("hs_call_body", "")      # notes were cleared: clear them in HubSpot too
        if not props:
            return
        item = self.outbox.put(call_id, {"sdk_engagement": True, "properties": props})
        if item.remote_id != engagement_id:
            self.outbox.set_remote_id(call_id, engagement_id)
        if self._wake is not None:
            self._wake.set()

    def _call_ended(self, snap: CallSnapshot) -> None:
        if not self._settings.hubspot.log_calls or self._settings.account(snap.account) is None:
            return                  # logging off, or the built-in demo line (no real call to log)
        try:
            by_sdk = self._sdk_logged(snap.call_id)
        except Exception:
            log.exception("asking the widget hub about call %s failed; logging it through the API", snap.call_id)
            by_sdk = False
        if by_sdk:
            self.stats["sdk_logged"] += 1
            log.info("call %s was logged by a HubSpot tab (SDK): no API write", snap.call_id)
            return
        if self.client is not None:
            self._queue(snap)
        else:
            self._spawn(self._queue_if_connected(snap))

    async def _queue_if_connected(self, snap: CallSnapshot) -> None:
        """Not connected when the call ended: the rep may have run `softphone hubspot connect` meanwhile."""
        await self._refresh_token()
        if self.client is None:
            log.info("call %s not logged in HubSpot: not connected (softphone hubspot connect)", snap.call_id)
            return
        self._queue(snap)

    def _queue(self, snap: CallSnapshot) -> None:
        assert self.outbox is not None
        existing = self.outbox.get(snap.call_id)
        payload = self._payload(snap, existing)
        item = self.outbox.put(snap.call_id, payload)
        if item.pending and self._wake is not None:
            self._wake.set()

    def _payload(self, snap: CallSnapshot, existing: OutboxItem | None) -> dict[str, Any]:
        return call_payload(snap, self._settings, existing=existing, caller=self._callers.get(snap.call_id))

    # ------------------------------------------------------------------ caller names

    async def _identify(self, snap: CallSnapshot) -> None:
        acc = self._settings.account(snap.account)
        forms = phone_forms(snap.remote, acc.default_country) if acc is not None else []
        if not forms:
            return                  # not a phone number, or the demo line
        if self.client is None:
            await self._refresh_token()
            if self.client is None:
                return
        try:
            contact = await asyncio.wait_for(asyncio.shield(self._lookup(forms)), self.lookup_timeout_s)
        except (CrmError, asyncio.TimeoutError) as exc:
            log.debug("caller lookup for call %s failed: %s", snap.call_id, getattr(exc, "message", repr(exc)))
            return
        if contact is None:
            return
        self._callers[snap.call_id] = contact
        while len(self._callers) > 200:
            self._callers.popitem(last=False)
        if self.account is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._load_account()), self.lookup_timeout_s)
        url = self.account.contact_url(contact.id) if self.account is not None else ""
        self.stats["identified"] += 1
        assert self._engine is not None
        self._engine.bus.publish(CallerIdentified(snap.call_id, forms[0], contact.name, contact.company,
                                                  contact.id, url))

    def _lookup(self, forms: list[str]) -> asyncio.Future[Contact | None]:
        """One search per number at a time (a second call from the same number shares it), cached for
        ``cache_ttl_s``; failures are not cached."""
        key = forms[0]
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            fut: asyncio.Future[Contact | None] = asyncio.get_running_loop().create_future()
            fut.set_result(hit[1])
            return fut
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._search(forms))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return task

    async def _search(self, forms: list[str]) -> Contact | None:
        client = self.client
        if client is None:
            return None
        self.stats["lookups"] += 1
        # the client's normal timeouts, not the display bound: a late answer still fills the cache for the next call
        found = await client.search_contacts(forms)
        contact = found[0] if found else None
        self._cache[forms[0]] = (time.monotonic() + self.cache_ttl_s, contact)
        if len(self._cache) > 1000:
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        return contact

    # ------------------------------------------------------------------ outbox worker

    async def _run(self) -> None:
        assert self._wake is not None and self.outbox is not None
        while True:
            self._wake.clear()
            await self._refresh_token_and_unblock()     # re-read at most every token_poll_s (connect/disconnect)
            items = self.outbox.due()
            if not items:
                nxt = self.outbox.next_due_at()
                timeout = None if nxt is None else max(0.02, nxt - self._clock())
                if self._blocked_until is not None or (nxt is not None and self.client is None):
                    timeout = min(timeout or self.token_poll_s, self.token_poll_s)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            for item in items:
                fresh = self.outbox.get(item.key)
                if fresh is None or not fresh.pending or fresh.next_at > self._clock():
                    continue
                try:
                    await self._process(fresh)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # a bug must not stall the outbox: this row waits, the others go on
                    log.exception("outbox item %s failed unexpectedly", fresh.key)
                    self.outbox.failed(fresh.key, "internal error (see the log)", RETRY,
                                       self._clock() + self.backoff_s[1])

    async def _refresh_token_and_unblock(self) -> None:
        changed = await self._refresh_token()
        assert self.outbox is not None
        if changed and self.client is not None:
            was_blocked = self._blocked_until is not None
            self._blocked_until = None
            self._noticed = {n for n in self._noticed if not n.startswith("auth:")}
            n = self.outbox.retry_now()       # everything held back for the old token goes now
            self._spawn(self._load_account())
            if was_blocked:
                self._notice("info", f"HubSpot access token updated: logging {n} waiting call(s).",
                             "hubspot_connected")
        elif self._blocked_until is not None and self._clock() >= self._blocked_until:
            self._blocked_until = None      # time to probe again with one call

    async def _process(self, item: OutboxItem) -> None:
        assert self.outbox is not None
        now = self._clock()
        client = self.client
        if client is None:
            self.outbox.failed(item.key, "HubSpot is not connected: run `softphone hubspot connect`.", REJECTED,
                               now + self.rejected_retry_s)
            return
        if self._blocked_until is not None:
            self.outbox.defer(item.key, self._blocked_until)
            return
        props: dict[str, str] = dict(item.payload.get("properties", {}))
        doubt_before = item.in_doubt_since
        creating = False
        try:
            remote_id = item.remote_id
            if remote_id is None and doubt_before is not None:
                if now < doubt_before + self.index_lag_s:
                    # HubSpot's search shows a new object only after a moment: ask once it surely would
                    self.outbox.defer(item.key, doubt_before + self.index_lag_s)
                    return
                remote_id = await client.find_call(item.key)
                if remote_id is not None:
                    self.outbox.set_remote_id(item.key, remote_id)
                    self.stats["found"] += 1
                    log.info("call %s was already in HubSpot as %s (a create whose answer was lost)",
                             item.key, remote_id)
            if remote_id is None:
                contact = await self._contact_for(item)
                if contact is not None and contact.name and item.payload.get("auto_title"):
                    props["hs_call_title"] = call_title(str(item.payload.get("direction")), contact.name)
                self.outbox.mark_in_doubt(item.key)
                creating = True
                remote_id = await client.create_call(props, contact_id=contact.id if contact else None,
                                                     company_id=contact.company_id if contact else None)
                self.outbox.set_remote_id(item.key, remote_id, synced_version=item.version)
                self.stats["created"] += 1
                self._logged(item.key, remote_id, created=True)
                return
            if item.payload.get("auto_title"):
                props.pop("hs_call_title", None)    # keep the name it may have been given when created
            await client.update_call(remote_id, props)
            self.outbox.synced(item.key, item.version)
            self.stats["updated"] += 1
            self._logged(item.key, remote_id, created=item.remote_id is None)
        except CrmError as exc:
            if creating and doubt_before is None and not exc.maybe_applied:
                self.outbox.clear_doubt(item.key)      # HubSpot's answer proves nothing was created
            self._failed(item, exc)

    async def _contact_for(self, item: OutboxItem) -> Contact | None:
        forms = [str(f) for f in item.payload.get("forms") or []]
        if not forms:
            return None
        cached = self._callers.get(item.key)
        if cached is not None:
            return cached
        return await self._lookup(forms)

    def _failed(self, item: OutboxItem, exc: CrmError) -> None:
        assert self.outbox is not None
        now = self._clock()
        self.last_error = exc.message
        remote = str(item.payload.get("remote", ""))
        if exc.retryable:
            if exc.retry_after_s is not None:
                delay = exc.retry_after_s
            else:
                base, cap = self.backoff_s
                delay = min(cap, base * 2 ** min(item.attempts, 16)) * random.uniform(0.8, 1.2)
            self.outbox.failed(item.key, exc.message, RETRY, now + delay)
            log.info("call %s not logged yet (%s): again in %.1f s", item.key, exc.message, delay)
            return
        if item.payload.get("sdk_engagement") and not isinstance(exc, (CrmAuthError, CrmMissingScopes)):
            # HubSpot's own engagement (the tab logged the call): a backstop it refused is not the rep's problem
            self.outbox.synced(item.key, item.version)
            log.warning("HubSpot refused the notes of call %s for engagement %s: %s", item.key, item.remote_id,
                        exc.message)
            return
        self.outbox.failed(item.key, exc.message, REJECTED, now + self.rejected_retry_s)
        log.warning("HubSpot refused call %s: %s", item.key, exc.message)
        if isinstance(exc, (CrmAuthError, CrmMissingScopes)):
            # every other call would be refused the same way: hold them all until the token changes
            self._blocked_until = now + self.rejected_retry_s
            key = f"auth:{exc.code}"
            if key not in self._noticed:
                self._noticed.add(key)
                waiting = self.outbox.counts()["pending"]
                self._notice("error", f"HubSpot did not accept the call log: {exc.message} "
                                      f"{waiting} call(s) are kept and will be logged once this is fixed.",
                             exc.code, item.key)
            return
        key = f"call:{item.key}:{exc.message}"
        if key not in self._noticed:
            self._noticed.add(key)
            self._notice("error", f"HubSpot refused to log the call with {remote}: {exc.message} It is kept "
                                  "and will be sent again.", exc.code, item.key)

    def _notice(self, level: str, message: str, code: str, call_id: str | None = None) -> None:
        if self._engine is not None:
            self._engine.bus.publish(Notice(level, message, code, call_id))

    def _logged(self, call_id: str, engagement_id: int, *, created: bool) -> None:
        """HubSpot has the call: its engagement id goes into the call (history, every surface)."""
        assert self._engine is not None
        if self._noticed:
            self._noticed = {n for n in self._noticed if not n.startswith(f"call:{call_id}:")}
        phone = self._engine.phone
        try:
            if phone is None:
                raise NoSuchCall("no phone")
            if phone.call(call_id).engagement_id != engagement_id:
                phone.set_engagement(call_id, engagement_id)
        except NoSuchCall:
            self._engine.history.set_fields(call_id, engagement_id=engagement_id)
        log.info("call %s %s in HubSpot as engagement %s", call_id, "logged" if created else "updated",
                 engagement_id)
        self._engine.bus.publish(CallLogged(call_id, engagement_id, created))
