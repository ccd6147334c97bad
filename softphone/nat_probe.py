"""What network the rep's computer sits behind, and whether its STUN/TURN servers work: ``softphone doctor`` and
the engine's NAT check (:class:`NatCheckService`) ask here.

A small STUN/TURN client of its own (RFC 5389 Binding, RFC 5780 behaviour discovery, RFC 5766 Allocate with the
long-term credential), so the answers never depend on a running engine and a check never touches pjsua:

* the public address (XOR-MAPPED-ADDRESS) and whether the NAT keeps one public port per local port whatever the
  destination (endpoint-independent mapping: "stable", STUN addresses are good for media), or a new one per
  destination (address-dependent or symmetric: only a relay gets media through when the PBX does not relay);
* whether each STUN server answers; whether the TURN server accepts the account's credentials and gives out an
  allocation (released again at once);
* which settings suit what was found.

Nothing here raises for bad servers or bad networks: every problem becomes a :class:`Finding` with a code, a
level and a sentence for the rep. ``python -m softphone.nat_probe`` prints the report (``--json`` for machines;
the TURN password is read from stdin, never from the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import ssl
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from softphone.config import AccountConfig, Settings
    from softphone.ports import EngineAPI

log = logging.getLogger(__name__)

STUN_PORT = 3478
TURNS_PORT = 5349
MAGIC = 0x2112A442
TIMEOUT_S = 1.5                     # per server: three UDP tries (0, 250, 750 ms) and a last wait

# message types (method | class)
BINDING, BINDING_OK, BINDING_ERR = 0x0001, 0x0101, 0x0111
ALLOCATE, ALLOCATE_OK, ALLOCATE_ERR = 0x0003, 0x0103, 0x0113
REFRESH, REFRESH_OK = 0x0004, 0x0104
# attributes
MAPPED_ADDRESS, USERNAME, MESSAGE_INTEGRITY, ERROR_CODE = 0x0001, 0x0006, 0x0008, 0x0009
CHANGED_ADDRESS, LIFETIME, XOR_RELAYED_ADDRESS, REALM, NONCE = 0x0005, 0x000D, 0x0016, 0x0014, 0x0015
REQUESTED_TRANSPORT, XOR_MAPPED_ADDRESS, SOFTWARE = 0x0019, 0x0020, 0x8022
RESPONSE_ORIGIN, OTHER_ADDRESS, FINGERPRINT = 0x802B, 0x802C, 0x8028

Address = tuple[str, int]


class StunError(Exception):
    """A malformed STUN message (what a non-STUN server or a middlebox sends back)."""


# ------------------------------------------------------------------------------------------------ wire format


@dataclass
class Message:
    type: int
    txid: bytes
    attrs: list[tuple[int, bytes]] = field(default_factory=list)

    def get(self, attr: int) -> bytes | None:
        return next((v for t, v in self.attrs if t == attr), None)

    def address(self, attr: int) -> Address | None:
        raw = self.get(attr)
        if raw is None:
            return None
        return decode_address(raw, self.txid, xor=attr in (XOR_MAPPED_ADDRESS, XOR_RELAYED_ADDRESS))

    def error(self) -> tuple[int, str] | None:
        raw = self.get(ERROR_CODE)
        if raw is None or len(raw) < 4:
            return None
        return (raw[2] & 0x07) * 100 + raw[3], raw[4:].decode("utf-8", "replace").strip()


def _attr(t: int, value: bytes) -> bytes:
    return struct.pack("!HH", t, len(value)) + value + b"\0" * (-len(value) % 4)


def integrity(data: bytes, key: bytes) -> bytes:
    """MESSAGE-INTEGRITY of a message so far (header and attributes): HMAC-SHA1 with the header's length
    counting the integrity attribute itself."""
    head = data[:2] + struct.pack("!H", len(data) - 20 + 24) + data[4:]
    return hmac.new(key, head, hashlib.sha1).digest()


def fingerprint(data: bytes) -> bytes:
    """FINGERPRINT of a message so far: CRC-32 xor 0x5354554e, the length counting the fingerprint."""
    head = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:]
    return struct.pack("!I", (zlib.crc32(head) ^ 0x5354554E) & 0xFFFFFFFF)


def encode(msg: Message, *, key: bytes | None = None, with_fingerprint: bool = True) -> bytes:
    """The message on the wire; with ``key`` a MESSAGE-INTEGRITY is added, then a FINGERPRINT."""
    data = struct.pack("!HHI", msg.type, 0, MAGIC) + msg.txid + b"".join(_attr(t, v) for t, v in msg.attrs)
    if key is not None:
        data += _attr(MESSAGE_INTEGRITY, integrity(data, key))
    if with_fingerprint:
        data += _attr(FINGERPRINT, fingerprint(data))
    return data[:2] + struct.pack("!H", len(data) - 20) + data[4:]


def decode(data: bytes) -> Message:
    if len(data) < 20:
        raise StunError("shorter than a STUN header")
    mtype, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC or mtype & 0xC000 or len(data) < 20 + length:
        raise StunError("not a STUN message")
    msg = Message(mtype, data[8:20])
    pos, end = 20, 20 + length
    while pos + 4 <= end:
        t, n = struct.unpack("!HH", data[pos:pos + 4])
        if pos + 4 + n > end:
            raise StunError("attribute runs past the message")
        msg.attrs.append((t, data[pos + 4:pos + 4 + n]))
        pos += 4 + n + (-n % 4)
    return msg


def decode_address(raw: bytes, txid: bytes, *, xor: bool) -> Address | None:
    if len(raw) < 8:
        return None
    family, port = raw[1], struct.unpack("!H", raw[2:4])[0]
    if xor:
        port ^= MAGIC >> 16
    if family == 0x01 and len(raw) >= 8:
        a = int.from_bytes(raw[4:8], "big")
        if xor:
            a ^= MAGIC
        return str(ipaddress.IPv4Address(a)), port
    if family == 0x02 and len(raw) >= 20:
        a = int.from_bytes(raw[4:20], "big")
        if xor:
            a ^= int.from_bytes(struct.pack("!I", MAGIC) + txid, "big")
        return str(ipaddress.IPv6Address(a)), port
    return None


def long_term_key(username: str, realm: str, password: str) -> bytes:
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()  # noqa: S324 (RFC 5389 says MD5)


def _request(mtype: int, *attrs: tuple[int, bytes]) -> Message:
    return Message(mtype, os.urandom(12), list(attrs))


# ------------------------------------------------------------------------------------------------ transport


def split_hostport(value: str, default_port: int = STUN_PORT) -> Address:
    """"host", "host:port", "[v6]:port" → (host, port)."""
    v = value.strip()
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default_port
    if v.count(":") == 1:
        host, _, port = v.partition(":")
        return host, int(port) if port.isdigit() else default_port
    return v, default_port


def resolve(host: str, port: int, kind: int = socket.SOCK_DGRAM) -> Address:
    """First IPv4 address of ``host`` (raises OSError with the resolver's reason)."""
    infos = socket.getaddrinfo(host, port, socket.AF_INET, kind)
    return str(infos[0][4][0]), int(infos[0][4][1])


class _Udp:
    def __init__(self, bind: Address = ("0.0.0.0", 0)) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)

    @property
    def local(self) -> Address:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def transact(self, msg: Message, dest: Address, timeout: float, **enc: Any) -> tuple[Message, Address]:
        """Send with retransmissions (RFC 5389 RTO, shortened to fit ``timeout``); the matching answer."""
        data = encode(msg, **enc)
        deadline = time.monotonic() + timeout
        rto, next_send = 0.25, time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(f"no answer from {dest[0]}:{dest[1]} within {timeout:.1f} s")
            if now >= next_send:
                self.sock.sendto(data, dest)
                next_send, rto = now + rto, rto * 2
            self.sock.settimeout(max(0.01, min(next_send, deadline) - now))
            try:
                raw, src = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                raise ConnectionRefusedError(f"{dest[0]}:{dest[1]} refused (nothing listens there)") from None
            try:
                answer = decode(raw)
            except StunError:
                continue
            if answer.txid == msg.txid:
                return answer, (str(src[0]), int(src[1]))

    def close(self) -> None:
        self.sock.close()


