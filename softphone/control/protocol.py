"""Names of the control API's files in the data directory; the event JSON is ``core.events.event_to_json``."""

from __future__ import annotations

from pathlib import Path

from softphone.core.events import event_to_json
from softphone.platform.transport import Endpoint, Kind

SOCKET_NAME = "ctl.sock"      # Linux/macOS: the Unix socket
PORT_NAME = "ctl.port"        # Windows (or SOFTPHONE_CONTROL_TRANSPORT=tcp): loopback port + secret, user-only
TOKEN_NAME = "ctl.token"
ENDPOINT_STEM = "ctl"


def control_endpoint(data_dir: Path, kind: Kind | None = None) -> Endpoint:
    """Where the control API listens: the platform transport seam decides (Unix socket or loopback TCP)."""
    return Endpoint(data_dir, ENDPOINT_STEM, kind)


__all__ = ["ENDPOINT_STEM", "PORT_NAME", "SOCKET_NAME", "TOKEN_NAME", "control_endpoint", "event_to_json"]
