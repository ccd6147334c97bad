"""Async client for the HubSpot CRM endpoints the softphone writes and reads with a private-app access token.

The contract is HubSpot's API reference (public OpenAPI specs and guides):

    POST  /crm/v3/objects/calls                        create a call engagement (201, SimplePublicObject);
                                                       body {properties: {str: str}, associations: [...]}
    PATCH /crm/v3/objects/calls/{callId}               update its properties (200)
    POST  /crm/v3/objects/calls/search                 find our call by ``hs_call_external_id`` (idempotency)
    POST  /crm/v3/objects/contacts/search              who is behind a number (phone / mobilephone)
    GET   /account-info/v3/details                     portal id, UI domain (record links)
    POST  /oauth/v2/private-apps/get/access-token-info the token's portal and scopes ({"tokenKey": token})

Calls need ``crm.objects.contacts.write`` (create/update) and ``crm.objects.contacts.read`` (search, also of
calls); default association types: call→contact 194, call→company 182 (category HUBSPOT_DEFINED). Errors
come as ``{status, message, correlationId, category, errors[{message, context}]}``; a 403 with category
``MISSING_SCOPES`` names the scopes in ``context``; a 429 is the rate limit (private apps: 100 requests per
10 s on Free/Starter, 190 on Professional/Enterprise; the search endpoints 5 per second per account).

Every request carries ``Authorization: Bearer <token>``. The token never goes into a URL, a log line or an
error message (any echo of it is replaced by ``REDACTED``); redirects are never followed.

Errors are split by what the caller should do about them: ``CrmUnavailable`` / ``CrmRateLimited`` — try again
later (``retry_after_s`` when HubSpot said when); ``CrmRejected`` (and its ``CrmAuthError`` /
``CrmMissingScopes``) — HubSpot understood and said no: only the rep (token, scopes, data) can fix it.
``maybe_applied`` tells whether a write may have taken effect despite the error (a timeout after the request
was sent, a 5xx): the outbox then looks before writing again.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import phonenumbers

from softphone import __version__
from softphone.errors import SoftphoneError
from softphone.hubspot.api import validate_base_url

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.hubapi.com"
CALLS_PATH: Final = "/crm/v3/objects/calls"
CALLS_SEARCH_PATH: Final = "/crm/v3/objects/calls/search"
CONTACTS_SEARCH_PATH: Final = "/crm/v3/objects/contacts/search"
ACCOUNT_DETAILS_PATH: Final = "/account-info/v3/details"
CALL_OUTCOMES_PATH: Final = "/calling/v1/dispositions"
TOKEN_INFO_PATH: Final = "/oauth/v2/private-apps/get/access-token-info"

CALL_TO_CONTACT: Final = 194
CALL_TO_COMPANY: Final = 182

# scope -> what it is needed for (shown by `connect` and `doctor`)
REQUIRED_SCOPES: Final[dict[str, str]] = {
    "crm.objects.contacts.read": "look up callers by number and find calls already logged",
    "crm.objects.contacts.write": "log calls (create and update call engagements)",
}
RECOMMENDED_SCOPES: Final[dict[str, str]] = {
    "crm.objects.companies.read": "associate logged calls with the contact's company",
}

CONTACT_PROPERTIES: Final = ("firstname", "lastname", "email", "company", "associatedcompanyid", "phone",
                             "mobilephone")
PHONE_PROPERTIES: Final = ("phone", "mobilephone")

# 90 % of the lowest documented private-app burst limit (100 per 10 s, Free/Starter): HubSpot counts a request
# when it arrives, we when we send it, so pacing at exactly the limit meets a 429 whenever latency varies.
PRIVATE_APP_LIMIT: Final = (90, 10.0)
# "The search endpoints are rate limited to five requests per second per account" (kept one under).
SEARCH_LIMIT: Final = (4, 1.0)
DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)
MAX_RETRY_AFTER_S: Final = 600.0
RATE_LIMIT_FALLBACK_S: Final = 10.0      # a 429 without Retry-After: HubSpot's rolling window is 10 s
REDACTED: Final = "REDACTED"


# ---------------------------------------------------------------------------------------------- errors


class CrmError(SoftphoneError):
    """Anything that went wrong talking to HubSpot's CRM API."""

    code = "hubspot_crm"
    retryable = True

    def __init__(self, message: str, *, status: int | None = None, maybe_applied: bool = False,
                 retry_after_s: float | None = None, category: str = "", correlation_id: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.maybe_applied = maybe_applied
        self.retry_after_s = retry_after_s
        self.category = category
        self.correlation_id = correlation_id


class NotConnected(CrmError):
    code = "hubspot_not_connected"
    retryable = False


class CrmUnavailable(CrmError):
    """No usable answer: connection refused, DNS, TLS, timeout, 5xx, a body that is not HubSpot's JSON."""

    code = "hubspot_unavailable"


class CrmRateLimited(CrmError):
    code = "hubspot_rate_limited"


class CrmRejected(CrmError):
    """HubSpot answered 4xx: retrying the same request cannot help until something is fixed."""

    code = "hubspot_rejected"
    retryable = False


class CrmAuthError(CrmRejected):
    code = "hubspot_auth"


class CrmMissingScopes(CrmRejected):
    code = "hubspot_missing_scopes"

    def __init__(self, message: str, scopes: list[str], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.scopes = scopes


# ----------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class TokenInfo:
    hub_id: int
    app_id: int | None
    user_id: int | None
    scopes: tuple[str, ...]

    def missing(self, wanted: dict[str, str] | None = None) -> list[str]:
        return [s for s in (wanted if wanted is not None else REQUIRED_SCOPES) if s not in self.scopes]


@dataclass(frozen=True)
class AccountDetails:
    portal_id: int
    ui_domain: str = "app.hubspot.com"
    time_zone: str = ""
    data_hosting: str = ""

    def contact_url(self, contact_id: int) -> str:
        return f"https://{self.ui_domain}/contacts/{self.portal_id}/record/0-1/{contact_id}"


@dataclass(frozen=True)
class Contact:
    id: int
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    company: str = ""
    company_id: int | None = None

    @property
    def name(self) -> str:
        full = " ".join(p for p in (self.first_name.strip(), self.last_name.strip()) if p)
        return full or self.email.strip()


def phone_forms(number: str, country: str = "US") -> list[str]:
    """The spellings a rep may have typed a number in: E.164, international, national, bare digits.

    HubSpot matches ``phone``/``mobilephone`` as stored, so an E.164 caller must be found under
    "+1 415-555-0132", "(415) 555-0132" or "4155550132" too. [] for anything that is not a phone number
    (extensions, SIP URIs): those are never looked up."""
    text = number.strip()
    if not text or "@" in text or ":" in text:
        return []
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else (country or "US").upper())
    except phonenumbers.NumberParseException:
        return []
    if not phonenumbers.is_possible_number(parsed):
        return []
    fmt = phonenumbers.PhoneNumberFormat
    national_digits = phonenumbers.national_significant_number(parsed)
    forms = [
        phonenumbers.format_number(parsed, fmt.E164),
        phonenumbers.format_number(parsed, fmt.INTERNATIONAL),
        phonenumbers.format_number(parsed, fmt.NATIONAL),
        national_digits,
        f"{parsed.country_code}{national_digits}",
    ]
    out: list[str] = []
    for f in forms:
        if f and f not in out:
            out.append(f)
    return out


def e164(number: str, country: str = "US") -> str | None:
    forms = phone_forms(number, country)
    return forms[0] if forms else None


# ------------------------------------------------------------------------------------------ rate limits


class RollingLimiter:
    """At most ``limit`` requests per ``window_s`` (HubSpot counts a rolling window), and a shared pause
    after a 429 so no request goes out before HubSpot's ``Retry-After`` has passed."""

    def __init__(self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sent: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window_s:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.limit:
                    wait = max(wait, self._sent[0] + self.window_s - now)
                if wait <= 0:
                    self._sent.append(now)
                    return
                await asyncio.sleep(wait)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


# ---------------------------------------------------------------------------------------------- client


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, REDACTED) if token else text


def _scopes_in(payload: dict[str, Any]) -> list[str]:
    found: list[str] = []
    contexts: list[Any] = [payload.get("context")]
    errors = payload.get("errors")
    if isinstance(errors, list):
        contexts += [e.get("context") for e in errors if isinstance(e, dict)]
    for ctx in contexts:
        if not isinstance(ctx, dict):
            continue
        for key in ("requiredGranularScopes", "missingScopes", "requiredScopes"):
            vals = ctx.get(key)
            if isinstance(vals, list):
                found += [str(v) for v in vals if isinstance(v, str) and str(v) not in found]
    return found


class CrmClient:
    """One HubSpot portal, one token. ``transport`` is injectable (``httpx.MockTransport`` in unit tests);
    TLS trust is the system's (``SSL_CERT_FILE`` is honoured, which is how tests trust their local CA)."""

    def __init__(self, token: str, *, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 limit: tuple[int, float] = PRIVATE_APP_LIMIT, search_limit: tuple[int, float] = SEARCH_LIMIT) -> None:
        if not token:
            raise NotConnected("No HubSpot access token: run `softphone hubspot connect`.")
        self._token = token
        self.base_url = validate_base_url(base_url)
        self.host = urlsplit(self.base_url).netloc
        self.limiter = RollingLimiter(*limit)
        self.search_limiter = RollingLimiter(*search_limit)
        self.requests = 0
        self._http = httpx.AsyncClient(
            base_url=self.base_url, transport=transport, timeout=timeout, follow_redirects=False,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "User-Agent": f"softphone/{__version__}"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CrmClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------------ transport

    async def _request(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                       search: bool = False, what: str, timeout: float | None = None) -> dict[str, Any]:
        resp = await self._send(method, path, body=body, search=search, what=what, timeout=timeout)
        return self._json(resp, what)

    async def _send(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                    search: bool = False, what: str, timeout: float | None = None) -> httpx.Response:
        await self.limiter.acquire()
        if search:
            await self.search_limiter.acquire()
        self.requests += 1
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            resp = await self._http.request(method, path, json=body, **extra)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise CrmUnavailable(f"Cannot reach HubSpot at {self.host} to {what} "
                                 f"({_redact(str(exc) or type(exc).__name__, self._token)}).") from None
        except httpx.TimeoutException as exc:
            raise CrmUnavailable(f"HubSpot did not answer in time while trying to {what} "
                                 f"({type(exc).__name__}).", maybe_applied=True) from None
        except httpx.HTTPError as exc:
            raise CrmUnavailable(f"The connection to HubSpot broke while trying to {what} "
                                 f"({_redact(str(exc) or type(exc).__name__, self._token)}).",
                                 maybe_applied=True) from None
        if resp.is_success:
            return resp
        raise self._error(resp, what)

    def _json(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        if not resp.content.strip():
            return {}
        try:
            payload: Any = resp.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            raise CrmUnavailable(f"HubSpot answered HTTP {resp.status_code} with a body that is not a JSON object "
                                 f"while trying to {what}.", status=resp.status_code, maybe_applied=True)
        return payload

    def _error(self, resp: httpx.Response, what: str) -> CrmError:
        status = resp.status_code
        try:
            payload: Any = resp.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        body = payload if isinstance(payload, dict) else {}
        hs_message = _redact(" ".join(str(body.get("message") or "").split())[:400], self._token)
        category = str(body.get("category") or body.get("errorType") or "")
        correlation = str(body.get("correlationId") or "")
        kw: dict[str, Any] = {"status": status, "category": category, "correlation_id": correlation}
        said = f": {hs_message}" if hs_message else ""
        if status == 429:
            wait = parse_retry_after(resp.headers.get("retry-after"))
            if wait is None:
                interval = resp.headers.get("x-hubspot-ratelimit-interval-milliseconds", "")
                wait = int(interval) / 1000 if interval.isdigit() else RATE_LIMIT_FALLBACK_S
            self.limiter.pause(wait)
            return CrmRateLimited(f"HubSpot is rate limiting this token (HTTP 429{said}); retrying in {wait:.0f} s.",
                                  retry_after_s=wait, **kw)
        if status >= 500 or status in (408, 425):
            return CrmUnavailable(f"HubSpot had a problem while trying to {what} (HTTP {status}{said}).",
                                  maybe_applied=status >= 500, retry_after_s=parse_retry_after(
                                      resp.headers.get("retry-after")), **kw)
        if status == 401:
            why = f" HubSpot said: {hs_message}" if hs_message else ""
            return CrmAuthError(f"HubSpot refused the access token (HTTP 401).{why} Create a new private-app "
                                "token and store it with `softphone hubspot connect`.", **kw)
        if status == 403 and (category == "MISSING_SCOPES" or _scopes_in(body)):
            scopes = _scopes_in(body)
            names = ", ".join(scopes) if scopes else "(HubSpot did not say which)"
            return CrmMissingScopes(f"The HubSpot private app is missing scopes to {what}: {names}. Add them to "
                                    "the app (Settings → Integrations → Private Apps → Scopes), then run "
                                    "`softphone hubspot connect` again.", scopes, **kw)
        details = [str(e.get("message")) for e in body.get("errors") or [] if isinstance(e, dict) and e.get("message")]
        detail = _redact(" — " + "; ".join(details[:3])[:400], self._token) if details else ""
        return CrmRejected(f"HubSpot refused to {what} (HTTP {status}{', ' + category if category else ''}{said}"
                           f"{detail}).", **kw)

    # ------------------------------------------------------------------------------------ endpoints

    async def token_info(self) -> TokenInfo:
        data = await self._request("POST", TOKEN_INFO_PATH, body={"tokenKey": self._token},
                                   what="check the access token")
        try:
            return TokenInfo(hub_id=int(data["hubId"]), app_id=_int_or_none(data.get("appId")),
                             user_id=_int_or_none(data.get("userId")),
                             scopes=tuple(str(s) for s in data.get("scopes") or ()))
        except (KeyError, TypeError, ValueError):
            raise CrmUnavailable("HubSpot's token information did not have the documented shape "
                                 "(hubId, scopes).") from None

    async def account_details(self) -> AccountDetails:
        data = await self._request("GET", ACCOUNT_DETAILS_PATH, what="read the account details")
        try:
            return AccountDetails(portal_id=int(data["portalId"]),
                                  ui_domain=str(data.get("uiDomain") or "app.hubspot.com"),
                                  time_zone=str(data.get("timeZone") or ""),
                                  data_hosting=str(data.get("dataHostingLocation") or ""))
        except (KeyError, TypeError, ValueError):
            raise CrmUnavailable("HubSpot's account details did not have the documented shape "
                                 "(portalId).") from None

    async def call_outcomes(self) -> object:
        """The account's call outcomes (``GET /calling/v1/dispositions``: a JSON array of ``{id, label}``), as
        sent; the caller validates them (``hubspot.sdk.parse_call_outcomes``)."""
        resp = await self._send("GET", CALL_OUTCOMES_PATH, what="read the account's call outcomes")
        try:
            payload: object = resp.json()
        except (ValueError, UnicodeDecodeError):
            raise CrmUnavailable("HubSpot's call outcomes were not JSON.", status=resp.status_code) from None
        return payload

    async def search_contacts(self, forms: list[str], *, limit: int = 10,
                              timeout: float | None = None) -> list[Contact]:
        """Contacts whose phone or mobile phone is one of ``forms`` (most recently changed first)."""
        if not forms:
            return []
        body = {
            "filterGroups": [{"filters": [{"propertyName": prop, "operator": "IN", "values": forms}]}
                             for prop in PHONE_PROPERTIES],
            "properties": list(CONTACT_PROPERTIES),
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
            "limit": limit,
            "after": "0",
        }
        data = await self._request("POST", CONTACTS_SEARCH_PATH, body=body, search=True,
                                   what="look up a caller", timeout=timeout)
        return [c for c in (_contact(r) for r in _results(data)) if c is not None]

    async def find_call(self, external_id: str) -> int | None:
        """The call engagement we created for ``external_id`` (our call id), if HubSpot's search has it."""
        body = {
            "filterGroups": [{"filters": [{"propertyName": "hs_call_external_id", "operator": "EQ",
                                           "value": external_id}]}],
            "properties": ["hs_call_external_id"],
            "sorts": [{"propertyName": "hs_createdate", "direction": "ASCENDING"}],
            "limit": 10,
            "after": "0",
        }
        data = await self._request("POST", CALLS_SEARCH_PATH, body=body, search=True,
                                   what="check whether the call is already logged")
        ids = [r.get("id") for r in _results(data)
               if str((r.get("properties") or {}).get("hs_call_external_id") or "") == external_id]
        found = [int(i) for i in ids if isinstance(i, str) and i.isdigit()]
        return found[0] if found else None

    async def create_call(self, properties: dict[str, str], *, contact_id: int | None = None,
                          company_id: int | None = None) -> int:
        associations: list[dict[str, Any]] = []
        for target, type_id in ((contact_id, CALL_TO_CONTACT), (company_id, CALL_TO_COMPANY)):
            if target is not None:
                associations.append({"to": {"id": str(target)},
                                     "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                "associationTypeId": type_id}]})
        data = await self._request("POST", CALLS_PATH, body={"properties": properties,
                                                              "associations": associations},
                                   what="log the call")
        ident = data.get("id")
        if not (isinstance(ident, str) and ident.isdigit()):
            raise CrmUnavailable("HubSpot created the call but its answer had no numeric id.", maybe_applied=True)
        return int(ident)

    async def update_call(self, engagement_id: int, properties: dict[str, str]) -> None:
        await self._request("PATCH", f"{CALLS_PATH}/{int(engagement_id)}", body={"properties": properties},
                            what="update the logged call")


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v) if v is not None and not isinstance(v, bool) else None
    except (TypeError, ValueError):
        return None


def _results(data: dict[str, Any]) -> list[dict[str, Any]]:
    results = data.get("results")
    if not isinstance(results, list):
        raise CrmUnavailable("HubSpot's search answer had no results list.")
    return [r for r in results if isinstance(r, dict)]


def _contact(rec: dict[str, Any]) -> Contact | None:
    ident = _int_or_none(rec.get("id"))
    props = rec.get("properties")
    if ident is None or not isinstance(props, dict):
        return None

    def s(key: str) -> str:
        v = props.get(key)
        return str(v) if isinstance(v, str) else ""

    return Contact(id=ident, first_name=s("firstname"), last_name=s("lastname"), email=s("email"),
                   company=s("company"), company_id=_int_or_none(props.get("associatedcompanyid") or None))


# ------------------------------------------------------------------------------------------ connection check


@dataclass(frozen=True)
class ConnectionCheck:
    """What ``connect`` and ``doctor`` show: which portal the token belongs to and which scopes it lacks."""

    portal_id: int
    ui_domain: str
    scopes: tuple[str, ...]
    missing_required: tuple[str, ...]
    missing_recommended: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"portal_id": self.portal_id, "ui_domain": self.ui_domain, "scopes": list(self.scopes),
                "missing_required": list(self.missing_required),
                "missing_recommended": list(self.missing_recommended)}

    def lines(self) -> list[str]:
        """Human-readable summary (portal, each wanted scope present or missing and what it is for)."""
        out = [f"HubSpot portal {self.portal_id} ({self.ui_domain})"]
        for wanted, label in ((REQUIRED_SCOPES, "required"), (RECOMMENDED_SCOPES, "recommended")):
            for scope, why in wanted.items():
                mark = "ok     " if scope in self.scopes else "MISSING"
                out.append(f"  {mark} {scope} ({label}: {why})")
        return out


async def check_connection(token: str, base_url: str = DEFAULT_BASE_URL, *,
                           transport: httpx.AsyncBaseTransport | None = None) -> ConnectionCheck:
    """Ask HubSpot which portal and scopes ``token`` has. Raises ``CrmError`` (401: a bad token)."""
    async with CrmClient(token, base_url=base_url, transport=transport) as client:
        info = await client.token_info()
        try:
            details = await client.account_details()
            ui_domain = details.ui_domain
        except CrmRejected:
            ui_domain = "app.hubspot.com"          # the portal id from the token is what matters
    return ConnectionCheck(portal_id=info.hub_id, ui_domain=ui_domain, scopes=info.scopes,
                           missing_required=tuple(info.missing(REQUIRED_SCOPES)),
                           missing_recommended=tuple(info.missing(RECOMMENDED_SCOPES)))