class _Stream:
    """TURN over TCP or TLS: STUN messages back to back on one connection."""

    def __init__(self, dest: Address, timeout: float, *, tls: bool, server_name: str) -> None:
        raw = socket.create_connection(dest, timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            self.sock: socket.socket = ctx.wrap_socket(raw, server_hostname=server_name)
        else:
            self.sock = raw
        self.dest = dest

    @property
    def local(self) -> Address:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def transact(self, msg: Message, dest: Address, timeout: float, **enc: Any) -> tuple[Message, Address]:
        self.sock.settimeout(timeout)
        self.sock.sendall(encode(msg, **enc))
        while True:
            head = self._read(20)
            length = struct.unpack("!H", head[2:4])[0]
            answer = decode(head + self._read(length))
            if answer.txid == msg.txid:
                return answer, self.dest

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        return buf

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# ------------------------------------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Finding:
    """One thing the rep should know: ``level`` "ok" | "info" | "warning" | "error"."""

    level: str
    code: str
    message: str


@dataclass
class StunResult:
    server: str
    local: Address | None = None
    mapped: Address | None = None
    other: Address | None = None          # the server's second address (RFC 5780), for behaviour tests
    rtt_ms: float | None = None
    error: str = ""


@dataclass
class TurnResult:
    server: str
    transport: str
    relayed: Address | None = None
    mapped: Address | None = None
    error_code: int | None = None
    error: str = ""


@dataclass
class NatReport:
    local_address: str | None = None
    public_address: Address | None = None
    # "none" | "endpoint-independent" | "address-dependent" | "symmetric" | "unknown" | "unchecked" (no STUN server)
    nat: str = "unknown"
    port_preserved: bool | None = None
    stable: bool | None = None  # the same public address/port again for the same local port a moment later
    stun: list[StunResult] = field(default_factory=list)
    turn: TurnResult | None = None
    findings: list[Finding] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _fmt(a: Address | None) -> str:
    return "-" if a is None else (f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}")


def _binding(chan: _Udp, dest: Address, timeout: float) -> tuple[Message, float]:
    t0 = time.monotonic()
    answer, _ = chan.transact(_request(BINDING), dest, timeout)
    return answer, (time.monotonic() - t0) * 1000


def stun_query(server: str, *, timeout: float = TIMEOUT_S, chan: _Udp | None = None) -> StunResult:
    """One Binding request to ``server`` from ``chan`` (a fresh socket by default)."""
    res = StunResult(server)
    own = chan is None
    ch = chan or _Udp()
    try:
        dest = resolve(*split_hostport(server))
        answer, rtt = _binding(ch, dest, timeout)
        res.local, res.rtt_ms = ch.local, round(rtt, 1)
        if answer.type != BINDING_OK:
            code = answer.error()
            res.error = f"answered {code[0]} {code[1]}" if code else f"answered type {answer.type:#06x}"
            return res
        res.mapped = answer.address(XOR_MAPPED_ADDRESS) or answer.address(MAPPED_ADDRESS)
        res.other = answer.address(OTHER_ADDRESS) or answer.address(CHANGED_ADDRESS)
        if res.mapped is None:
            res.error = "answered without a mapped address"
    except (OSError, TimeoutError, StunError, ValueError) as exc:
        res.error = str(exc) or type(exc).__name__
    finally:
        if own:
            ch.close()
    return res


def _local_towards(dest: Address) -> str | None:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(dest)
        return str(s.getsockname()[0])
    return None


def discover(stun_servers: list[str], *, timeout: float = TIMEOUT_S) -> NatReport:
    """Public address and mapping behaviour seen through ``stun_servers`` (one local socket for all queries)."""
    rep = NatReport()
    if not stun_servers:
        rep.nat = "unchecked"
        return rep
    chan = _Udp()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            # each server also gets a fresh socket of its own, in parallel: tells "unreachable" apart quickly
            reach = list(pool.map(lambda s: stun_query(s, timeout=timeout), stun_servers))
        rep.stun = reach
        alive = [r for r in reach if r.mapped is not None]
        for r in reach:
            if r.error:
                rep.findings.append(Finding("warning", "stun_unreachable", f"STUN server {r.server} did not work "
                                            f"({r.error}): the public address comes from the PBX's answers only"))
        if not alive:
            return rep
        first = stun_query(alive[0].server, timeout=timeout, chan=chan)
        if first.mapped is None:
            return rep
        rep.public_address = first.mapped
        rep.local_address = _local_towards(resolve(*split_hostport(alive[0].server)))
        local_port = chan.local[1]
        rep.port_preserved = first.mapped[1] == local_port
        if rep.local_address == first.mapped[0] and rep.port_preserved:
            rep.nat = "none"
        else:
            rep.nat = _mapping_behaviour(chan, first, alive, timeout)
        again = stun_query(alive[0].server, timeout=timeout, chan=chan)
        rep.stable = again.mapped == first.mapped if again.mapped else None
    finally:
        chan.close()
    return rep


def _mapping_behaviour(chan: _Udp, first: StunResult, alive: list[StunResult], timeout: float) -> str:
    """RFC 5780 4.3: the same local port towards another address (and port) of the server, or towards another
    server: the same public port means endpoint-independent mapping."""
    assert first.mapped is not None
    if first.other is not None:
        _, port = resolve(*split_hostport(first.server))
        other_ip = first.other[0]
        r2 = stun_query(f"{other_ip}:{port}", timeout=timeout, chan=chan)
        if r2.mapped is None:
            return "unknown"
        if r2.mapped == first.mapped:
            return "endpoint-independent"
        r3 = stun_query(f"{other_ip}:{first.other[1]}", timeout=timeout, chan=chan)
        if r3.mapped is None:
            return "unknown"
        return "address-dependent" if r3.mapped == r2.mapped else "symmetric"
    others = [r for r in alive[1:] if r.server != first.server]
    for r in others:
        again = stun_query(r.server, timeout=timeout, chan=chan)
        if again.mapped is not None:
            return "endpoint-independent" if again.mapped == first.mapped else "symmetric"
    return "unknown"


def turn_check(server: str, transport: str, username: str | None, password: str | None, *,
               timeout: float = TIMEOUT_S * 2) -> TurnResult:
    """Allocate a relay with the long-term credential and release it at once."""
    res = TurnResult(server, transport)
    default_port = TURNS_PORT if transport == "tls" else STUN_PORT
    host, port = split_hostport(server, default_port)
    chan: _Udp | _Stream | None = None
    try:
        dest = resolve(host, port, socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
        chan = _Udp() if transport == "udp" else _Stream(dest, timeout, tls=transport == "tls", server_name=host)
        want_udp = (REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))
        answer, _ = chan.transact(_request(ALLOCATE, want_udp), dest, timeout)
        key: bytes | None = None
        realm = nonce = ""
        for _ in range(3):          # 401 with realm/nonce, then with credentials (once more on a stale nonce)
            if answer.type == ALLOCATE_OK:
                res.relayed = answer.address(XOR_RELAYED_ADDRESS)
                res.mapped = answer.address(XOR_MAPPED_ADDRESS)
                release = _request(REFRESH, (LIFETIME, struct.pack("!I", 0)))
                release.attrs += _auth_attrs(answer, username, realm, nonce) if key else []
                with contextlib.suppress(Exception):
                    chan.transact(release, dest, min(timeout, 1.0), key=key)
                return res
            code = answer.error()
            if code is None:
                res.error = f"answered type {answer.type:#06x}"
                return res
            res.error_code, res.error = code[0], code[1]
            if code[0] not in (401, 438):
                return res
            realm = (answer.get(REALM) or b"").decode("utf-8", "replace")
            nonce = (answer.get(NONCE) or b"").decode("utf-8", "replace")
            if code[0] == 401 and key is not None:
                return res                      # credentials refused
            if not username or password is None:
                res.error = "the server wants a user name and password"
                return res
            key = long_term_key(username, realm, password)
            req = _request(ALLOCATE, want_udp, *_auth_attrs(answer, username, realm, nonce))
            answer, _ = chan.transact(req, dest, timeout, key=key)
        return res
    except (OSError, TimeoutError, StunError, ValueError, ssl.SSLError) as exc:
        res.error = str(exc) or type(exc).__name__
        return res
    finally:
        if chan is not None:
            chan.close()


def _auth_attrs(answer: Message, username: str | None, realm: str, nonce: str) -> list[tuple[int, bytes]]:
    return [(USERNAME, (username or "").encode()), (REALM, realm.encode()), (NONCE, nonce.encode())]


# ------------------------------------------------------------------------------------------------ the verdict


def probe(stun_servers: list[str], turn_server: str | None = None, turn_transport: str = "udp",
          turn_username: str | None = None, turn_password: str | None = None, *, ice: bool = False,
          account: str = "", timeout: float = TIMEOUT_S) -> NatReport:
    """Everything this module can tell about one account's network, with findings and suggested settings."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        stun_f = pool.submit(discover, stun_servers, timeout=timeout)
        turn_f = pool.submit(turn_check, turn_server, turn_transport, turn_username, turn_password,
                             timeout=timeout * 2) if turn_server else None
        rep = stun_f.result()
        rep.turn = turn_f.result() if turn_f is not None else None
    name = f"account {account}: " if account else ""
    set_pw = f"softphone account set-password {account or 'NAME'} --turn"
    t = rep.turn
    if t is not None:
        if t.relayed is not None:
            rep.findings.append(Finding("ok", "turn_ok", f"{name}TURN server {t.server} ({t.transport}) gives out "
                                        f"relays ({_fmt(t.relayed)})"))
        elif t.error_code in (401, 441) or (t.error_code is None and "user name" in t.error):
            what = "has no TURN password" if turn_password is None else "TURN password was refused"
            rep.findings.append(Finding("error", "turn_auth", f"{name}{what} by {t.server} ({t.error}): set it "
                                        f"with {set_pw}; calls go out without the relay meanwhile"))
        elif t.error_code is not None:
            rep.findings.append(Finding("warning", "turn_refused", f"{name}TURN server {t.server} refused a relay "
                                        f"({t.error_code} {t.error}): calls go out without it"))
        else:
            rep.findings.append(Finding("warning", "turn_unreachable", f"{name}TURN server {t.server} "
                                        f"({t.transport}) cannot be reached ({t.error}): calls go out without it"))
    if rep.public_address is not None:
        rep.findings.append(Finding("ok", "public_address", f"{name}public address {_fmt(rep.public_address)} "
                                    f"(local {rep.local_address}); NAT: {describe_nat(rep)}"))
    rep.suggestions = suggest(rep, turn_configured=turn_server is not None, ice=ice)
    return rep


def describe_nat(rep: NatReport) -> str:
    words = {
        "none": "none (this computer has a public address)",
        "endpoint-independent": "one public port per local port whatever the destination (cone NAT: stable "
                                "mapping)",
        "address-dependent": "a new public port per destination address (not stable: media needs a relay)",
        "symmetric": "a new public port per destination (symmetric NAT: media needs a relay)",
        "unknown": "behaviour unknown (it takes a STUN server with a second address, or two STUN servers)",
        "unchecked": "not checked (no STUN server configured)",
    }
    text = words.get(rep.nat, rep.nat)
    if rep.stable is False:
        text += "; the public port changed between two queries a moment apart"
    return text


def suggest(rep: NatReport, *, turn_configured: bool, ice: bool) -> list[str]:
    """Which settings suit what was seen (the rep's PBX relaying media or not is not visible from here)."""
    out: list[str] = []
    if rep.nat == "none":
        out.append("no NAT: no NAT setting is needed")
    elif rep.nat == "endpoint-independent":
        out.append("cone NAT: the defaults work with a PBX that relays media; stun_servers lets calls with "
                   "direct media work too")
        if rep.port_preserved is False:
            out.append("the router changes ports: keep stun_servers (the SDP then names the real public port)")
    elif rep.nat in ("address-dependent", "symmetric"):
        if not turn_configured:
            out.append("symmetric NAT: set turn_server, turn_username and the TURN password (and ice = true), "
                       "or use a PBX that relays media")
        elif not ice:
            out.append("symmetric NAT with TURN: ICE is on whenever turn_server is set")
    if rep.stable is False:
        out.append("the public port changes by itself: lower keepalive_s (e.g. 10)")
    return out


# ------------------------------------------------------------------------------------------------ doctor / engine


def turn_password_key(account: str) -> str:
    """The keyring key of an account's TURN password (``softphone account set-password NAME --turn``)."""
    from softphone.accounts import turn_key

    return turn_key(account)


def _account_has_nat(a: AccountConfig) -> bool:
    return bool(a.stun_servers or a.turn_server)


def account_probe(a: AccountConfig, password_lookup: Callable[[str], str | None] | None = None,
                  timeout: float = TIMEOUT_S) -> NatReport:
    lookup = password_lookup or _keyring_password
    pw = lookup(turn_password_key(a.name)) if a.turn_server and a.turn_username else None
    return probe(list(a.stun_servers), a.turn_server, a.turn_transport, a.turn_username, pw, ice=a.ice,
                 account=a.name, timeout=timeout)


def _keyring_password(key: str) -> str | None:
    from softphone import secrets

    return secrets.get_password(key)


def doctor_checks(settings: Settings, status: dict[str, Any] | None = None,
                  password_lookup: Callable[[str], str | None] | None = None) -> list[tuple[str, str]]:
    """Lines for ``softphone doctor``: ("ok" | "warn" | "fail", text), like ``hubspot.cli.doctor_checks``."""
    out: list[tuple[str, str]] = []
    accounts = [a for a in settings.accounts if a.enabled]
    seen = (status or {}).get("nat") or {}
    for a in accounts:
        watch = seen.get(a.name) if isinstance(seen, dict) else None
        if isinstance(watch, dict) and watch.get("public_address"):
            changes = int(watch.get("path_changes") or 0)
            out.append(("ok", f"account {a.name}: the PBX sees this phone at {watch['public_address']}"
                        + (f"; the path changed {changes} time(s) and was followed" if changes else "")))
        if not _account_has_nat(a):
            continue
        rep = account_probe(a, password_lookup)
        for f in rep.findings:
            out.append(({"ok": "ok", "info": "ok", "warning": "warn", "error": "fail"}[f.level], f.message))
        for s in rep.suggestions:
            out.append(("ok", f"account {a.name}: suggested: {s}"))
    if accounts and not any(_account_has_nat(a) for a in accounts):
        out.append(("ok", "NAT: no STUN/TURN server configured (add stun_servers to an account to see the NAT "
                          "type; calls behind NAT rely on the PBX)"))
    return out


class NatCheckService:
    """Engine service: checks each account's STUN/TURN servers when the engine starts (in a worker thread) and
    tells the rep about problems with a ``Notice`` (code ``nat``): window and widget show it; calls still go out
    without the server. ``describe()`` puts the findings into ``ctl status``."""

    name = "nat"

    def __init__(self, password_lookup: Callable[[str], str | None] | None = None) -> None:
        self._lookup = password_lookup
        self._task: asyncio.Task[None] | None = None
        self.findings: dict[str, list[dict[str, str]]] = {}

    async def start(self, engine: EngineAPI) -> None:
        accounts = [a for a in engine.settings.accounts if a.enabled and _account_has_nat(a)]
        if accounts:
            self._task = asyncio.get_running_loop().create_task(self._check(engine, accounts))

    async def _check(self, engine: EngineAPI, accounts: Iterable[AccountConfig]) -> None:
        from softphone.core.events import Notice

        loop = asyncio.get_running_loop()
        for a in accounts:
            try:
                rep = await loop.run_in_executor(None, account_probe, a, self._lookup)
            except Exception:
                log.exception("NAT check of %s", a.name)
                continue
            self.findings[a.name] = [dataclasses.asdict(f) for f in rep.findings]
            for f in rep.findings:
                if f.level in ("warning", "error"):
                    log.warning("%s", f.message)
                    engine.bus.publish(Notice(f.level, f.message, f"nat_{f.code}"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def describe(self) -> dict[str, Any]:
        return {"nat_checks": self.findings} if self.findings else {}


# ------------------------------------------------------------------------------------------------ command line


def render(rep: NatReport) -> str:
    lines = [f"local address:  {rep.local_address or '-'}", f"public address: {_fmt(rep.public_address)}",
             f"NAT:            {describe_nat(rep)}"]
    for r in rep.stun:
        lines.append(f"STUN {r.server}: " + (f"{_fmt(r.mapped)} in {r.rtt_ms} ms" if r.mapped else r.error))
    if rep.turn is not None:
        t = rep.turn
        lines.append(f"TURN {t.server} ({t.transport}): "
                     + (f"relay {_fmt(t.relayed)}" if t.relayed else f"{t.error_code or ''} {t.error}".strip()))
    lines += [f"[{f.level}] {f.message}" for f in rep.findings if f.code not in ("public_address",)]
    lines += [f"suggested: {s}" for s in rep.suggestions]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m softphone.nat_probe",
                                 description="What NAT this computer is behind; whether STUN/TURN servers work.")
    ap.add_argument("--stun", action="append", default=[], metavar="HOST[:PORT]")
    ap.add_argument("--turn", metavar="HOST[:PORT]")
    ap.add_argument("--turn-transport", choices=("udp", "tcp", "tls"), default="udp")
    ap.add_argument("--turn-user")
    ap.add_argument("--turn-password-stdin", action="store_true", help="read the TURN password from stdin")
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    password = sys.stdin.readline().rstrip("\r\n") if args.turn_password_stdin else None
    rep = probe(args.stun, args.turn, args.turn_transport, args.turn_user, password, timeout=args.timeout)
    print(json.dumps(rep.to_json()) if args.json else render(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
