"""The SIP front door's rules: which unsolicited requests may reach the phone at all.

A softphone's SIP port is reachable by anyone on the LAN (or the internet, behind a forwarded port); scanners
such as SIPVicious send INVITEs to every user they can think of. A call may ring only when it comes through the
account's own signalling path: its registrar or outbound proxy (addresses they resolve to and the addresses our
REGISTER was answered from), or — for an account with neither — a peer the user listed in
``accept_calls_from``. In-dialog requests (a To tag: BYE, re-INVITE) go on to the dialog layer, which answers
481 to anything that matches no dialog. ACKs always pass.

Pure: a parsed view of the request and the trusted set in, a verdict out. No sockets, no clocks.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import Enum

MAX_SCAN = 8192
_REQUEST_LINE = re.compile(rb"^([A-Z][A-Z0-9._!%*+`'~\-]{0,31}) (\S{1,1024}) SIP/2\.0$")
_HEADER_NAMES = {b"to": b"to", b"t": b"to", b"call-id": b"call-id", b"i": b"call-id", b"from": b"from",
                 b"f": b"from", b"p-asserted-identity": b"pai"}
ANY_USER = "*"        # a door that answers as any user (the demo line's far end: any number can be dialled)


class Verdict(str, Enum):
    PASS = "pass"            # let pjsip handle it
    REJECT = "reject"        # 403 Forbidden, statelessly
    DROP = "drop"            # no answer at all
    NOT_FOUND = "not_found"  # trusted path, but no such user here: 404


@dataclass(frozen=True)
class WireRequest:
    """What the front door needs to know of a request, read from the raw bytes without trusting them."""

    method: str
    ruri: str
    ruri_user: str
    to_tag: bool
    call_id: str
    from_header: str = ""
    asserted: str = ""           # P-Asserted-Identity, when present


def parse_request(data: bytes) -> WireRequest | None:
    """The request line and the few headers that decide; None for anything that is not a SIP request."""
    head = data[:MAX_SCAN]
    end = head.find(b"\r\n\r\n")
    if end >= 0:
        head = head[:end]
    lines = head.split(b"\n")
    m = _REQUEST_LINE.match(lines[0].rstrip(b"\r"))
    if not m:
        return None
    method = m.group(1).decode("ascii")
    ruri = m.group(2).decode("utf-8", "replace")
    headers: dict[bytes, bytes] = {}
    for raw in lines[1:]:
        name, sep, value = raw.partition(b":")
        if not sep:
            continue
        key = _HEADER_NAMES.get(name.strip().lower())
        if key is not None and key not in headers:
            headers[key] = value.strip()
    to = headers.get(b"to", b"")
    return WireRequest(
        method=method,
        ruri=ruri,
        ruri_user=_uri_user(ruri),
        to_tag=bool(re.search(rb";\s*tag\s*=", to, re.IGNORECASE)),
        call_id=headers.get(b"call-id", b"").decode("utf-8", "replace")[:128],
        from_header=headers.get(b"from", b"").decode("utf-8", "surrogateescape")[:1024],
        asserted=headers.get(b"pai", b"").decode("utf-8", "surrogateescape")[:1024],
    )


def header_value(message: str, name: str) -> str | None:
    """The first value of header ``name`` in a SIP message's text (None when absent); bounded, no folding."""
    head = message[:MAX_SCAN].split("\r\n\r\n", 1)[0]
    want = name.lower()
    for line in head.split("\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == want:
            return value.strip()[:1024]
    return None


def _uri_user(uri: str) -> str:
    scheme, _, body = uri.partition(":")
    if scheme.lower() not in ("sip", "sips"):
        return ""
    body = body.split(";", 1)[0].split("?", 1)[0]
    return body.split("@", 1)[0] if "@" in body else ""


@dataclass(frozen=True)
class Peer:
    """A trusted source: an address, and a port (0 = any port of that address)."""

    ip: str
    port: int = 0

    def matches(self, ip: str, port: int) -> bool:
        return _same_ip(self.ip, ip) and self.port in (0, port)


def _same_ip(a: str, b: str) -> bool:
    try:
        x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return a == b
    if isinstance(x, ipaddress.IPv6Address) and x.ipv4_mapped is not None:
        x = x.ipv4_mapped
    if isinstance(y, ipaddress.IPv6Address) and y.ipv4_mapped is not None:
        y = y.ipv4_mapped
    return x == y


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Door:
    """One account's way in: the users it answers as, and who may ring them."""

    account: str
    users: frozenset[str]
    peers: frozenset[Peer] = frozenset()
    loopback: bool = False               # "host" in accept_calls_from: any process on this machine

    def answers(self, user: str) -> bool:
        return user in self.users or ANY_USER in self.users

    def admits(self, ip: str, port: int) -> bool:
        if self.loopback and is_loopback(ip):
            return True
        return any(p.matches(ip, port) for p in self.peers)


@dataclass(frozen=True)
class Policy:
    """Who may start a dialog with us, and as which user. Replaced whole (never mutated) when accounts change,
    so the SIP thread always reads a consistent snapshot."""

    doors: tuple[Door, ...] = ()
    stranger: Verdict = Verdict.REJECT   # REJECT (403) or DROP

    def judge(self, req: WireRequest, ip: str, port: int) -> Verdict:
        if req.method == "ACK" or req.to_tag:
            return Verdict.PASS
        open_doors = [d for d in self.doors if d.admits(ip, port)]
        if not open_doors:
            return self.stranger
        if req.method == "INVITE" and not any(d.answers(req.ruri_user) for d in open_doors):
            return Verdict.NOT_FOUND
        return Verdict.PASS

    def account_for(self, req: WireRequest, ip: str, port: int) -> str | None:
        """The account a request that passed is for (the first door that admits it and answers its user)."""
        return next((d.account for d in self.doors if d.admits(ip, port) and d.answers(req.ruri_user)), None)

    def door(self, account: str) -> Door | None:
        return next((d for d in self.doors if d.account == account), None)


def with_learnt(policy: Policy, learnt: dict[str, frozenset[Peer]]) -> Policy:
    """The same policy with each account also trusting the peers learnt for it (REGISTER answers)."""
    doors = tuple(Door(d.account, d.users, d.peers | learnt.get(d.account, frozenset()), d.loopback)
                  for d in policy.doors)
    return Policy(doors, policy.stranger)


@dataclass
class Counters:
    """What the front door turned away, for ``ctl status`` and ``doctor``."""

    rejected: int = 0
    dropped: int = 0
    not_found: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    last_source: str = ""

    def count(self, verdict: Verdict, method: str, source: str) -> None:
        if verdict is Verdict.REJECT:
            self.rejected += 1
        elif verdict is Verdict.DROP:
            self.dropped += 1
        elif verdict is Verdict.NOT_FOUND:
            self.not_found += 1
        else:
            return
        key = method if len(self.by_method) < 32 or method in self.by_method else "OTHER"
        self.by_method[key] = self.by_method.get(key, 0) + 1
        self.last_source = source

    def to_json(self) -> dict[str, object]:
        return {"rejected": self.rejected, "dropped": self.dropped, "not_found": self.not_found,
                "by_method": dict(self.by_method), "last_source": self.last_source}
