"""Names of the control API's files in the data directory; the event JSON is ``core.events.event_to_json``."""

from __future__ import annotations

from softphone.core.events import event_to_json

SOCKET_NAME = "ctl.sock"
TOKEN_NAME = "ctl.token"

__all__ = ["SOCKET_NAME", "TOKEN_NAME", "event_to_json"]
