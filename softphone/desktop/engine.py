"""The window's link to the engine process: the control-API client, and starting ``softphone serve``.

The window never owns SIP or audio: everything goes through ``softphone.control.client.ControlClient``
(commands over the Unix socket, events over its WebSocket), so a crash of the window (Qt WebEngine is large)
never drops a call, and the window can be closed and reopened during one.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

ENGINE_LOG = "engine.log"


class EngineClient(Protocol):
    """What the window needs of ``ControlClient`` (docs/CONTRACTS.md, "Control API")."""

    def command(self, name: str, **args: Any) -> dict[str, Any]: ...
    def events(self) -> AsyncIterator[dict[str, Any]]: ...
    def is_running(self) -> bool: ...


def open_client(data_dir: Path) -> EngineClient:
    from softphone.control.client import ControlClient

    client: EngineClient = ControlClient(data_dir)
    return client


def engine_command() -> list[str]:
    """``softphone serve`` with the interpreter of this process (works from a venv without PATH)."""
    return [sys.executable, "-m", "softphone", "serve"]


def spawn_engine(data_dir: Path) -> subprocess.Popen[bytes]:
    """Start the engine detached (own session: closing the window or its terminal never stops a call).

    Output goes to ``$DATA_DIR/engine.log``; the caller does not wait: the event pump connects when the
    control socket appears, so the window shows at once and says "starting" meanwhile.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / ENGINE_LOG
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            engine_command(),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=str(data_dir),
        )
    finally:
        os.close(fd)
    log.info("started the phone engine (pid %d), log in %s", proc.pid, log_path)
    return proc


def error_payload(exc: BaseException) -> dict[str, Any]:
    """A ``SoftphoneError`` (or anything else) as the ``{"code", "message"}`` the page shows."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if isinstance(code, str) and isinstance(message, str):
        return {"code": code, "message": message}
    if isinstance(exc, (ConnectionError, FileNotFoundError, TimeoutError)):
        return {"code": "not_running", "message": "The phone engine is not running."}
    return {"code": "error", "message": str(exc) or type(exc).__name__}
