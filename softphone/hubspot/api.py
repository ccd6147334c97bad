"""Client for HubSpot's calling settings endpoints (``/crm/v3/extensions/calling/{appId}/settings``).

The contract is the "Using the calling settings endpoint" section of the Calling Extensions SDK docs
(../shared/reference/hubspot-calling-extensions-sdk.txt) and HubSpot's v3 API reference:

    POST   /crm/v3/extensions/calling/{appId}/settings?hapikey=DEVELOPER_API_KEY   create
    GET    /crm/v3/extensions/calling/{appId}/settings?hapikey=DEVELOPER_API_KEY   read
    PATCH  /crm/v3/extensions/calling/{appId}/settings?hapikey=DEVELOPER_API_KEY   partial update
    DELETE /crm/v3/extensions/calling/{appId}/settings?hapikey=DEVELOPER_API_KEY   delete (204, no body)

Body/response fields: name (str), url (str), width and height (int32), isReady, supportsCustomObjects,
supportsInboundCalling, usesCallingWindow, usesRemote (bool); responses add createdAt/updatedAt.
``appId`` is an int32. Authentication is the developer account's API key in the ``hapikey`` query parameter.

The key is a secret that travels in the URL, so this module never lets a URL out unredacted: error messages,
``--dry-run`` output and httpx's own "HTTP Request: ..." log line all go through :func:`redact`.
Redirects are never followed (a redirect would replay the key to another address).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from softphone import __version__
from softphone.errors import SecretError, SoftphoneError

DEFAULT_BASE_URL: Final = "https://api.hubapi.com"
SETTINGS_PATH: Final = "/crm/v3/extensions/calling/{app_id}/settings"
AUTH_PARAM: Final = "hapikey"
REDACTED: Final = "REDACTED"
INT32_MAX: Final = 2**31 - 1
DEFAULT_TIMEOUT_S: Final = 20.0
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})

# JSON field -> Python type. Order is the order used in request bodies and --dry-run output.
SETTINGS_FIELDS: Final[dict[str, type]] = {
    "name": str,
    "url": str,
    "width": int,
    "height": int,
    "isReady": bool,
    "supportsCustomObjects": bool,
    "supportsInboundCalling": bool,
    "usesCallingWindow": bool,
    "usesRemote": bool,
}
# Fields a create request must carry (the documented example payload). The CLI also sends isReady on create:
# HubSpot defaults it to true, while the docs say it must stay false until the app is ready for production.
CREATE_REQUIRED: Final = ("name", "url", "width", "height")

log = logging.getLogger(__name__)

_APP_ID_RE = re.compile(r"[0-9]+")
_AUTH_IN_TEXT_RE = re.compile(rf"({AUTH_PARAM}=)[^&\s\"'<>]*", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- errors


class HubSpotError(SoftphoneError):
    """Anything that went wrong talking to HubSpot's calling settings API."""

    code = "hubspot"


class InvalidSettings(HubSpotError):
    """Input refused before anything is sent (bad app id, non-https URL, non-positive size, ...)."""

    code = "invalid_settings"


class HubSpotUnreachable(HubSpotError):
    """No HTTP answer: DNS, connection, TLS or timeout."""

    code = "hubspot_unreachable"


