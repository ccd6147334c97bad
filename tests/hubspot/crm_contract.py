"""A local HTTPS stand-in for the HubSpot CRM API that enforces HubSpot's documented contract.

Written from HubSpot's API reference (the public OpenAPI specs of CRM Calls v3, Contacts v3, Associations v4,
Account Info v3, and the guides for calls, search, private apps and usage limits), not from our client:

- **Auth**: ``Authorization: Bearer <private-app token>`` on every request; missing/unknown → 401
  ``INVALID_AUTHENTICATION``; a token without the endpoint's scope → 403 ``MISSING_SCOPES`` naming the scope in
  ``errors[].context.requiredGranularScopes``. Scopes: calls create/update ``crm.objects.contacts.write``; calls
  and contacts search ``crm.objects.contacts.read``; account details and token info need none.
- **POST /crm/v3/objects/calls** (``SimplePublicObjectInputForCreate``): ``properties`` (object of *string*
  values) and ``associations`` (array) both required; ``hs_timestamp`` required (epoch ms or ISO 8601);
  property names must exist; ``hs_call_direction`` INBOUND|OUTBOUND; ``hs_call_status`` one of HubSpot's 11
  values; ``hs_call_duration`` whole milliseconds; ``hs_call_disposition`` an outcome GUID of the account;
  ``hs_call_body`` ≤ 65 536 chars. Each association: ``to.id`` (string) and ``types`` of
  ``{associationCategory, associationTypeId (int32)}``; HUBSPOT_DEFINED call→contact is 194, call→company 182,
  and the target record must exist. Answers 201 with ``SimplePublicObject`` (``id`` string, ``properties``,
  ``createdAt``, ``updatedAt``, ``archived``).
- **PATCH /crm/v3/objects/calls/{id}** (``SimplePublicObjectInput``): ``properties`` required; unknown id → 404.
- **POST /crm/v3/objects/{contacts|calls}/search** (``PublicObjectSearchRequest``): ``filterGroups``,
  ``properties``, ``sorts``, ``limit``, ``after`` (required in the spec); at most 5 filter groups, 10 filters a
  group, 25 in all; operators from the spec's enum (IN takes ``values``, EQ ``value``); ``limit`` ≤ 200; groups are
  ORed, filters ANDed; string matching is exact except IN/EQ ignore case; answer ``{total, results,
  paging.next.after}``. New objects reach the search index only after ``search_lag_s`` (as in HubSpot).
- **GET /account-info/v3/details**, **POST /oauth/v2/private-apps/get/access-token-info** (``{"tokenKey"}`` →
  ``{userId, hubId, appId, scopes}``).
- **Errors** use HubSpot's shape ``{status: "error", message, correlationId, category, errors[], links}``.
- **Rate limit**: a rolling window per token (private apps: 100 requests / 10 s on Free/Starter); over it →
  429 with ``Retry-After``, ``X-HubSpot-RateLimit-*`` headers and the ``RATE_LIMIT`` body. A request that
  arrives before the ``Retry-After`` we gave has passed is counted in ``early`` (a client ignoring it).
- Knobs for failure: ``go_down()``/``come_back()`` (connection refused), ``fail_next(path, status, n)`` (5xx …),
  ``delay`` / ``delay_answer`` per path (slow, before or after doing the work), ``lose_create_answers`` (the call
  is created, the answer never arrives).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import math
import re
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.peers import make_tls_material

CALL_PROPERTIES = frozenset({
    "hs_timestamp", "hs_call_body", "hs_call_callee_object_id", "hs_call_callee_object_type_id",
    "hs_call_direction", "hs_call_disposition", "hs_call_duration", "hs_call_from_number",
    "hs_call_recording_url", "hs_call_status", "hs_call_title", "hs_call_to_number", "hubspot_owner_id",
    "hs_activity_type", "hs_attachment_ids", "hs_call_external_id", "hs_call_external_account_id",
    "hs_call_source", "hs_call_app_id",
})
CALL_STATUSES = frozenset({"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED",
                           "IN_PROGRESS", "MISSED", "NO_ANSWER", "QUEUED", "RINGING"})
DEFAULT_OUTCOMES = frozenset({
    "f240bbac-87c9-4f6e-bf70-924b57d47db7", "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "73a0d17f-1163-4015-bdd5-ec830791da20", "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "17b47fee-58de-441e-a44c-c6300d46f273",
})
OPERATORS = frozenset({"BETWEEN", "CONTAINS_TOKEN", "EQ", "GT", "GTE", "HAS_PROPERTY", "IN", "LT", "LTE", "NEQ",
                       "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY", "NOT_IN"})
CATEGORIES = frozenset({"HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK"})
CALL_TO = {194: "contacts", 182: "companies", 206: "deals", 220: "tickets"}
CONTACT_DEFAULT_PROPS = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
CALL_DEFAULT_PROPS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
READ, WRITE = "crm.objects.contacts.read", "crm.objects.contacts.write"
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS, MAX_LIMIT = 5, 10, 25, 200


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ApiError(Exception):
    def __init__(self, status: int, message: str, category: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.category = status, message, category
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "error", "message": self.message, "correlationId": str(uuid.uuid4())}
        if self.category:
            out["category"] = self.category
        if self.errors:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


@dataclass
class Token:
    hub_id: int
    scopes: set[str]
    app_id: int = 4242
    user_id: int = 77


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    status: int
    at: float
    token: str
    headers: dict[str, str]
    early: bool = False          # sent before the Retry-After this token was given had passed


@dataclass
class Obj:
    id: int
    properties: dict[str, str]
    created: float
    updated: float
    associations: list[dict[str, Any]] = field(default_factory=list)

    def view(self, props: list[str] | None = None) -> dict[str, Any]:
        p = self.properties if props is None else {k: self.properties[k] for k in props if k in self.properties}
        return {"id": str(self.id), "properties": dict(p), "createdAt": _iso(self.created),
                "updatedAt": _iso(self.updated), "archived": False}


class CrmContract:
    """The stand-in. ``base_url`` is ``https://127.0.0.1:PORT``; clients trust ``ca`` (e.g. ``SSL_CERT_FILE``)."""

    def __init__(self, workdir: Path, *, portal_id: int = 9001234, search_lag_s: float = 0.0,
                 rate_limit: tuple[int, float] = (100, 10.0)) -> None:
        self.tls = make_tls_material(workdir / "crm-tls")
        self.ca = self.tls["ca"]
        self.portal_id = portal_id
        self.search_lag_s = search_lag_s
        self.rate_limit = rate_limit
        self.tokens: dict[str, Token] = {}
        self.contacts: dict[int, Obj] = {}
        self.companies: dict[int, Obj] = {}
        self.calls: dict[int, Obj] = {}
        # GET /calling/v1/dispositions: the account's call outcomes (HubSpot's six defaults unless a test sets
        # its own), a JSON array of {id, label}
        self.outcomes: list[dict[str, str]] = [
            {"id": "f240bbac-87c9-4f6e-bf70-924b57d47db7", "label": "Connected"},
            {"id": "73a0d17f-1163-4015-bdd5-ec830791da20", "label": "No answer"}]
        self.searchable_at: dict[int, float] = {}
        self.requests: list[Recorded] = []
        self.early = 0                                 # requests sent before the Retry-After we gave
        self.rate_limited = 0
        self.delay: dict[str, float] = {}              # path regex -> seconds before handling the request
        self.delay_answer: dict[str, float] = {}       # path regex -> seconds between doing it and answering
        self.lose_create_answers = 0                   # create the call, then drop the connection (n times)
        self._fail: list[tuple[str, str, int]] = []    # (method, path regex, status)
        self._window: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._retry_until: dict[str, float] = {}
        self._ids = itertools.count(int(time.time()) % 100000 * 1000 + 50_000_000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._conns: set[Any] = set()
        self._thread: threading.Thread | None = None
        self.port = 0
        self.answered = threading.Condition(self._lock)

    # ------------------------------------------------------------------ data

    def add_token(self, token: str, scopes: set[str] | None = None) -> str:
        self.tokens[token] = Token(self.portal_id, set(scopes if scopes is not None else {READ, WRITE}))
        return token

    def add_company(self, name: str) -> int:
        cid = next(self._ids)
        now = time.time()
        self.companies[cid] = Obj(cid, {"name": name, "hs_object_id": str(cid)}, now, now)
        return cid

    def add_contact(self, first: str, last: str, *, phone: str = "", mobile: str = "", email: str = "",
                    company: str = "", company_id: int | None = None) -> int:
        cid = next(self._ids)
        now = time.time()
        props = {"firstname": first, "lastname": last, "email": email, "phone": phone, "mobilephone": mobile,
                 "company": company, "hs_object_id": str(cid), "createdate": _iso(now),
                 "lastmodifieddate": _iso(now)}
        if company_id is not None:
            props["associatedcompanyid"] = str(company_id)
        self.contacts[cid] = Obj(cid, {k: v for k, v in props.items() if v != ""}, now, now)
        self.searchable_at[cid] = 0.0
        return cid

    def add_call(self, cid: int, properties: dict[str, str]) -> None:
        """A call engagement HubSpot itself created (the SDK path: the host's engagement id)."""
        now = time.time()
        self.calls[cid] = Obj(cid, dict(properties, hs_object_id=str(cid)), now, now)
        self.searchable_at[cid] = 0.0

    # ------------------------------------------------------------------ views for tests

    def calls_for(self, external_id: str) -> list[Obj]:
        with self._lock:
            return [c for c in self.calls.values() if c.properties.get("hs_call_external_id") == external_id]

    def writes(self, method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/crm/v3/objects/calls")
                    and not r.path.endswith("/search") and (method is None or r.method == method)]

    def of(self, method: str, path_re: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.fullmatch(path_re, r.path)]

    def fail_next(self, method: str, path_re: str, status: int, times: int = 1) -> None:
        with self._lock:
            self._fail += [(method, path_re, status)] * times

    # ------------------------------------------------------------------ lifecycle

    def start(self, port: int = 0) -> CrmContract:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.tls["cert"]), str(self.tls["key"]))
        contract = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                contract._serve(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, addr = super().get_request()
                tls = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                with contract._lock:
                    contract._conns.add(tls)
                return tls, addr

            def shutdown_request(self, request: Any) -> None:
                with contract._lock:
                    contract._conns.discard(request)
                super().shutdown_request(request)

        self._server = Server(("127.0.0.1", port or self.port), Handler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="crm-contract", daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:       # kept-alive connections too: a client's pool must not reach a "down" server
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def go_down(self) -> None:
        """HubSpot unreachable: nothing listens on the port any more (connection refused)."""
        self.stop()

    def come_back(self) -> None:
        self.start(self.port)

    # ------------------------------------------------------------------ HTTP

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        path = h.path.split("?", 1)[0]
        auth = h.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else ""
        headers = {k.lower(): v for k, v in h.headers.items()}
        for pattern, seconds in list(self.delay.items()):
            if re.fullmatch(pattern, path):
                time.sleep(seconds)
        lose = False
        extra_headers: dict[str, str] = {}
        body: Any = None
        with self._lock:
            early = time.monotonic() < self._retry_until.get(token, 0.0)
        try:
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "Invalid input JSON on line 1", "VALIDATION_ERROR") from None
            with self._lock:
                status, payload, extra_headers = self._dispatch(h.command, path, token, headers, body)
                if (h.command, path) == ("POST", "/crm/v3/objects/calls") and status == 201 \
                        and self.lose_create_answers > 0:
                    self.lose_create_answers -= 1
                    lose = True
        except ApiError as exc:
            status, payload, extra_headers = exc.status, exc.body(), exc.headers
        with self._lock:
            self.requests.append(Recorded(h.command, path, body if raw else None, 0 if lose else status,
                                          time.time(), token, headers, early))
            self.answered.notify_all()
        for pattern, seconds in list(self.delay_answer.items()):
            if re.fullmatch(pattern, path):
                time.sleep(seconds)
        if lose:
            # the object exists, the client never hears about it (a crash or a cut connection in between)
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        for k, v in extra_headers.items():
            h.send_header(k, v)
        if payload is not None:
            h.send_header("Content-Type", "application/json;charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _dispatch(self, method: str, path: str, token: str, headers: dict[str, str],
                  body: Any) -> tuple[int, Any, dict[str, str]]:
        for i, (m, pattern, status) in enumerate(self._fail):
            if m == method and re.fullmatch(pattern, path):
                del self._fail[i]
                raise ApiError(status, "internal error" if status >= 500 else "refused", "" if status >= 500
                               else "VALIDATION_ERROR")
        tok = self._auth(token)
        limit_headers = self._rate(token)
        routes: list[tuple[str, str, Any, str | None]] = [
            ("POST", r"/crm/v3/objects/calls", self._create_call, WRITE),
            ("PATCH", r"/crm/v3/objects/calls/([^/]+)", self._update_call, WRITE),
            ("POST", r"/crm/v3/objects/calls/search", self._search_calls, READ),
            ("POST", r"/crm/v3/objects/contacts/search", self._search_contacts, READ),
            ("GET", r"/account-info/v3/details", self._details, None),
            ("GET", r"/calling/v1/dispositions", self._dispositions, None),
            ("POST", r"/oauth/v2/private-apps/get/access-token-info", self._token_info, None),
        ]
        for m, pattern, fn, scope in routes:
            match = re.fullmatch(pattern, path)
            if match is None:
                continue
            if m != method:
                continue
            if scope is not None and scope not in tok.scopes:
                raise ApiError(403, "This app hasn't been granted all required scopes to make this call. Read more "
                                    "about required scopes here: https://developers.hubspot.com/scopes.",
                               "MISSING_SCOPES", errors=[{"message": "One or more of the following scopes are "
                                                                     "required.",
                                                          "context": {"requiredGranularScopes": [scope]}}],
                               extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}})
            if method in ("POST", "PATCH", "PUT") and not headers.get("content-type", "").lower().startswith(
                    "application/json"):
                raise ApiError(415, "Content type must be application/json", "VALIDATION_ERROR")
            status, payload = fn(body, *match.groups(), token=token)
            return status, payload, limit_headers
        raise ApiError(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    def _auth(self, token: str) -> Token:
        if not token:
            raise ApiError(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                                "and you can find more details at https://developers.hubspot.com/docs/methods/"
                                "auth/oauth-overview", "INVALID_AUTHENTICATION")
        tok = self.tokens.get(token)
        if tok is None:
            raise ApiError(401, "The OAuth token used to make this call expired or is invalid.",
                           "INVALID_AUTHENTICATION")
        return tok

    def _rate(self, token: str) -> dict[str, str]:
        limit, window = self.rate_limit
        now = time.monotonic()
        if now < self._retry_until.get(token, 0.0):
            self.early += 1
        q = self._window[token]
        while q and now - q[0] >= window:
            q.popleft()
        if len(q) >= limit:
            wait = q[0] + window - now
            retry_after = max(1, math.ceil(wait))
            self._retry_until[token] = max(self._retry_until.get(token, 0.0), now + wait)
            self.rate_limited += 1
            raise ApiError(429, "You have reached your ten_secondly_rolling limit.", "",
                           headers={"Retry-After": str(retry_after), "X-HubSpot-RateLimit-Max": str(limit),
                                    "X-HubSpot-RateLimit-Remaining": "0",
                                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000))},
                           extra={"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING",
                                  "groupName": "publicapi:private-app"})
        q.append(now)
        return {"X-HubSpot-RateLimit-Max": str(limit), "X-HubSpot-RateLimit-Remaining": str(limit - len(q)),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000))}

    # ------------------------------------------------------------------ endpoints

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid input: the request body must be a JSON object", "VALIDATION_ERROR")
        return body

    def _check_properties(self, props: Any, *, create: bool) -> dict[str, str]:
        if not isinstance(props, dict):
            raise ApiError(400, "Invalid input: \"properties\" is required and must be an object",
                           "VALIDATION_ERROR")
        errors: list[dict[str, Any]] = []
        for name, value in props.items():
            if name not in CALL_PROPERTIES:
                errors.append({"message": f"Property \"{name}\" does not exist", "code": "PROPERTY_DOESNT_EXIST",
                               "context": {"propertyName": [name]}})
            elif not isinstance(value, str):
                errors.append({"message": f"Property values must be strings: {name}", "code": "INVALID_TYPE",
                               "context": {"propertyName": [name]}})
        if errors:
            raise ApiError(400, "Property values were not valid", "VALIDATION_ERROR", errors=errors)
        ts = props.get("hs_timestamp")
        if create and not ts:
            errors.append({"message": "hs_timestamp is required", "code": "REQUIRED_PROPERTY"})
        if ts is not None and not (ts.isdigit() or re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z?", ts)):
            errors.append({"message": f"{ts!r} is not a valid timestamp for hs_timestamp", "code": "INVALID_DATE"})
        checks = {
            "hs_call_direction": lambda v: v in ("INBOUND", "OUTBOUND"),
            "hs_call_status": lambda v: v in CALL_STATUSES,
            "hs_call_duration": lambda v: v.isdigit(),
            "hs_call_disposition": lambda v: v == "" or v in DEFAULT_OUTCOMES,
            "hs_call_body": lambda v: len(v) <= 65536,
        }
        for name, ok in checks.items():
            if name in props and not ok(props[name]):
                errors.append({"message": f"{props[name][:80]!r} was not a valid value for {name}",
                               "code": "INVALID_OPTION", "context": {"propertyName": [name]}})
        if errors:
            raise ApiError(400, "Property values were not valid", "VALIDATION_ERROR", errors=errors)
        return dict(props)

    def _check_associations(self, assocs: Any) -> list[dict[str, Any]]:
        if not isinstance(assocs, list):
            raise ApiError(400, "Invalid input: \"associations\" is required and must be an array",
                           "VALIDATION_ERROR")
        out = []
        for a in assocs:
            to = a.get("to") if isinstance(a, dict) else None
            types = a.get("types") if isinstance(a, dict) else None
            if not isinstance(to, dict) or not isinstance(to.get("id"), str) or not isinstance(types, list) \
                    or not types:
                raise ApiError(400, "Each association needs \"to\": {\"id\": string} and \"types\"",
                               "VALIDATION_ERROR")
            for t in types:
                if not isinstance(t, dict) or t.get("associationCategory") not in CATEGORIES \
                        or not isinstance(t.get("associationTypeId"), int) or isinstance(t.get("associationTypeId"),
                                                                                         bool):
                    raise ApiError(400, f"Invalid association type {t!r}", "VALIDATION_ERROR")
                kind = CALL_TO.get(t["associationTypeId"]) if t["associationCategory"] == "HUBSPOT_DEFINED" else None
                if kind is None:
                    raise ApiError(400, f"association type id {t['associationTypeId']} doesn't exist between "
                                        "calls and any object", "VALIDATION_ERROR")
                target = int(to["id"]) if to["id"].isdigit() else -1
                store = {"contacts": self.contacts, "companies": self.companies}.get(kind, {})
                if target not in store:
                    raise ApiError(400, f"No {kind[:-1]} with ID {to['id']} exists", "VALIDATION_ERROR")
                out.append({"to": kind, "id": target, "typeId": t["associationTypeId"]})
        return out

    def _create_call(self, body: Any, *, token: str) -> tuple[int, Any]:
        body = self._object(body)
        if "associations" not in body:
            raise ApiError(400, "Invalid input: \"associations\" is required", "VALIDATION_ERROR")
        extra = set(body) - {"properties", "associations"}
        if extra:
            raise ApiError(400, f"Unrecognized field(s): {sorted(extra)}", "VALIDATION_ERROR")
        props = self._check_properties(body.get("properties"), create=True)
        assocs = self._check_associations(body["associations"])
        cid = next(self._ids)
        now = time.time()
        props.setdefault("hs_object_id", str(cid))
        call = Obj(cid, props, now, now, assocs)
        self.calls[cid] = call
        self.searchable_at[cid] = time.monotonic() + self.search_lag_s
        return 201, call.view()

    def _update_call(self, body: Any, call_id: str, *, token: str) -> tuple[int, Any]:
        body = self._object(body)
        props = self._check_properties(body.get("properties"), create=False)
        call = self.calls.get(int(call_id)) if call_id.isdigit() else None
        if call is None:
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        call.properties.update(props)
        call.updated = time.time()
        return 200, call.view()

    def _search(self, store: dict[int, Obj], defaults: tuple[str, ...], body: Any) -> tuple[int, Any]:
        body = self._object(body)
        missing = [k for k in ("filterGroups", "properties", "sorts", "limit", "after") if k not in body]
        if missing:
            raise ApiError(400, f"Invalid input JSON: missing {missing}", "VALIDATION_ERROR")
        groups = body["filterGroups"]
        if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
            raise ApiError(400, f"There can be at most {MAX_GROUPS} filterGroups", "VALIDATION_ERROR")
        total_filters = 0
        for g in groups:
            filters = g.get("filters") if isinstance(g, dict) else None
            if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
                raise ApiError(400, f"Each filter group needs \"filters\" (at most {MAX_FILTERS_PER_GROUP})",
                               "VALIDATION_ERROR")
            total_filters += len(filters)
            for f in filters:
                if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str) \
                        or f.get("operator") not in OPERATORS:
                    raise ApiError(400, f"Invalid filter {f!r}", "VALIDATION_ERROR")
                if f["operator"] in ("IN", "NOT_IN") and not (isinstance(f.get("values"), list) and all(
                        isinstance(v, str) for v in f["values"])):
                    raise ApiError(400, f"{f['operator']} needs \"values\": a list of strings", "VALIDATION_ERROR")
                if f["operator"] in ("EQ", "NEQ") and not isinstance(f.get("value"), str):
                    raise ApiError(400, f"{f['operator']} needs \"value\": a string", "VALIDATION_ERROR")
        if total_filters > MAX_FILTERS:
            raise ApiError(400, f"There can be at most {MAX_FILTERS} filters in all", "VALIDATION_ERROR")
        limit, after = body["limit"], body["after"]
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}", "VALIDATION_ERROR")
        if not isinstance(after, str) or not after.isdigit():
            raise ApiError(400, "after must be a paging cursor string", "VALIDATION_ERROR")
        props = body["properties"]
        if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
            raise ApiError(400, "properties must be a list of property names", "VALIDATION_ERROR")
        sorts = body["sorts"]
        if not isinstance(sorts, list) or not all(
                isinstance(s, str) or (isinstance(s, dict) and isinstance(s.get("propertyName"), str)
                                       and s.get("direction", "ASCENDING") in ("ASCENDING", "DESCENDING"))
                for s in sorts):
            raise ApiError(400, "sorts must be property names or {propertyName, direction}", "VALIDATION_ERROR")
        now = time.monotonic()
        hits = [o for o in store.values() if self.searchable_at.get(o.id, 0.0) <= now
                and (not groups or any(all(_matches(o, f) for f in g["filters"]) for g in groups))]
        for s in reversed(sorts):
            name = s if isinstance(s, str) else s["propertyName"]
            desc = isinstance(s, dict) and s.get("direction") == "DESCENDING"
            hits.sort(key=lambda o, n=name: (o.properties.get(n) or "", o.id), reverse=desc)
        start = int(after)
        page = hits[start:start + limit]
        wanted = list(dict.fromkeys([*defaults, *props])) if props else list(defaults)
        out: dict[str, Any] = {"total": len(hits), "results": [o.view(wanted) for o in page]}
        if start + limit < len(hits):
            nxt = str(start + limit)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, out

    def _search_contacts(self, body: Any, *, token: str) -> tuple[int, Any]:
        return self._search(self.contacts, CONTACT_DEFAULT_PROPS, body)

    def _search_calls(self, body: Any, *, token: str) -> tuple[int, Any]:
        return self._search(self.calls, CALL_DEFAULT_PROPS, body)

    def _details(self, body: Any, *, token: str) -> tuple[int, Any]:
        if body is not None:
            raise ApiError(400, "GET takes no body", "VALIDATION_ERROR")
        return 200, {"portalId": self.portal_id, "accountType": "STANDARD", "timeZone": "US/Eastern",
                     "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                     "utcOffsetMilliseconds": -18000000, "uiDomain": "app.hubspot.com",
                     "dataHostingLocation": "na1"}

    def _dispositions(self, body: Any, *, token: str) -> tuple[int, Any]:
        if body is not None:
            raise ApiError(400, "GET takes no body", "VALIDATION_ERROR")
        return 200, list(self.outcomes)

    def _token_info(self, body: Any, *, token: str) -> tuple[int, Any]:
        body = self._object(body)
        key = body.get("tokenKey")
        tok = self.tokens.get(key) if isinstance(key, str) else None
        if tok is None:
            raise ApiError(401, "The access token is invalid or expired.", "INVALID_AUTHENTICATION")
        return 200, {"userId": tok.user_id, "hubId": tok.hub_id, "appId": tok.app_id, "scopes": sorted(tok.scopes)}


def _matches(o: Obj, f: dict[str, Any]) -> bool:
    value = o.properties.get(f["propertyName"])
    op = f["operator"]
    if op == "HAS_PROPERTY":
        return value not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if value is None:
        return op in ("NEQ", "NOT_IN")
    if op == "EQ":
        return bool(value.lower() == f["value"].lower())
    if op == "NEQ":
        return bool(value.lower() != f["value"].lower())
    if op == "IN":
        return value.lower() in {v.lower() for v in f["values"]}
    if op == "NOT_IN":
        return value.lower() not in {v.lower() for v in f["values"]}
    if op == "CONTAINS_TOKEN":
        return f.get("value", "").strip("*").lower() in value.lower()
    return False
