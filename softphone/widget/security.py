"""The checks that keep the widget bridge private to the rep's own browser (see ``service`` for the threat model).

Small and side-effect free where possible so each rule is unit-tested on its own: which Host names are ours,
which Origins may open the WebSocket or frame the widget, the per-install token, the response headers, and —
on Linux — whether a loopback TCP peer belongs to the same OS user.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WS_SUBPROTOCOL = "softphone.v1"
TOKEN_PREFIX = "auth."


def allowed_hosts(port: int) -> frozenset[str]:
    """Host header values we answer to: a loopback name with our port (DNS rebinding gets a 421)."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def self_origins(port: int) -> tuple[str, ...]:
    """Origins of our own pages (the widget and the sandbox); the only ones allowed to open the WebSocket."""
    return tuple(f"https://{name}:{port}" for name in LOOPBACK_NAMES)


def normalize_origin(origin: str | None) -> str | None:
    if not origin:
        return None
    o = origin.strip().rstrip("/").lower()
    return o if o and o != "null" else None


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Exact match only: no wildcards, no suffix matching, ``null`` never matches."""
    o = normalize_origin(origin)
    return o is not None and o in {a.lower() for a in allowed}


def frame_ancestors(allowed_parents: Iterable[str]) -> str:
    """CSP ``frame-ancestors`` source list for the widget: ourselves (sandbox) and the allowed parents."""
    out = ["'self'"]
    for o in allowed_parents:
        if o not in out:
            out.append(o)
    return "frame-ancestors " + " ".join(out)


def widget_csp(host: str, allowed_parents: Iterable[str]) -> str:
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src 'self' wss://{host}",
        "base-uri 'none'",
        "form-action 'none'",
        frame_ancestors(allowed_parents),
    ])


def sandbox_csp(host: str) -> str:
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"frame-src https://{host}",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])


BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), hid=()",
}


# ------------------------------------------------------------------ the per-install token


def load_or_create_token(path: Path) -> str:
    """A random token kept in the data dir (0600). Created once per install; delete the file to rotate."""
    with contextlib.suppress(OSError):
        tok = path.read_text(encoding="ascii").strip()
        if len(tok) >= 32 and all(c.isalnum() or c in "-_" for c in tok):
            return tok
    tok = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(tok + "\n")
    os.replace(tmp, path)
    return tok


def token_from_protocols(header: str | None) -> str | None:
    """The token the widget offers as a WebSocket subprotocol ``auth.<token>`` (browsers cannot set headers)."""
    if not header:
        return None
    for proto in header.split(","):
        p = proto.strip()
        if p.startswith(TOKEN_PREFIX):
            return p[len(TOKEN_PREFIX):]
    return None


def token_ok(offered: str | None, expected: str) -> bool:
    if not offered:
        return False
    return hmac.compare_digest(offered.encode(), expected.encode())


# ------------------------------------------------------------------ same-user check (Linux)


def _proc_tables() -> list[Path]:
    return [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]


def _hex_port(field: str) -> int:
    return int(field.rsplit(":", 1)[1], 16)


def peer_uid(peer_port: int, local_port: int, tables: Iterable[Path] | None = None) -> int | None:
    """The uid owning the client end of a loopback TCP connection to ``local_port``, from /proc/net/tcp*.

    None when it cannot be told (not Linux, /proc hidden, entry not found).
    """
    if not sys.platform.startswith("linux"):
        return None
    for table in tables if tables is not None else _proc_tables():
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 8:
                continue
            try:
                if _hex_port(parts[1]) == peer_port and _hex_port(parts[2]) == local_port:
                    return int(parts[7])
            except ValueError:
                continue
    return None


def same_user(peer_port: int, local_port: int, tables: Iterable[Path] | None = None) -> bool:
    """False only when we positively know the peer is another OS user (shared machines)."""
    if sys.platform == "win32":   # no /proc/net/tcp: the widget token alone guards the port there
        return True
    uid = peer_uid(peer_port, local_port, tables)
    return uid is None or uid == os.getuid()