class HubSpotApiError(HubSpotError):
    """HubSpot answered with an error status; ``message`` carries HubSpot's own explanation."""

    code = "hubspot_api"

    def __init__(self, message: str, *, status: int, category: str | None = None,
                 correlation_id: str | None = None, hubspot_message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        self.hubspot_message = hubspot_message


# ------------------------------------------------------------------------------------------- redaction


def redact(text: str, key: str | None = None) -> str:
    """Remove the API key from ``text``: every ``hapikey=...`` value, and the literal key anywhere."""
    text = _AUTH_IN_TEXT_RE.sub(rf"\g<1>{REDACTED}", text)
    if key:
        text = text.replace(key, REDACTED)
    return text


def redact_url(url: httpx.URL) -> str:
    if AUTH_PARAM in url.params:
        url = url.copy_set_param(AUTH_PARAM, REDACTED)
    return redact(str(url))


class _RedactAuthFilter(logging.Filter):
    """httpx logs every request URL at INFO ("HTTP Request: GET https://...?hapikey=..."): scrub it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix; let logging report it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_LOG_FILTER = _RedactAuthFilter()
for _name in ("httpx", "httpcore"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactAuthFilter) for f in _logger.filters):
        _logger.addFilter(_LOG_FILTER)


# ------------------------------------------------------------------------------------------ validation


def validate_app_id(value: str | int) -> int:
    """HubSpot app ids are positive int32s. Accepts ASCII digits only (no sign, spaces, exponents)."""
    if isinstance(value, bool):
        raise InvalidSettings("App id must be a number (the ID on your app's page in the developer account).")
    text = str(value)
    if not _APP_ID_RE.fullmatch(text):
        raise InvalidSettings(f"App id must be a number (digits only), got {text!r}.")
    app_id = int(text)
    if not 0 < app_id <= INT32_MAX:
        raise InvalidSettings(f"App id must be between 1 and {INT32_MAX}, got {text}.")
    return app_id


def validate_widget_url(value: str) -> str:
    """The widget URL HubSpot loads in its iframe: absolute ``https://`` URL with a host, no credentials."""
    url = value.strip()
    if not url or any(c.isspace() for c in url):
        raise InvalidSettings(f"Widget URL must be a single https:// URL without spaces, got {value!r}.")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidSettings(f"Widget URL is not a valid URL ({exc}): {value!r}.") from None
    if parts.scheme.lower() != "https":
        raise InvalidSettings(f"Widget URL must use https:// (HubSpot frames it in an https page), "
                              f"got {value!r}.")
    if not parts.hostname:
        raise InvalidSettings(f"Widget URL has no host: {value!r}.")
    if parts.username is not None or parts.password is not None:
        raise InvalidSettings("Widget URL must not contain a user name or password.")
    return url


def validate_dimension(value: int | str, field: str) -> int:
    """Iframe width/height: a positive int32 (pixels)."""
    if isinstance(value, bool):
        raise InvalidSettings(f"{field} must be a whole number of pixels, got {value!r}.")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"-?[0-9]+", text):
            raise InvalidSettings(f"{field} must be a whole number of pixels, got {value!r}.")
        value = int(text)
    if not 0 < value <= INT32_MAX:
        raise InvalidSettings(f"{field} must be a positive number of pixels, got {value}.")
    return value


def validate_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise InvalidSettings("Name must not be empty (it is the calling option HubSpot users see).")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidSettings("Name must not contain control characters.")
    return name


def validate_base_url(value: str) -> str:
    """API root: https, or plain http to a loopback host only (tests); the key never travels in clear."""
    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidSettings(f"Base URL is not a valid URL ({exc}): {value!r}.") from None
    if parts.query or parts.fragment or not parts.hostname or parts.username or parts.password:
        raise InvalidSettings(f"Base URL must be scheme://host[:port][/prefix], got {value!r}.")
    scheme = parts.scheme.lower()
    if scheme == "https":
        return url
    if scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return url
    raise InvalidSettings(f"Base URL must use https:// (plain http is only allowed to a loopback address), "
                          f"got {value!r}.")


