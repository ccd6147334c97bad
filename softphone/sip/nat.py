"""NAT traversal settings of the endpoint and of each pjsua2 account: keep-alives, rewriting of Contact/Via/SDP,
STUN, ICE, TURN, SIP outbound, and what pjsua does when the network under a registered account changes.

Kept apart from the engine so the rules for reaching a rep behind a home router live in one place: what the
account's config asks for (``stun_servers``, ``ice``, ``turn_*``, ``keepalive_s``) becomes pjsua2's
``AccountConfig.natConfig``, media and IP-change settings here, and the endpoint's STUN list
(``UaConfig.stunServer``) comes from :func:`configure_endpoint`.

Defaults that hold without any NAT setting (a rep behind a home router and a hosted PBX):

* signalling: rport on every request, the Contact and Via rewritten to the public address the registrar saw
  (``contactRewriteUse``/``viaRewriteUse``), a CRLF keep-alive every ``keepalive_s`` to the registrar over UDP
  (and the same interval for the CRLF-CRLF ping of TCP/TLS connections, :func:`set_connection_keepalive`),
  SIP outbound (RFC 5626) offered on TCP/TLS. STUN is never used for SIP: the registrar's answer is exact for
  the very flow a call will use, a STUN answer is not (symmetric NATs), and a dead STUN server would hold up
  the transport.
* media: unless STUN answers (or ICE runs) the SDP carries the public address the registrar saw
  (``sdpNatRewriteUse``), which is right behind the usual port-preserving router and harmless where the PBX
  relays media (it ignores the SDP address and latches); RTP keep-alives hold the media mapping while a call is
  on hold.
* ICE when asked for, and whenever TURN is configured (pjsua only relays through TURN inside ICE). STUN for
  media when the account lists servers.
* after a network change (:mod:`softphone.sip.netwatch`): re-register, then re-INVITE each call with new media
  transports (an ICE restart, a fresh TURN allocation), a new Contact and Via.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from softphone.config import AccountConfig
from softphone.nat_probe import turn_password_key

__all__ = ["REINVITE_ON_CHANGE", "TURN_TP", "EndpointNat", "configure_account", "set_connection_keepalive",
           "turn_password_key", "uses_ice", "verify_turn", "without_turn"]

log = logging.getLogger(__name__)

TURN_TP = {"udp": pj.PJ_TURN_TP_UDP, "tcp": pj.PJ_TURN_TP_TCP, "tls": pj.PJ_TURN_TP_TLS}
# after a network change: new media transports (ICE restart, a new TURN allocation), new Contact and Via
REINVITE_ON_CHANGE = pj.PJSUA_CALL_REINIT_MEDIA | pj.PJSUA_CALL_UPDATE_CONTACT | pj.PJSUA_CALL_UPDATE_VIA
STUN_PORT = 3478
# pjsua_contact_rewrite_method (not in the binding): register the new Contact without unregistering the old one
# first (some registrars drop both), and update it whenever the registrar sees another address
_CONTACT_REWRITE_NO_UNREG = 2
_CONTACT_REWRITE_ALWAYS_UPDATE = 4


def uses_ice(a: AccountConfig) -> bool:
    """ICE runs when asked for, and whenever a TURN server is configured (pjsua relays only inside ICE)."""
    return a.ice or a.turn_server is not None


class EndpointNat:
    """The endpoint-wide part of the accounts' NAT settings, kept as accounts are added at run time: pjsua has
    one STUN list and one TCP/TLS keep-alive interval for all accounts.

    pjsua only ever gets STUN servers that answered a quick probe of our own (:mod:`softphone.nat_probe`, off the
    SIP thread): given one that does not answer, pjsua blocks every new call until its own resolution times out
    (about 25 s) and then fails the call. Until a server has answered, calls go out with the address the
    registrar saw in their SDP."""

    def __init__(self, submit: Callable[[Callable[[], None]], None] | None = None,
                 answers: Callable[[str], str] | None = None) -> None:
        self.stun: list[str] = []                 # what pjsua uses (answered our probe)
        self.unreachable: dict[str, str] = {}     # server -> why not
        self._wanted: list[str] = []
        self._submit = submit or (lambda job: job())
        self._answers = answers or _stun_problem
        self.connection_keepalive: int | None = None

    def configure(self, ua_config: Any) -> None:
        """Before ``libInit`` (``EpConfig.uaConfig``)."""
        # a STUN server that stops answering must never stop the endpoint or a call
        ua_config.stunIgnoreFailure = True
        ua_config.stunTryIpv6 = False
        # no "a=X-nat" in our SDP (it tells a stranger about our network) and no NAT-type probe at start
        ua_config.natTypeInSdp = 0

    def account_added(self, ep: Any, a: AccountConfig) -> None:
        """Before the account is created (SIP thread): its STUN servers are probed in the background and join
        the endpoint's list once they answer; TCP/TLS connections get its keep-alive interval when that is the
        shortest so far."""
        new = [s for s in a.stun_servers if s not in self._wanted]
        if new and ep is not None:
            self._wanted += new
            threading.Thread(target=self._probe, args=(ep, new), name="stun-probe", daemon=True).start()
        if a.transport in ("tcp", "tls") and a.keepalive_s > 0:
            current = self.connection_keepalive
            if (current is None or a.keepalive_s < current) and set_connection_keepalive(a.keepalive_s):
                self.connection_keepalive = a.keepalive_s

    def _probe(self, ep: Any, servers: list[str]) -> None:
        working = []
        for s in servers:
            problem = self._answers(s)
            if problem:
                self.unreachable[s] = problem
                log.warning("STUN server %s not used: %s (calls go out without it)", s, problem)
            else:
                working.append(s)
        if working:
            self._submit(lambda: self._use(ep, working))

    def _use(self, ep: Any, servers: list[str]) -> None:
        self.stun += [s for s in servers if s not in self.stun]
        vec = pj.StringVector()
        for s in self.stun:
            vec.append(s)
        try:
            ep.natUpdateStunServers(vec, False)      # pjsua resolves them in the background
        except pj.Error as exc:
            log.warning("STUN servers %s not usable: %s", ", ".join(servers), exc.reason)


def _stun_problem(server: str) -> str:
    """Empty when ``server`` answers a STUN Binding request, else why not."""
    from softphone import nat_probe

    result = nat_probe.stun_query(server)
    return "" if result.mapped is not None else (result.error or "no answer")


def configure_account(acfg: Any, a: AccountConfig, *, bind_address: str | None = None,
                      turn_password: str | None = None) -> None:
    """Fill ``acfg`` (a ``pjsua2.AccountConfig``) with the account's NAT settings."""
    nat = acfg.natConfig
    nat.udpKaIntervalSec = a.keepalive_s
    nat.udpKaData = "\r\n"
    nat.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    nat.mediaStunUse = pj.PJSUA_STUN_USE_DEFAULT if a.stun_servers else pj.PJSUA_STUN_USE_DISABLED
    nat.contactRewriteUse = 1
    nat.contactRewriteMethod = _CONTACT_REWRITE_NO_UNREG | _CONTACT_REWRITE_ALWAYS_UPDATE
    nat.viaRewriteUse = 1
    nat.sipOutboundUse = 1
    # the public address the registrar saw goes into the SDP where nothing better is known: pjsua prefers a
    # working STUN answer, and ICE has candidates of its own
    nat.sdpNatRewriteUse = 0 if uses_ice(a) else 1
    nat.iceEnabled = uses_ice(a)
    if nat.iceEnabled:
        nat.iceAggressiveNomination = True
        nat.iceAlwaysUpdate = True
    nat.turnEnabled = a.turn_server is not None
    if a.turn_server is not None:
        nat.turnServer = a.turn_server if ":" in a.turn_server.lstrip("[").split("]")[-1] \
            else f"{a.turn_server}:{STUN_PORT}"
        nat.turnConnType = TURN_TP[a.turn_transport]
        nat.turnUserName = a.turn_username or ""
        nat.turnPasswordType = 0            # plain text: pjnath derives the long-term key itself
        nat.turnPassword = turn_password or ""
    # RTP keep-alives while no audio flows (hold, silence) hold the media mapping of the router
    acfg.mediaConfig.streamKaEnabled = True
    # after a network change: re-INVITE with new media transports (ICE restart / new TURN allocation)
    ipc = acfg.ipChangeConfig
    ipc.hangupCalls = False
    ipc.shutdownTp = True            # TCP/TLS: the old connection is dead; UDP is never shut down
    ipc.reinviteFlags = REINVITE_ON_CHANGE
    # RTP on any free port: the default 4000+ range collides with other SIP apps (and every bind
    # failure is a logged retry on the dial path)
    acfg.mediaConfig.transportConfig.port = 0
    if bind_address:
        # an explicit address is the one the peer must use: never rewrite it from what a server saw
        acfg.mediaConfig.transportConfig.boundAddress = bind_address
        acfg.mediaConfig.transportConfig.publicAddress = bind_address
        nat.contactRewriteUse = 0
        nat.viaRewriteUse = 0
        nat.sdpNatRewriteUse = 0


