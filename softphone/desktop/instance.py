"""One desktop window per user: a lock file plus a small private endpoint in the data directory.

A second ``softphone run`` (or ``softphone tel:+1…``) connects to the window's endpoint and sends one JSON
line (``{"op": "focus"}`` or ``{"op": "dial", "target": "tel:+1…"}``); the running window answers one JSON
line ``{"ok": true, ...}`` or ``{"ok": false, "error": {...}}``. The endpoint comes from the platform transport
seam: on Linux/macOS ``$DATA_DIR/window.sock``, 0600 inside the 0700 data directory, and the server also
checks the peer's uid (SO_PEERCRED); on Windows a loopback TCP port published in the user-only
``$DATA_DIR/window.port`` with a per-run secret every request must carry (``"secret"``), since any local user
can reach a loopback port. ``$DATA_DIR/window.lock`` decides who owns the endpoint when two windows start at
the same moment.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from softphone.platform.lock import FileLock
from softphone.platform.transport import Endpoint

log = logging.getLogger(__name__)

ENDPOINT_STEM = "window"
SOCKET_NAME = "window.sock"   # the Unix-socket name; the TCP variant publishes window.port
LOCK_NAME = "window.lock"
MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def window_endpoint(data_dir: Path) -> Endpoint:
    return Endpoint(data_dir, ENDPOINT_STEM)


def socket_path(data_dir: Path) -> Path:
    """The published name of the window's endpoint (the socket, or the TCP variant's port file)."""
    return window_endpoint(data_dir).path


class InstanceLock:
    """Held for the whole life of the window process; released by the OS if it crashes."""

    def __init__(self, lock: FileLock) -> None:
        self._lock = lock

    @classmethod
    def try_acquire(cls, data_dir: Path) -> InstanceLock | None:
        lock = FileLock.try_acquire(data_dir / LOCK_NAME)
        return cls(lock) if lock is not None else None

    def release(self) -> None:
        self._lock.release()


def forward(data_dir: Path, message: dict[str, Any], timeout_s: float = 15.0) -> dict[str, Any] | None:
    """Send one request to the running window. None when no window listens (no endpoint, or a stale one)."""
    endpoint = window_endpoint(data_dir)
    if not endpoint.present():
        return None
    try:
        sock = endpoint.connect(timeout_s)
    except (ConnectionRefusedError, FileNotFoundError):
        return None
    secret = endpoint.client_secret()
    if secret is not None:
        message = {**message, "secret": secret}
    try:
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = _read_line(sock)
    finally:
        sock.close()
    if not data:
        return {"ok": False, "error": {"code": "window", "message": "The running window did not answer."}}
    reply = json.loads(data)
    if not isinstance(reply, dict):
        return {"ok": False, "error": {"code": "window", "message": "The running window answered nonsense."}}
    return reply


def _read_line(sock: socket.socket) -> bytes:
    buf = b""
    while b"\n" not in buf and len(buf) <= MAX_REQUEST:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0]


def _peer_uid(conn: socket.socket) -> int | None:
    if sys.platform == "win32" or not hasattr(socket, "SO_PEERCRED") or conn.family != socket.AF_UNIX:
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _same_user(conn: socket.socket) -> bool:
    if sys.platform == "win32":
        return True               # loopback TCP: the secret decides
    else:
        uid = _peer_uid(conn)
        if uid is not None and uid != os.getuid():
            log.warning("refused a window request from uid %s", uid)
            return False
        return True


class WindowServer:
    """Accepts forwarded requests; ``handler`` runs on a short-lived thread per connection."""

    def __init__(self, data_dir: Path, handler: Handler) -> None:
        self.endpoint = window_endpoint(data_dir)
        self.path = self.endpoint.path
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> None:
        """Listen. Call only while holding the ``InstanceLock`` (a leftover endpoint is then stale)."""
        self._sock = self.endpoint.listen(8)
        self._thread = threading.Thread(target=self._accept_loop, name="window-instance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._closed.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        self.endpoint.unpublish()
        if self._thread is not None:
            self._thread.join(2)

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="window-request", daemon=True).start()

    def _secret_ok(self, got: object) -> bool:
        want = self.endpoint.secret
        if want is None:          # Unix socket: the file mode and the peer uid already decided
            return True
        return isinstance(got, str) and hmac.compare_digest(got.encode(), want.encode())

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                if not _same_user(conn):
                    return
                line = _read_line(conn)
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
                    if not self._secret_ok(request.pop("secret", None)):
                        log.warning("refused a window request without the endpoint's secret")
                        return
                except ValueError:
                    reply: dict[str, Any] = {"ok": False, "error": {"code": "bad_request",
                                                                    "message": "Expected one JSON object."}}
                else:
                    try:
                        reply = self._handler(request)
                    except Exception as exc:
                        log.exception("window request %r failed", request.get("op"))
                        reply = {"ok": False, "error": {"code": "window", "message": str(exc)}}
                conn.sendall(json.dumps(reply, default=str).encode() + b"\n")
            except OSError as exc:
                log.debug("window request connection dropped: %s", exc)