@dataclass(frozen=True)
class CallingSettingsInput:
    """Values the user wants to set; ``None`` = leave out of the request."""

    name: str | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None
    is_ready: bool | None = None
    supports_custom_objects: bool | None = None
    supports_inbound_calling: bool | None = None
    uses_calling_window: bool | None = None
    uses_remote: bool | None = None

    def _fields(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "name": None if self.name is None else validate_name(self.name),
            "url": None if self.url is None else validate_widget_url(self.url),
            "width": None if self.width is None else validate_dimension(self.width, "width"),
            "height": None if self.height is None else validate_dimension(self.height, "height"),
            "isReady": self.is_ready,
            "supportsCustomObjects": self.supports_custom_objects,
            "supportsInboundCalling": self.supports_inbound_calling,
            "usesCallingWindow": self.uses_calling_window,
            "usesRemote": self.uses_remote,
        }
        for field, kind in SETTINGS_FIELDS.items():
            value = raw[field]
            if kind is bool and value is not None and not isinstance(value, bool):
                raise InvalidSettings(f"{field} must be true or false, got {value!r}.")
        return {k: v for k, v in raw.items() if v is not None}

    def create_body(self) -> dict[str, Any]:
        body = self._fields()
        missing = [f for f in CREATE_REQUIRED if f not in body]
        if missing:
            raise InvalidSettings("Creating calling settings needs " + ", ".join(missing) + ".")
        return body

    def patch_body(self) -> dict[str, Any]:
        body = self._fields()
        if not body:
            raise InvalidSettings("Nothing to update: give at least one field to change.")
        return body


def settings_path(app_id: int | str) -> str:
    return SETTINGS_PATH.format(app_id=validate_app_id(app_id))


# -------------------------------------------------------------------------------------- error messages


def _error_hint(status: int, action: str, app_id: int) -> str | None:
    if status in (401, 403):
        return ("Check the developer API key (the developer account's API key, not a private-app token): "
                "store it with `softphone hubspot set-key`.")
    if status == 404:
        return (f"No calling settings found for app {app_id} (or no such app in this developer account). "
                "Check --app-id; create them with `softphone hubspot settings create`."
                if action != "create" else f"Check --app-id: app {app_id} was not found.")
    if status == 409:
        return (f"Calling settings already exist for app {app_id}; change them with "
                "`softphone hubspot settings update` (or delete them first).")
    if status == 429:
        return "HubSpot is rate limiting this key; wait a moment and try again."
    if status >= 500:
        return "HubSpot had a server error; try again later."
    return None


def error_from_response(response: httpx.Response, *, action: str, app_id: int,
                        key: str | None) -> HubSpotApiError:
    """Turn a HubSpot error response into a readable error that shows HubSpot's own message."""
    status = response.status_code
    category: str | None = None
    correlation_id: str | None = None
    hubspot_message: str | None = None
    details: list[str] = []
    try:
        payload: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict):
        msg = payload.get("message")
        hubspot_message = str(msg) if msg else None
        category = str(payload["category"]) if payload.get("category") else None
        correlation_id = str(payload["correlationId"]) if payload.get("correlationId") else None
        errors = payload.get("errors")
        if isinstance(errors, list):
            for item in errors[:10]:
                if isinstance(item, dict) and item.get("message"):
                    where = f" (in {item['in']})" if item.get("in") else ""
                    details.append(f"{item['message']}{where}")
    elif response.content:
        text = response.text.strip()
        if text and not text.lstrip().startswith("<"):
            hubspot_message = " ".join(text.split())[:300]
    reason = response.reason_phrase or "error"
    head = f"HubSpot refused to {action} the calling settings of app {app_id} (HTTP {status} {reason}"
    head += f", {category})" if category else ")"
    lines = [f"{head}: {hubspot_message}" if hubspot_message else head + "."]
    lines += [f"  - {d}" for d in details if d != hubspot_message]
    hint = _error_hint(status, action, app_id)
    if hint:
        lines.append(hint)
    if correlation_id:
        lines.append(f"(HubSpot correlationId: {correlation_id})")
    return HubSpotApiError(
        redact("\n".join(lines), key), status=status, category=category, correlation_id=correlation_id,
        hubspot_message=redact(hubspot_message, key) if hubspot_message else None,
    )


# ---------------------------------------------------------------------------------------------- client

_ACTIONS: Final = {"POST": "create", "GET": "read", "PATCH": "update", "DELETE": "delete"}