def verify_turn(a: AccountConfig, turn_password: str | None, on_unusable: Callable[[str], None]) -> None:
    """Ask the account's TURN server for a relay in the background; when it cannot give one (unreachable, the
    password refused, allocations refused) call ``on_unusable(why)`` from that thread, so the engine can turn
    TURN off for the account: pjsua would otherwise hold every new call's INVITE until its own allocation
    attempt times out (about 8 s for a server that does not answer)."""
    if a.turn_server is None:
        return

    def run() -> None:
        from softphone import nat_probe

        t = nat_probe.turn_check(a.turn_server or "", a.turn_transport, a.turn_username, turn_password)
        if t.relayed is None:
            why = f"{t.error_code} {t.error}".strip() if t.error_code else t.error
            log.warning("account %s: TURN server %s gives no relay (%s): calls go out without it", a.name,
                        a.turn_server, why)
            on_unusable(why)

    threading.Thread(target=run, name="turn-probe", daemon=True).start()


def without_turn(acfg: Any) -> None:
    """What ``verify_turn``'s ``on_unusable`` changes before ``Account.modify``: ICE stays as configured."""
    acfg.natConfig.turnEnabled = False


# ------------------------------------------------------------------ TCP/TLS keep-alive (pjsip_cfg)

# pjsip_cfg_t (pjsip/sip_config.h, 2.15): 13 pj_bool_t of endpt, 5 unsigned of tsx (max_count, t1, t2, t4, td),
# 2 pj_bool_t of regc, then one long each for tcp.keep_alive_interval and tls.keep_alive_interval.
_TSX_T1_INDEX = 14               # in 32-bit words: t1 = 500, t2 = 4000, t4 = 5000, td = 32000 unless changed
_TCP_KA_OFFSET = 80
_TLS_KA_OFFSET = 88


