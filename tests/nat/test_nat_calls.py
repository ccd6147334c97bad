"""Calls from a rep's home behind a router to a hosted PBX, on real parts: network namespaces and nftables NAT,
kamailio with nathelper and rtpengine, coturn, two ``softphone serve`` engines with their sound devices on a
private PulseAudio daemon. A call "has audio both ways" when each end's speaker plays the tone the other end's
microphone was fed (``phones.audio_both_ways``): SIP states alone prove nothing about NAT.

The router forgets idle UDP mappings after ``MAPPING_TIMEOUT_S``; the rep's keep-alives (``KEEPALIVE_S``) are what
keep inbound calls arriving.
"""

from __future__ import annotations

import time

import pytest

from tests.nat import phones
from tests.nat.lab import MAPPING_TIMEOUT_S, Lab, settle
from tests.nat.pbx import TURN_PASSWORD, TURN_USER, Coturn
from tests.nat.phones import HOME_SIDE, NsEngine, nat_account, phone_config
from tests.nat.topology import ROUTER_PUBLIC, STRANGER_IP, NatKind, TopologyError
from tests.peers import wait_for


def test_outbound_call_from_behind_the_nat_has_audio_both_ways(lab: Lab) -> None:
    lab.both()
    with lab.ears() as (home_ears, far_ears):
        lab.call_far_from_home("rep")
        settle()
        phones.assert_audio_both_ways(phones.audio_both_ways(home_ears, far_ears), lab.topo.mappings())
    lab.hang_up()


def test_outbound_call_with_direct_media_through_a_cone_nat_needs_no_setting(lab: Lab) -> None:
    """A PBX that passes the SDP through (no media relay), the far end behind its own router: with no NAT setting
    at all the rep's SDP must name the public address the registrar saw (the router keeps ports), or the far end
    sends its audio into the void."""
    lab.both()
    with lab.ears() as (home_ears, far_ears):
        lab.call_far_from_home("rep", relay=False)
        settle()
        phones.assert_audio_both_ways(phones.audio_both_ways(home_ears, far_ears), lab.topo.mappings())
    lab.hang_up()


def test_inbound_call_long_after_registration_rings_and_has_audio(lab: Lab) -> None:
    """Three mapping lifetimes after the last REGISTER, only keep-alives can have held the router's mapping."""
    home, _ = lab.both()
    home.wait_registration("rep")
    time.sleep(3 * MAPPING_TIMEOUT_S)
    with lab.ears() as (home_ears, far_ears):
        try:
            lab.call_home_from_far("rep")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nrouter mappings:\n{lab.topo.mappings()}") from None
        settle()
        phones.assert_audio_both_ways(phones.audio_both_ways(home_ears, far_ears))
    lab.hang_up()


def test_stranger_invites_to_the_mapped_port_ring_nothing(lab: Lab) -> None:
    """A scanner on the internet sends INVITEs to the router's public port of the phone: the router drops them
    (it only lets the PBX's answers in), and where the router forwards that port anyway (UPnP, DMZ) the phone's
    front door refuses them. Nothing rings, nothing is recorded; the PBX's calls still ring."""
    home, _ = lab.both()
    contact = lab.pbx.contacts("rep")[0]
    mapped = int(contact.rsplit(":", 1)[-1].split(";")[0])
    sip_port = int(home.status()["sip_transports"]["udp"].rsplit(":", 1)[1])
    rows = len(home.history())
    seen = len(home.events)
    refused = home.status()["inbound"]["rejected"]

    _scan(lab, mapped, scanners=False)
    assert home.status()["inbound"]["rejected"] == refused, "the router let a stranger through"

    lab.topo.forward_port(sip_port)
    try:
        _scan(lab, sip_port, scanners=True)
        wait_for(lambda: home.status()["inbound"]["rejected"] > refused, 10, what="the phone refusing the stranger")
        assert str(home.status()["inbound"]["last_source"]).startswith(STRANGER_IP + ":")
    finally:
        lab.topo.clear_forwards()
    rang = [e for e in home.events[seen:] if e.get("type") == "call" and e["call"]["direction"] == "inbound"]
    assert not rang, rang
    assert home.status()["calls"] == []
    assert len(home.history()) == rows

    # the PBX still rings the phone
    far = lab.far()
    cid = phones.dial(far, lab.pbx.uri("rep"), "far")
    inc = phones.wait_incoming(home)
    home.ctl("decline", call_id=inc["call_id"])
    far.wait_state(cid, "TERMINATED", 15)


