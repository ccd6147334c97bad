"""Control channel and single-instance transport seam: a Unix socket, or a loopback TCP port with a secret.

Linux and macOS use a Unix socket in the 0700 data directory (mode 0600): only the user can connect. Windows
uses a loopback TCP port (any local user can connect there), so the port is published in a user-only file
(``<name>.port``, written atomically with the ``files`` seam) together with a per-run secret the client must
present; the control API additionally demands its per-install bearer token. ``SOFTPHONE_CONTROL_TRANSPORT``
(``unix`` or ``tcp``) overrides the choice, which is how the Windows variant runs in the Linux test suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from softphone.platform.files import Protection, protection_for, write_private

if TYPE_CHECKING:
    import aiohttp

TRANSPORT_ENV = "SOFTPHONE_CONTROL_TRANSPORT"
Kind = Literal["unix", "tcp"]
LOOPBACK = "127.0.0.1"


def transport_kind() -> Kind:
    """The transport chosen at start-up: the override if set, else the platform's own."""
    env = os.environ.get(TRANSPORT_ENV, "").strip().lower()
    if env == "unix":
        if sys.platform == "win32":
            raise ValueError(f"{TRANSPORT_ENV}=unix is not available on Windows: use tcp")
        return "unix"
    if env == "tcp":
        return "tcp"
    if env:
        raise ValueError(f"{TRANSPORT_ENV} must be 'unix' or 'tcp', not {env!r}")
    return "tcp" if sys.platform == "win32" else "unix"


class Endpoint:
    """One listening place in the data directory, named ``<stem>.sock`` (Unix) or ``<stem>.port`` (TCP)."""

    def __init__(self, data_dir: Path, stem: str, kind: Kind | None = None,
                 protection: Protection | None = None) -> None:
        self.data_dir = data_dir
        self.kind: Kind = kind or transport_kind()
        self.path = data_dir / (f"{stem}.sock" if self.kind == "unix" else f"{stem}.port")
        self._protection = protection
        self.secret: str | None = None   # TCP: what a client must present (None for Unix sockets)

    def __str__(self) -> str:
        return str(self.path)

    def present(self) -> bool:
        """Something published this endpoint (it may still be stale: ``connect`` tells)."""
        return self.path.exists()

    # ---------------------------------------------------------------- server side
    def listen(self, backlog: int = 16) -> socket.socket:
        """A bound, listening socket, published for clients. Call while holding the instance lock."""
        if self.kind == "tcp":
            return self._listen_tcp(backlog)
        if sys.platform == "win32":
            raise OSError("Unix sockets are not used on Windows")
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
            sock.listen(backlog)
            return sock

    def _listen_tcp(self, backlog: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if sys.platform == "win32":   # no other process may bind the same port over us
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            sock.bind((LOOPBACK, 0))
            sock.listen(backlog)
            self.secret = secrets.token_urlsafe(32)
            info = {"host": LOOPBACK, "port": sock.getsockname()[1], "pid": os.getpid(), "secret": self.secret}
            write_private(self.path, json.dumps(info), self._protection or protection_for())
        except BaseException:
            sock.close()
            raise
        return sock

    def unpublish(self) -> None:
        """Remove the published name, unless a newer process has replaced it already (TCP: another pid)."""
        if self.kind == "tcp":
            info = self._read_port_file()
            if info is not None and info.get("pid") != os.getpid():
                return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # ---------------------------------------------------------------- client side
    def _read_port_file(self) -> dict[str, Any] | None:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def client_secret(self) -> str | None:
        """The secret the listener published (TCP), read from the user-only port file."""
        if self.kind != "tcp":
            return None
        info = self._read_port_file()
        return str(info["secret"]) if info and "secret" in info else None

    def address(self) -> tuple[str, int]:
        """TCP: (host, port) from the port file; FileNotFoundError when nothing published it."""
        info = self._read_port_file()
        if info is None or not isinstance(info.get("port"), int):
            raise FileNotFoundError(f"no control port published in {self.path}")
        return str(info.get("host", LOOPBACK)), int(info["port"])

    def connect(self, timeout: float) -> socket.socket:
        """A connected socket; OSError (FileNotFoundError, ConnectionRefusedError...) when nobody listens."""
        if self.kind == "tcp":
            return socket.create_connection(self.address(), timeout=timeout)
        if sys.platform == "win32":
            raise OSError("Unix sockets are not used on Windows")
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(str(self.path))
            except BaseException:
                sock.close()
                raise
            return sock

    def listening(self, timeout: float = 1.0) -> bool:
        """Cheap check (no HTTP): does something accept connections here?"""
        try:
            self.connect(timeout).close()
        except OSError:
            return False
        return True

    def aiohttp_target(self) -> tuple[aiohttp.BaseConnector, str]:
        """(connector, base URL) for an aiohttp client session to this endpoint."""
        import aiohttp

        if self.kind == "tcp":
            host, port = self.address()
            return aiohttp.TCPConnector(), f"http://{host}:{port}"
        return aiohttp.UnixConnector(path=str(self.path)), "http://softphone"