def _pjsip_cfg() -> int | None:
    """Address of pjsip's global ``pjsip_sip_cfg_var`` once its layout is proven, else None."""
    try:
        here = os.path.dirname(pj.__file__)
        name = next(n for n in os.listdir(here) if n.startswith("_pjsua2") and n.endswith(".so"))
        lib = ctypes.CDLL(os.path.join(here, name))
        addr = ctypes.addressof(ctypes.c_int.in_dll(lib, "pjsip_sip_cfg_var"))
    except (OSError, StopIteration, ValueError) as exc:
        log.info("pjsip settings not reachable (%s): TCP/TLS keep-alive stays at pjsip's default", exc)
        return None
    words = (ctypes.c_uint * 24).from_address(addr)
    t1, t2, t4, td = words[_TSX_T1_INDEX:_TSX_T1_INDEX + 4]
    tcp = ctypes.c_long.from_address(addr + _TCP_KA_OFFSET).value
    tls = ctypes.c_long.from_address(addr + _TLS_KA_OFFSET).value
    # proof: the transaction timers must look like timers (t1 < t2 <= t4, td = 64*t1 by default) and the two
    # keep-alive intervals like intervals; anything else means another layout, so touch nothing
    if not (0 < t1 < t2 <= 64_000 and 0 < t4 <= 64_000 and td >= t1 and 0 <= tcp <= 86400 and 0 <= tls <= 86400):
        log.warning("unexpected pjsip_cfg_t layout: TCP/TLS keep-alive stays at pjsip's default")
        return None
    return addr


def set_connection_keepalive(seconds: int) -> bool:
    """CRLF-CRLF keep-alive interval of every TCP and TLS connection (pjsip's default is 90 s, longer than many
    routers keep an idle TCP mapping); 0 turns them off. Process-wide; returns whether it was applied."""
    addr = _pjsip_cfg()
    if addr is None:
        return False
    ctypes.c_long.from_address(addr + _TCP_KA_OFFSET).value = seconds
    ctypes.c_long.from_address(addr + _TLS_KA_OFFSET).value = seconds
    return True