class CallingSettingsClient:
    """Synchronous client for the calling settings endpoints.

    ``api_key`` may be ``None`` to build requests for ``--dry-run`` (the URL then carries a placeholder);
    sending needs the key. ``transport`` is injectable (``httpx.MockTransport`` in unit tests).
    """

    def __init__(self, api_key: str | None, *, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.BaseTransport | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._key = api_key or None
        self.base_url = validate_base_url(base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": f"softphone/{__version__}"},
        )

    # -- context management
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CallingSettingsClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- request building (pure, no I/O)
    def build_request(self, method: str, app_id: int | str,
                      body: dict[str, Any] | None = None) -> httpx.Request:
        method = method.upper()
        if method not in _ACTIONS:
            raise ValueError(f"unsupported method {method}")
        if (body is not None) != (method in ("POST", "PATCH")):
            raise ValueError(f"{method} {'needs' if body is None else 'takes no'} body")
        return self._http.build_request(
            method, settings_path(app_id), params={AUTH_PARAM: self._key or REDACTED}, json=body,
        )

    def send(self, request: httpx.Request) -> dict[str, Any]:
        """Send a request built by :meth:`build_request`; returns the JSON object ({} when no body)."""
        if self._key is None:
            raise SecretError("No HubSpot developer API key: store it with `softphone hubspot set-key`.")
        action = _ACTIONS.get(request.method, request.method.lower())
        app_id = _app_id_from_path(request.url.path)
        log.info("HubSpot calling settings: %s app %s", action, app_id)
        try:
            response = self._http.send(request)
        except httpx.TimeoutException:
            raise HubSpotUnreachable(f"Timed out waiting for {self.base_url} "
                                     f"(while trying to {action} calling settings).") from None
        except httpx.HTTPError as exc:
            detail = redact(str(exc) or type(exc).__name__, self._key)
            raise HubSpotUnreachable(f"Could not reach {self.base_url}: {detail}") from None
        if response.is_redirect:
            location = redact(response.headers.get("location", "?"), self._key)
            raise HubSpotApiError(
                f"HubSpot answered HTTP {response.status_code} redirecting to {location}; not followed "
                "(the API key would be sent along). Check --base-url.", status=response.status_code)
        if not response.is_success:
            raise error_from_response(response, action=action, app_id=app_id, key=self._key)
        if not response.content.strip():
            return {}
        try:
            payload: Any = response.json()
        except (ValueError, UnicodeDecodeError):
            raise HubSpotApiError(f"HubSpot answered HTTP {response.status_code} with a body that is not "
                                  "JSON.", status=response.status_code) from None
        if not isinstance(payload, dict):
            raise HubSpotApiError(f"HubSpot answered HTTP {response.status_code} with unexpected JSON "
                                  f"({type(payload).__name__}, expected an object).",
                                  status=response.status_code)
        return payload

    def request(self, method: str, app_id: int | str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.send(self.build_request(method, app_id, body))

    # -- the four documented operations
    def create(self, app_id: int | str, settings: CallingSettingsInput) -> dict[str, Any]:
        return self.request("POST", app_id, settings.create_body())

    def get(self, app_id: int | str) -> dict[str, Any]:
        return self.request("GET", app_id)

    def update(self, app_id: int | str, settings: CallingSettingsInput) -> dict[str, Any]:
        return self.request("PATCH", app_id, settings.patch_body())

    def delete(self, app_id: int | str) -> None:
        self.request("DELETE", app_id)


def _app_id_from_path(path: str) -> int:
    match = re.search(r"/calling/([0-9]+)/settings", path)
    return int(match.group(1)) if match else 0


def describe_request(request: httpx.Request) -> str:
    """Human-readable request for ``--dry-run``: method + redacted URL, content type, pretty JSON body."""
    lines = [f"{request.method} {redact_url(request.url)}", f"Accept: {request.headers.get('accept', '')}"]
    if request.content:
        lines.append(f"Content-Type: {request.headers.get('content-type', '')}")
        lines.append("")
        lines.append(redact(json.dumps(json.loads(request.content), indent=2, ensure_ascii=False)))
    return "\n".join(lines)
