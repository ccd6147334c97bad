"""``softphone serve`` with the HubSpot CRM service loaded and tuned for tests (run as
``python -m tests.hubspot.crm_serve``).

Everything is the real engine (``softphone.cli`` serve path: lock, logging, control API, widget, optional
services); this module only (1) makes sure ``softphone.hubspot.logging_service.LoggingService`` is among the
optional services — whether or not ``softphone/app.py`` registers it yet — built with the shorter waits in
``SOFTPHONE_TEST_CRM_OPTS`` (JSON keyword arguments), and (2) lets the control API's event stream carry the
service's own events (``CallerIdentified`` → ``{"type": "caller"}``, ``CallLogged`` → ``{"type":
"call_logged"}``) in case ``core.events.event_to_json`` does not know them yet, so tests can watch them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from softphone import app
from softphone.control import server
from softphone.hubspot.events import CallerIdentified, CallLogged
from softphone.hubspot.logging_service import LoggingService

OPTS_ENV = "SOFTPHONE_TEST_CRM_OPTS"


def service() -> LoggingService:
    opts: dict[str, Any] = json.loads(os.environ.get(OPTS_ENV) or "{}")
    if "backoff_s" in opts:
        opts["backoff_s"] = tuple(opts["backoff_s"])
    for key in ("limit", "search_limit"):
        if key in opts:
            opts[key] = tuple(opts[key])
    return LoggingService(**opts)


def _install() -> None:
    app.OPTIONAL_SERVICES[:] = [(m, c) for m, c in app.OPTIONAL_SERVICES
                                if (m, c) != ("softphone.hubspot.logging_service", "LoggingService")]
    app.OPTIONAL_SERVICES.append((__name__ if __name__ != "__main__" else "tests.hubspot.crm_serve", "service"))
    known = server.event_to_json

    def event_to_json(ev: object) -> dict[str, Any] | None:
        data = known(ev)
        if data is None and isinstance(ev, (CallerIdentified, CallLogged)):
            return ev.to_json()
        return data

    server.event_to_json = event_to_json  # type: ignore[assignment]


if __name__ == "__main__":
    _install()
    from softphone.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
