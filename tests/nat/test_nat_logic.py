"""The decisions behind NAT traversal, without a network: what an account's settings become in pjsua2's config,
how the network watch reads a server's Via and decides the path changed, and the STUN wire format (RFC 5769
test vectors). No root, no namespaces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pjsua2 as pj
import pytest

from softphone import nat_probe
from softphone.config import AccountConfig
from softphone.sip import nat, netwatch
from softphone.sip.netwatch import FlowTracker, Mapping, NetWatch, Verdict, probe_interval, via_mapping


def account(**kw: Any) -> AccountConfig:
    return AccountConfig(name="office", sip_uri="sip:rep@pbx.example.com", registrar="sip:pbx.example.com", **kw)


# ------------------------------------------------------------------ sip/nat.py


def test_defaults_behind_a_home_router() -> None:
    acfg = pj.AccountConfig()
    nat.configure_account(acfg, account())
    n = acfg.natConfig
    assert n.udpKaIntervalSec == 15 and n.udpKaData == "\r\n"
    assert n.contactRewriteUse == 1 and n.viaRewriteUse == 1 and n.sipOutboundUse == 1
    assert n.sdpNatRewriteUse == 1                      # no STUN/ICE: the registrar's view of us goes into the SDP
    assert n.sipStunUse == pj.PJSUA_STUN_USE_DISABLED
    assert n.mediaStunUse == pj.PJSUA_STUN_USE_DISABLED
    assert not n.iceEnabled and not n.turnEnabled
    assert acfg.mediaConfig.streamKaEnabled
    assert acfg.ipChangeConfig.reinviteFlags == nat.REINVITE_ON_CHANGE
    assert acfg.ipChangeConfig.hangupCalls is False


def test_stun_ice_and_turn_from_the_account() -> None:
    acfg = pj.AccountConfig()
    a = account(stun_servers=["stun.example.com"], turn_server="turn.example.com", turn_transport="tcp",
                turn_username="rep", keepalive_s=20)
    nat.configure_account(acfg, a, turn_password="s3cret")
    n = acfg.natConfig
    assert n.mediaStunUse == pj.PJSUA_STUN_USE_DEFAULT
    assert n.sdpNatRewriteUse == 0                      # ICE has candidates of its own
    assert n.iceEnabled and n.turnEnabled               # TURN only works inside ICE in pjsua
    assert n.turnServer == "turn.example.com:3478"
    assert n.turnConnType == pj.PJ_TURN_TP_TCP
    assert (n.turnUserName, n.turnPassword, n.turnPasswordType) == ("rep", "s3cret", 0)
    assert n.udpKaIntervalSec == 20


def test_stun_alone_keeps_the_registrars_view_as_fallback() -> None:
    """pjsua uses a STUN answer when it has one; should STUN fail, the SDP gets the address the registrar saw
    rather than the private one."""
    acfg = pj.AccountConfig()
    nat.configure_account(acfg, account(stun_servers=["stun.example.com"]))
    assert acfg.natConfig.mediaStunUse == pj.PJSUA_STUN_USE_DEFAULT
    assert acfg.natConfig.sdpNatRewriteUse == 1
    assert not acfg.natConfig.iceEnabled


def test_turn_port_kept_and_ipv6_host() -> None:
    for server, want in (("turn.example.com:5349", "turn.example.com:5349"), ("[2001:db8::1]", "[2001:db8::1]:3478"),
                         ("[2001:db8::1]:3479", "[2001:db8::1]:3479")):
        acfg = pj.AccountConfig()
        nat.configure_account(acfg, account(turn_server=server, turn_transport="tls"))
        assert acfg.natConfig.turnServer == want
        assert acfg.natConfig.turnConnType == pj.PJ_TURN_TP_TLS


def test_explicit_bind_address_is_never_rewritten() -> None:
    acfg = pj.AccountConfig()
    nat.configure_account(acfg, account(), bind_address="203.0.113.5")
    n = acfg.natConfig
    assert (n.contactRewriteUse, n.viaRewriteUse, n.sdpNatRewriteUse) == (0, 0, 0)
    assert acfg.mediaConfig.transportConfig.publicAddress == "203.0.113.5"


def test_keepalives_off() -> None:
    acfg = pj.AccountConfig()
    nat.configure_account(acfg, account(keepalive_s=0))
    assert acfg.natConfig.udpKaIntervalSec == 0
    assert probe_interval(0) == 0


def test_endpoint_settings_and_only_answering_stun_servers_reach_pjsua() -> None:
    """A STUN server that does not answer would make pjsua block each new call until its resolution times out
    and then fail it: only servers that answered our own probe are handed over."""
    import time

    jobs: list[Callable[[], None]] = []
    answers = {"a.example:3478": "", "b.example": "", "dead.example": "no answer within 1.5 s"}
    en = nat.EndpointNat(submit=jobs.append, answers=lambda s: answers[s])
    ua = pj.UaConfig()
    en.configure(ua)
    assert ua.stunIgnoreFailure is True and ua.natTypeInSdp == 0 and list(ua.stunServer) == []

    class Ep:
        def __init__(self) -> None:
            self.updates: list[list[str]] = []

        def natUpdateStunServers(self, servers: Any, wait: bool) -> None:
            assert wait is False
            self.updates.append(list(servers))

    ep = Ep()
    en.account_added(ep, account(stun_servers=["a.example:3478", "dead.example"]))
    en.account_added(ep, account(stun_servers=["a.example:3478", "b.example"]))
    en.account_added(ep, account())
    deadline = time.monotonic() + 5
    while len(jobs) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    for job in jobs:              # what the SIP thread runs
        job()
    assert sorted(ep.updates[-1]) == ["a.example:3478", "b.example"]
    assert en.unreachable == {"dead.example": "no answer within 1.5 s"}


def test_tcp_tls_keepalive_reaches_pjsip_settings() -> None:
    addr = nat._pjsip_cfg()
    assert addr is not None, "pjsip_cfg_t layout not recognised: TCP/TLS keep-alives would stay at 90 s"
    import ctypes

    before = ctypes.c_long.from_address(addr + 80).value
    try:
        assert nat.set_connection_keepalive(12)
        assert ctypes.c_long.from_address(addr + 80).value == 12
        assert ctypes.c_long.from_address(addr + 88).value == 12
        en = nat.EndpointNat()
        en.account_added(None, account(transport="tcp", keepalive_s=25))
        en.account_added(None, account(transport="tls", keepalive_s=40))   # longer: the shorter one stays
        assert en.connection_keepalive == 25 and ctypes.c_long.from_address(addr + 88).value == 25
    finally:
        nat.set_connection_keepalive(before)


def test_turn_password_key() -> None:
    assert nat.turn_password_key("office") == nat_probe.turn_password_key("office") == "office:turn"


# ------------------------------------------------------------------ sip/netwatch.py

OK_200 = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;rport=40123;received=198.51.100.1;branch=z9hG4bK1\r\n"
          "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2\r\nCall-ID: x\r\n\r\n")


@pytest.mark.parametrize(("message", "want"), [
    (OK_200, Mapping("198.51.100.1", 40123)),
    ("SIP/2.0 401 Unauthorized\r\nv: SIP/2.0/TCP 192.0.2.10:5062;received=198.51.100.1;rport=1\r\n\r\n",
     Mapping("198.51.100.1", 1)),
    ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.9\r\n\r\n",
     Mapping("192.0.2.10", 5070)),      # a server that saw no NAT adds nothing
    ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [2001:db8::5]:5060;rport=7;received=[2001:db8::9]\r\n\r\n",
     Mapping("2001:db8::9", 7)),
    ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pc.example;rport\r\n\r\n", Mapping("pc.example", 5060)),
    ("SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", None),
    ("", None),
])
def test_via_mapping(message: str, want: Mapping | None) -> None:
    assert via_mapping(message) == want


def test_probe_interval_bounds() -> None:
    assert probe_interval(15) == 7.5            # default keep-alive: a restart is seen within 7.5 s
    assert probe_interval(1) == netwatch.PROBE_MIN_S
    assert probe_interval(3600) == netwatch.PROBE_MAX_S


def test_tracker_same_changed_and_back_after_silence() -> None:
    t = FlowTracker()
    a, b = Mapping("198.51.100.1", 40000), Mapping("198.51.100.1", 20001)
    assert t.on_answer(a, 0.0) is Verdict.UNKNOWN         # not registered yet: nothing to compare
    t.on_registered(a)
    assert t.on_answer(a, 1.0) is Verdict.SAME
    assert t.on_answer(b, 2.0) is Verdict.CHANGED          # new public port: the router restarted
    assert t.on_answer(Mapping("198.51.100.1", 20002), 3.0) is Verdict.SAME   # settling: pjsua re-registers
    t.on_registered(b)
    assert t.on_answer(b, 10.0) is Verdict.SAME
    t.on_silence()
    t.on_silence()
    assert t.on_answer(b, 20.0) is Verdict.CHANGED         # the path was down: the old mapping may be gone
    assert t.changes == 2 and len(t.history) == 2
    assert t.on_answer(None, 30.0) is Verdict.UNKNOWN


class _Later:
    """A fake timer heap: runs what is due when told the time moved."""

    def __init__(self) -> None:
        self.now = 0.0
        self.jobs: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, job: Callable[[], None]) -> None:
        self.jobs.append((self.now + delay, job))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted((j for j in self.jobs if j[0] <= end), key=lambda j: j[0])
            if not due:
                break
            when, job = due[0]
            self.jobs.remove(due[0])
            self.now = max(self.now, when)
            job()
        self.now = end


class _Acc:
    name = "office"

    def __init__(self) -> None:
        self.sent = 0

    def sendRequest(self, prm: Any) -> None:
        assert prm.method == "OPTIONS" and prm.txOption.targetUri == "sip:pbx.example.com"
        self.sent += 1


class _Ep:
    def __init__(self) -> None:
        self.changes: list[tuple[bool, bool]] = []

    def handleIpChange(self, prm: Any) -> None:
        self.changes.append((prm.restartListener, prm.shutdownTransport))


def _answer(message: str) -> Any:
    class Src:
        rdata = type("R", (), {"wholeMsg": message})()

    class Tsx:
        type = pj.PJSIP_EVENT_RX_MSG
        src = Src()

    e = type("E", (), {"body": type("B", (), {"tsxState": Tsx()})()})()
    return type("P", (), {"e": e})()


def _timeout() -> Any:
    class Tsx:
        type = pj.PJSIP_EVENT_TIMER

    e = type("E", (), {"body": type("B", (), {"tsxState": Tsx()})()})()
    return type("P", (), {"e": e})()


def test_netwatch_probes_and_moves_once_the_mapping_changed() -> None:
    later, ep, acc = _Later(), _Ep(), _Acc()
    changes: list[str] = []
    w = NetWatch(ep, later, on_change=lambda code, why: changes.append(why), clock=lambda: later.now)
    w.registered(acc, "sip:pbx.example.com", 15, OK_200)
    later.advance(7.5)
    assert acc.sent == 1
    w.on_probe_answer("office", _answer(OK_200))
    later.advance(0)
    assert ep.changes == []
    later.advance(7.5)
    w.on_probe_answer("office", _answer(OK_200.replace("40123", "20001")))
    later.advance(0)
    assert ep.changes == [(False, False)]                  # keep the listener; TCP is shut per account
    assert "20001" in changes[0]
    assert w.status()["office"]["path_changes"] == 1


def test_netwatch_silence_then_answers_is_a_change() -> None:
    later, ep, acc = _Later(), _Ep(), _Acc()
    w = NetWatch(ep, later, clock=lambda: later.now)
    w.registered(acc, "sip:pbx.example.com", 4, OK_200)
    later.advance(2)
    w.on_probe_answer("office", _timeout())
    later.advance(2)
    later.advance(2)                                      # another probe while the last one is unanswered
    assert w.status()["office"]["unanswered_probes"] >= 2
    w.on_probe_answer("office", _answer(OK_200))
    later.advance(0)
    assert len(ep.changes) == 1


def test_netwatch_stops_probing_when_unregistered_or_stopped() -> None:
    later, ep, acc = _Later(), _Ep(), _Acc()
    w = NetWatch(ep, later, clock=lambda: later.now)
    w.registered(acc, "sip:pbx.example.com", 15, OK_200)
    w.unregistered("office")
    later.advance(60)
    assert acc.sent == 0
    w.registered(acc, "sip:pbx.example.com", 15, OK_200)
    w.stop()
    later.advance(60)
    assert acc.sent == 0
    w.registered(acc, "sip:pbx.example.com", 0, OK_200)   # keep-alives off: nothing is sent unasked
    later.advance(60)
    assert acc.sent == 0


class _Call:
    """Enough of a pjsua2 Call for the packet counter."""

    def __init__(self) -> None:
        self.pkt = 0

    def getInfo(self) -> Any:
        mi = type("MI", (), {"type": pj.PJMEDIA_TYPE_AUDIO, "status": pj.PJSUA_CALL_MEDIA_ACTIVE})()
        return type("CI", (), {"media": [mi]})()

    def getStreamStat(self, i: int) -> Any:
        rx = type("RX", (), {"pkt": self.pkt})()
        return type("S", (), {"rtcp": type("R", (), {"rxStat": rx})()})()


def test_calls_without_media_after_a_change_are_lost_the_others_kept() -> None:
    later, ep = _Later(), _Ep()
    flowing, stranded = _Call(), _Call()
    calls = {"flowing": flowing, "stranded": stranded}
    lost: list[tuple[str, str]] = []
    w = NetWatch(ep, later, live_calls=lambda: dict(calls), on_call_lost=lambda c, r: lost.append((c, r)),
                 clock=lambda: later.now)
    w.network_changed("test")
    later.advance(0)
    assert len(ep.changes) == 1
    later.advance(netwatch.MEDIA_GRACE_S)
    flowing.pkt += 100                                     # the moved call receives again; the other does not
    later.advance(netwatch.MEDIA_SAMPLE_S)
    assert lost == [("stranded", netwatch.REASON_LOST)]


# ------------------------------------------------------------------ nat_probe.py wire format (RFC 5769)

RFC5769_RESPONSE = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96")
RFC5769_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"


def test_rfc5769_response_decodes_and_checks() -> None:
    msg = nat_probe.decode(RFC5769_RESPONSE)
    assert msg.type == nat_probe.BINDING_OK
    assert msg.address(nat_probe.XOR_MAPPED_ADDRESS) == ("192.0.2.1", 32853)
    # the integrity and fingerprint our requests carry, computed over the vector's own bytes
    assert nat_probe.integrity(RFC5769_RESPONSE[:48], RFC5769_PASSWORD) == msg.get(nat_probe.MESSAGE_INTEGRITY)
    assert nat_probe.fingerprint(RFC5769_RESPONSE[:-8]) == msg.get(nat_probe.FINGERPRINT)


def test_encode_round_trip() -> None:
    req = nat_probe.Message(nat_probe.ALLOCATE, b"0123456789ab",
                            [(nat_probe.REQUESTED_TRANSPORT, bytes([17, 0, 0, 0])), (nat_probe.USERNAME, b"rep")])
    raw = nat_probe.encode(req, key=nat_probe.long_term_key("rep", "nat.test", "pw"))
    back = nat_probe.decode(raw)
    assert back.type == req.type and back.txid == req.txid
    assert back.get(nat_probe.USERNAME) == b"rep"
    assert back.get(nat_probe.MESSAGE_INTEGRITY) == nat_probe.integrity(
        raw[:-8 - 24], nat_probe.long_term_key("rep", "nat.test", "pw"))
    assert back.get(nat_probe.FINGERPRINT) == nat_probe.fingerprint(raw[:-8])


def test_garbage_is_not_stun() -> None:
    for junk in (b"", b"\x00" * 19, b"SIP/2.0 200 OK\r\n\r\n" + b"x" * 10, RFC5769_RESPONSE[:30]):
        with pytest.raises(nat_probe.StunError):
            nat_probe.decode(junk)


def test_split_hostport() -> None:
    assert nat_probe.split_hostport("stun.example.com") == ("stun.example.com", 3478)
    assert nat_probe.split_hostport("stun.example.com:19302") == ("stun.example.com", 19302)
    assert nat_probe.split_hostport("[2001:db8::1]:5349", 3478) == ("2001:db8::1", 5349)
    assert nat_probe.split_hostport("turn.example.com", 5349) == ("turn.example.com", 5349)


def test_suggestions_follow_the_nat() -> None:
    sym = nat_probe.NatReport(nat="symmetric")
    assert any("turn_server" in s for s in nat_probe.suggest(sym, turn_configured=False, ice=False))
    assert not any("turn_server" in s for s in nat_probe.suggest(sym, turn_configured=True, ice=True))
    assert nat_probe.suggest(nat_probe.NatReport(nat="none"), turn_configured=False, ice=False) == [
        "no NAT: no NAT setting is needed"]
    shaky = nat_probe.NatReport(nat="endpoint-independent", stable=False)
    assert any("keepalive_s" in s for s in nat_probe.suggest(shaky, turn_configured=False, ice=False))
