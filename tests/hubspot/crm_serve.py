"""``softphone serve`` with the HubSpot CRM service loaded and tuned for tests (run as
``python -m tests.hubspot.crm_serve``).

Everything is the real engine (``softphone.cli`` serve path: lock, logging, control API, widget, optional
services); this module only builds the engine's ``LoggingService`` with the shorter waits in
``SOFTPHONE_TEST_CRM_OPTS`` (JSON keyword arguments), so tests do not wait out production backoffs.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from softphone import app
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
    app.OPTIONAL_SERVICES[:] = [(m, c) if (m, c) != ("softphone.hubspot.logging_service", "LoggingService")
                                else ("tests.hubspot.crm_serve", "service") for m, c in app.OPTIONAL_SERVICES]


if __name__ == "__main__":
    _install()
    from softphone.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