def _scan(lab: Lab, port: int, *, scanners: bool) -> None:
    """Three plain INVITEs from sipp and (``scanners``) what scanners run, SIPVicious svmap and svwar with
    INVITEs, all from the stranger's address in the wan namespace to the router. Where nothing answers, svmap and
    svwar only wait out their timeouts: they add nothing but time there."""
    import shutil

    for tool, pkg in (("svmap", "sipvicious"), ("svwar", "sipvicious"), ("sipp", "sip-tester")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run `make test` (or apt-get install {pkg})", pytrace=False)
    target = ROUTER_PUBLIC
    home_dir = lab.workdir / "scanner"
    home_dir.mkdir(exist_ok=True)
    env = {"HOME": str(home_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    sipp = ["sipp", "-sn", "uac", "-i", STRANGER_IP, "-p", "5099", "-s", "rep", "-m", "3", "-r", "10", "-nostdin",
            "-nd", "-timeout", "3s", "-timeout_error", f"{target}:{port}"]
    runs = [sipp]
    if scanners:
        runs += [["svmap", "-b", STRANGER_IP, "-p", str(port), "-m", "INVITE", "-t", "0.05", target],
                 ["svwar", "--force", "-b", STRANGER_IP, "-p", str(port), "-m", "INVITE", "-e", "100-103", "-t",
                  "0.05", target]]
    for cmd in runs:
        r = lab.topo.wan.run(*cmd, check=False, timeout=60, env=env)
        assert "SIP/2.0 200" not in r.stdout + r.stderr, r.stdout[-1500:]


def test_symmetric_nat_without_media_relay_has_audio_only_through_turn(lab: Lab) -> None:
    """Behind a symmetric NAT, with a PBX that passes the SDP through and a far end behind its own router, no
    address the rep can announce reaches it except a TURN relay: no audio with TURN off, audio with it on."""
    lab.topo.set_nat(NatKind.SYMMETRIC)
    try:
        lab.both()
        with lab.ears() as (home_ears, far_ears):
            lab.call_far_from_home("rep", relay=False)
            settle(2.0)
            without = phones.audio_both_ways(home_ears, far_ears)
            lab.hang_up()
            lab.call_far_from_home("repturn", relay=False)
            settle()
            with_turn = phones.audio_both_ways(home_ears, far_ears)
            lab.hang_up()
    finally:
        lab.topo.set_nat(NatKind.PORT_RESTRICTED)
    assert not without["far→home"][0] and not without["home→far"][0], f"audio without TURN: {without}"
    phones.assert_audio_both_ways(with_turn, "through TURN")


def test_router_restart_mid_session_reregisters_and_calls_work(lab: Lab) -> None:
    """A router that restarts with new ports during a call: the engine notices, re-registers through the new
    mapping, moves the live call (re-INVITE through the PBX's media relay), and a new call rings and has audio."""
    home, far = lab.both()
    with lab.ears() as (home_ears, far_ears):
        lab.call_home_from_far("rep")
        settle()
        phones.assert_audio_both_ways(phones.audio_both_ways(home_ears, far_ears), "before the restart")
        contact = lab.restart_router("rep")
        lab.keep_engines()
        # the live call: moved by its re-INVITE, audio both ways again
        wait_for(lambda: all(phones.audio_both_ways(home_ears, far_ears, 1.0)[k][0] for k in ("far→home", "home→far")),
                 20, interval=0.2, what=f"the live call's audio after the restart (contact now {contact})")
        lab.hang_up()
        lab.call_home_from_far("rep")
        settle()
        phones.assert_audio_both_ways(phones.audio_both_ways(home_ears, far_ears), "new call after the restart")
    lab.hang_up()
    assert home.proc is not None and home.proc.poll() is None and far.proc is not None


def test_call_that_cannot_move_after_a_restart_ends_failed_with_a_reason(lab: Lab) -> None:
    """The PBX refuses to move the call (488 to the re-INVITE): the line must not stay up in silence."""
    home, _ = lab.both()
    home_id, _ = _call_refusing_moves(lab)
    t0 = time.monotonic()
    lab.restart_router("rep")
    print(f"re-registered through the new mapping after {time.monotonic() - t0:.1f} s")   # shown on failure
    lab.keep_engines()
    ended = home.wait_call(lambda c: c["call_id"] == home_id and c["state"] == "TERMINATED", 20,
                           what="the stranded call to end")
    print(f"the stranded call ended {time.monotonic() - t0:.1f} s after the restart: {ended.get('reason')}")
    assert ended["end_status"] == "FAILED", ended
    assert "network" in (ended.get("reason") or "").lower(), ended


def _call_refusing_moves(lab: Lab) -> tuple[str, str]:
    """A call from the far end through the PBX's "no re-INVITE" route (prefix 8)."""
    home, far = lab.home(), lab.far()
    cid = phones.dial(far, f"sip:8rep@{lab.pbx.domain}", "far")
    inc = phones.wait_incoming(home)
    home.ctl("answer", call_id=inc["call_id"])
    phones.wait_established(home, inc["call_id"])
    return str(inc["call_id"]), cid


def test_bad_stun_and_turn_settings_are_told_and_calls_still_carry_audio(lab: Lab) -> None:
    """An unreachable STUN and TURN server, a wrong TURN password and a TURN server that refuses allocations:
    each is told to the rep (a notice: the window and widget show it) and the account's calls go out anyway,
    with audio both ways through the PBX's relay."""
    nowhere = "198.51.100.77:3478"           # on the wan, nothing listens there
    refusing = Coturn(lab.topo, lab.workdir / "turn-refusing-calls", refuse_allocations=True).start()
    turn = {"ice": True, "turn_username": TURN_USER, "keepalive_s": lab.keepalive_s}
    accounts = {"unreachable": nat_account("unreachable", "unreach", lab.pbx, stun_servers=[nowhere],
                                           turn_server=nowhere, **turn),
                "wrongpass": nat_account("wrongpass", "wrongpass", lab.pbx, turn_server=lab.turn.address, **turn),
                "refused": nat_account("refused", "refused", lab.pbx, turn_server=refusing.address, **turn)}
    eng = NsEngine(lab.topo.home, lab.workdir / "home-bad-nat", phone_config(*accounts.values(), side=HOME_SIDE),
                   lab.pulse)
    for name in ("wrongpass", "refused"):
        phones.store_turn_password(eng, name, "not-the-password" if name == "wrongpass" else TURN_PASSWORD)
    try:
        eng.start()
        for name in accounts:
            eng.wait_registration(name)
        want = {"nat_stun_unreachable", "nat_turn_unreachable", "nat_turn_auth", "nat_turn_refused"}

        def told() -> set[str]:
            return want & {e.get("code") for e in eng.events if e.get("type") == "notice"}
        wait_for(lambda: told() == want, 20, what=f"notices {want}")
        far = lab.far()
        with lab.ears() as ears:
            for name in accounts:
                cid = phones.dial(eng, lab.pbx.uri("far"), name)
                inc = phones.wait_incoming(far)
                far.ctl("answer", call_id=inc["call_id"])
                phones.wait_established(eng, cid)
                settle()
                phones.assert_audio_both_ways(phones.audio_both_ways(*ears), f"account {name}")
                phones.hang_up_all(eng, far)
    finally:
        eng.stop()
        refusing.stop()


def test_lab_refuses_to_run_without_root_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root (or no netns) must fail the suite with what to do, never skip it."""
    import os

    from tests.nat import topology

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(TopologyError, match="need root"):
        topology.require_netns()
