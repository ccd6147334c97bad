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
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

ENGINE_LOG = "engine.log"


class EngineClient(Protocol):
    """What the window needs of ``ControlClient`` (docs/CONTRACTS.md, "Control API")."""

    def command(self, name: str, /, **args: Any) -> dict[str, Any]: ...
    def events(self) -> AsyncIterator[dict[str, Any]]: ...
    def is_running(self) -> bool: ...


def open_client(data_dir: Path) -> EngineClient:
    return LazyClient(data_dir)


class LazyClient:
    """``ControlClient``, imported on first use: its HTTP stack (httpx, aiohttp) then loads on a worker thread
    while Qt starts, instead of delaying the window on the main thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._client: EngineClient | None = None
        self._lock = threading.Lock()

    def _get(self) -> EngineClient:
        with self._lock:
            if self._client is None:
                from softphone.control.client import ControlClient

                self._client = ControlClient(self.data_dir)
            return self._client

    def command(self, name: str, /, **args: Any) -> dict[str, Any]:
        return self._get().command(name, **args)

    def events(self) -> AsyncIterator[dict[str, Any]]:
        return self._get().events()

    def is_running(self) -> bool:
        return self._get().is_running()


def engine_listening(data_dir: Path) -> bool:
    """Cheap check (no HTTP stack): does something accept connections on the control endpoint?"""
    from softphone.control.protocol import control_endpoint

    return control_endpoint(data_dir).listening()


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
