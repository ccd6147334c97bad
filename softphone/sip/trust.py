"""Which addresses each account trusts to ring it, and which interface SIP listens on (DNS and routing: I/O).

The rules themselves are pure (``softphone.core.inbound``); this module only turns configuration into addresses:
registrar and outbound proxy hosts resolved to IPs, ``accept_calls_from`` entries resolved, and the local
address that routes towards them. Run it off the event loop (``getaddrinfo`` blocks).
"""

from __future__ import annotations

import contextlib
import logging
import socket

from softphone.config import AccountConfig
from softphone.core.inbound import Door, Peer, is_loopback
from softphone.core.sipuri import SIP_URI

log = logging.getLogger(__name__)

HOST = "host"      # accept_calls_from entry meaning "this machine"


def _resolve(host: str) -> set[str]:
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
    except OSError as exc:
        log.warning("cannot resolve %s (%s): calls relayed from it are refused until it resolves", host, exc)
        return set()
    return {str(i[4][0]) for i in infos}


def _uri_peers(uri: str) -> set[Peer]:
    m = SIP_URI.match(uri)
    if not m:
        return set()
    # an explicit port is the one the server sends from; without one DNS SRV may name another: trust the host
    port = int(m.group("port") or 0)
    return {Peer(ip, port) for ip in _resolve(m.group("host"))}


def _hostport_peers(entry: str) -> set[Peer]:
    host, sep, port = entry.rpartition(":") if not entry.endswith("]") else (entry, "", "")
    if not sep or not port.isdigit() or (host.count(":") > 1 and not host.startswith("[")):
        host, port = entry, "0"
    return {Peer(ip, int(port)) for ip in _resolve(host)}


def door(a: AccountConfig) -> Door:
    """The account's way in: its registrar and proxy (resolved), plus what ``accept_calls_from`` lists."""
    peers: set[Peer] = set()
    for uri in (a.registrar, a.proxy):
        if uri:
            peers |= _uri_peers(uri)
    loopback = False
    for entry in a.accept_calls_from:
        if entry.lower() == HOST:
            loopback = True
        else:
            peers |= _hostport_peers(entry)
    return Door(a.name, frozenset({a.user}), frozenset(peers), loopback)


def doors(accounts: list[AccountConfig]) -> tuple[Door, ...]:
    return tuple(door(a) for a in accounts)


def _route_to(ip: str) -> str | None:
    """The local address the kernel would use to reach ``ip`` (a connected UDP socket sends nothing)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((ip, 9))
        return str(s.getsockname()[0])
    return None


def listen_address(accounts: list[AccountConfig], demo_only: bool) -> str | None:
    """Where SIP should listen: loopback for the demo line alone; the interface that routes to the accounts'
    servers when they all route through one; None (every interface) when they do not agree."""
    if demo_only:
        return "127.0.0.1"
    targets: set[str] = set()
    for a in accounts:
        for uri in (a.registrar, a.proxy):
            if uri:
                targets |= {p.ip for p in _uri_peers(uri)}
        for entry in a.accept_calls_from:
            if entry.lower() != HOST:
                targets |= {p.ip for p in _hostport_peers(entry)}
        if not a.registrar and not a.proxy:
            return None          # direct calls to anywhere: every interface
    locals_ = {_route_to(ip) for ip in targets}
    if len(locals_) != 1 or None in locals_:
        return None
    (addr,) = locals_
    assert addr is not None
    if ":" in addr:
        return None              # IPv6 listeners stay on every interface (pjsua2 binds one family per transport)
    return addr if not is_loopback(addr) or all(is_loopback(t) for t in targets) else None
