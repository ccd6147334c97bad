"""One desktop window per user: a lock file plus a small Unix socket in the data directory.

A second ``softphone run`` (or ``softphone tel:+1…``) connects to ``$DATA_DIR/window.sock`` and sends one
JSON line (``{"op": "focus"}`` or ``{"op": "dial", "target": "tel:+1…"}``); the running window answers one
JSON line ``{"ok": true, ...}`` or ``{"ok": false, "error": {...}}``. The socket is 0600 inside the 0700 data
directory, and the server also checks the peer's uid (SO_PEERCRED), so only the same user can talk to it.
``$DATA_DIR/window.lock`` (flock) decides who owns the socket when two windows start at the same moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

SOCKET_NAME = "window.sock"
LOCK_NAME = "window.lock"
MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


class InstanceLock:
    """Held for the whole life of the window process; released by the OS if it crashes."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh

    @classmethod
    def try_acquire(cls, data_dir: Path) -> InstanceLock | None:
        path = data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        return cls(fh)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()


def forward(data_dir: Path, message: dict[str, Any], timeout_s: float = 15.0) -> dict[str, Any] | None:
    """Send one request to the running window. None when no window listens (no socket, or a stale one)."""
    path = socket_path(data_dir)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return None
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
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class WindowServer:
    """Accepts forwarded requests; ``handler`` runs on a short-lived thread per connection."""

    def __init__(self, data_dir: Path, handler: Handler) -> None:
        self.path = socket_path(data_dir)
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> None:
        """Bind the socket. Call only while holding the ``InstanceLock`` (a leftover socket is then stale)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(8)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="window-instance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._closed.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
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

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                uid = _peer_uid(conn)
                if uid is not None and uid != os.getuid():
                    log.warning("refused a window request from uid %s", uid)
                    return
                line = _read_line(conn)
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
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
