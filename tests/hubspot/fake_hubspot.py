"""A local stand-in for HubSpot's calling settings API that enforces the documented contract.

Contract (docs: ../shared/reference/hubspot-calling-extensions-sdk.txt "Using the calling settings endpoint", and
HubSpot's v3 reference for /crm/v3/extensions/calling/{appId}/settings):

- path ``/crm/v3/extensions/calling/{appId}/settings``, appId a positive int32 of an app of this developer account
  (unknown app -> 404);
- auth: the developer API key in the ``hapikey`` query parameter, nothing else (missing/wrong -> 401); no other
  query parameters; ``Accept`` must allow application/json;
- POST creates (JSON object body, Content-Type application/json; name, url, width, height required; 409 when the
  app already has settings); GET reads; PATCH merges a non-empty partial body; DELETE answers 204 with no body;
  GET/PATCH/DELETE of an app without settings -> 404; any other method -> 405;
- fields and types: name (non-empty str), url (https URL str), width/height (positive int32, not bool), isReady,
  supportsCustomObjects, supportsInboundCalling, usesCallingWindow, usesRemote (bool); unknown fields -> 400;
- responses carry the stored settings plus createdAt/updatedAt; isReady defaults to true (as documented), the
  other flags to false; errors use HubSpot's error shape {status, message, correlationId, category, errors[]}.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PATH_RE = re.compile(r"/crm/v3/extensions/calling/([^/]+)/settings")
INT32_MAX = 2**31 - 1
FIELD_TYPES: dict[str, type] = {
    "name": str, "url": str, "width": int, "height": int, "isReady": bool, "supportsCustomObjects": bool,
    "supportsInboundCalling": bool, "usesCallingWindow": bool, "usesRemote": bool,
}
CREATE_REQUIRED = ("name", "url", "width", "height")
DEFAULTS = {"isReady": True, "supportsCustomObjects": False, "supportsInboundCalling": False,
            "usesCallingWindow": False, "usesRemote": False}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0


class ContractError(Exception):
    def __init__(self, status: int, message: str, category: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.errors = errors or []


@dataclass
class FakeHubSpot:
    api_key: str
    known_apps: set[int] = field(default_factory=set)
    settings: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    base_url: str = ""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle
    def start(self) -> FakeHubSpot:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                rec = Recorded(self.command, split.path, parse_qs(split.query, keep_blank_values=True),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(rec)
                    status, payload = fake.dispatch(rec)
                    rec.status = status
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if payload is not None:
                    self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-hubspot", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    # -- contract
    def dispatch(self, rec: Recorded) -> tuple[int, dict[str, Any] | None]:
        try:
            return self._dispatch(rec)
        except ContractError as exc:
            return exc.status, {
                "status": "error", "message": exc.message, "correlationId": str(uuid.uuid4()),
                "category": exc.category, **({"errors": exc.errors} if exc.errors else {}),
            }

    def _dispatch(self, rec: Recorded) -> tuple[int, dict[str, Any] | None]:
        match = PATH_RE.fullmatch(rec.path)
        if not match:
            raise ContractError(404, f"No route for {rec.method} {rec.path}", "OBJECT_NOT_FOUND")
        keys = rec.query.get("hapikey")
        if not keys or keys != [self.api_key]:
            raise ContractError(401, "The API key provided is invalid. View or manage your API key here: "
                                     "https://app.hubspot.com/l/api-key/", "INVALID_AUTHENTICATION")
        extra = sorted(set(rec.query) - {"hapikey"})
        if extra:
            raise ContractError(400, f"Unknown query parameters: {', '.join(extra)}", "VALIDATION_ERROR")
        accept = rec.headers.get("accept", "*/*")
        if "application/json" not in accept and "*/*" not in accept:
            raise ContractError(406, "Only application/json responses are available", "VALIDATION_ERROR")
        raw_id = match.group(1)
        if not raw_id.isascii() or not raw_id.isdigit() or not 0 < int(raw_id) <= INT32_MAX:
            raise ContractError(400, f"Invalid appId {raw_id!r}: must be a positive int32", "VALIDATION_ERROR",
                                [{"message": "must be a positive integer", "in": "appId"}])
        app_id = int(raw_id)
        if app_id not in self.known_apps:
            raise ContractError(404, f"App {app_id} not found for this developer account", "OBJECT_NOT_FOUND")
        if rec.method == "POST":
            body = self._json_body(rec)
            self._check_fields(body, required=CREATE_REQUIRED)
            if app_id in self.settings:
                raise ContractError(409, f"Calling settings already exist for app {app_id}", "CONFLICT")
            now = _now()
            self.settings[app_id] = {**DEFAULTS, **body, "createdAt": now, "updatedAt": now}
            return 200, dict(self.settings[app_id])
        if rec.method in ("GET", "PATCH", "DELETE"):
            if rec.body:
                if rec.method != "PATCH":
                    raise ContractError(400, f"{rec.method} takes no body", "VALIDATION_ERROR")
            if app_id not in self.settings:
                raise ContractError(404, f"No calling settings exist for app {app_id}", "OBJECT_NOT_FOUND")
            if rec.method == "GET":
                return 200, dict(self.settings[app_id])
            if rec.method == "DELETE":
                del self.settings[app_id]
                return 204, None
            body = self._json_body(rec)
            if not body:
                raise ContractError(400, "Empty update", "VALIDATION_ERROR")
            self._check_fields(body, required=())
            self.settings[app_id].update(body, updatedAt=_now())
            return 200, dict(self.settings[app_id])
        raise ContractError(405, f"Method {rec.method} not allowed", "METHOD_NOT_ALLOWED")

    @staticmethod
    def _json_body(rec: Recorded) -> dict[str, Any]:
        ctype = rec.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise ContractError(415, f"Content-Type must be application/json, got {ctype!r}", "VALIDATION_ERROR")
        try:
            body = json.loads(rec.body)
        except ValueError:
            raise ContractError(400, "Invalid JSON body", "VALIDATION_ERROR") from None
        if not isinstance(body, dict):
            raise ContractError(400, "Body must be a JSON object", "VALIDATION_ERROR")
        return body

    @staticmethod
    def _check_fields(body: dict[str, Any], *, required: tuple[str, ...]) -> None:
        errors: list[dict[str, Any]] = []
        for name, value in body.items():
            kind = FIELD_TYPES.get(name)
            if kind is None:
                errors.append({"message": f"Unrecognized field \"{name}\"", "in": name})
            elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                errors.append({"message": f"{name} must be an integer", "in": name})
            elif kind is int and not 0 < value <= INT32_MAX:
                errors.append({"message": f"{name} must be a positive int32", "in": name})
            elif kind is not int and not isinstance(value, kind):
                errors.append({"message": f"{name} must be a {kind.__name__}", "in": name})
            elif name == "name" and not value.strip():
                errors.append({"message": "name must not be blank", "in": name})
            elif name == "url" and not urlsplit(value).scheme == "https":
                errors.append({"message": "url must be an https URL", "in": name})
        errors += [{"message": f"{name} is required", "in": name} for name in required if name not in body]
        if errors:
            raise ContractError(400, "Invalid input (details will vary based on the error)", "VALIDATION_ERROR",
                                errors)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
