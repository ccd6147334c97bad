"""baresip 1.0 (its ``stun``/``turn``/``ice`` modules) as the rep's phone in the same NAT lab, case by case, side by
side with ``test_nat_calls``: a reference for what another softphone manages here. It records which cases it
passes (printed, and in ``baresip-reference.json`` in the lab's directory); the test itself fails only when the
reference could not be measured (baresip missing, or not even the plain outbound call working).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.nat import phones
from tests.nat.baresip import BaresipPhone, require_baresip
from tests.nat.lab import MAPPING_TIMEOUT_S, Lab, settle
from tests.nat.pbx import TURN_PASSWORD, TURN_USER
from tests.nat.topology import ROUTER_PUBLIC, STRANGER_IP, NatKind, TopologyError

USER = "baresip"


def _established_both_ways(lab: Lab, bs: BaresipPhone, mark: int, ears: tuple[phones.Ears, phones.Ears]) -> str:
    if not bs.wait_for("call established", 10, since=mark):
        return "no call"
    settle()
    heard = phones.audio_both_ways(*ears)
    bad = [k for k, v in heard.items() if not v[0]]
    return "pass" if not bad else f"no audio {', '.join(bad)}"


def case_outbound(lab: Lab, bs: BaresipPhone) -> str:
    far = lab.far()
    with lab.ears() as ears:
        mark = bs.dial(lab.pbx.uri("far"))
        inc = phones.wait_incoming(far)
        far.ctl("answer", call_id=inc["call_id"])
        result = _established_both_ways(lab, bs, mark, ears)
    bs.hang_up()
    lab.hang_up()
    return result


def _far_calls_baresip(lab: Lab, bs: BaresipPhone, no_ring: str) -> str:
    """The far phone calls baresip through the PBX: ``no_ring`` if it never rang, else how the audio went."""
    far = lab.far()
    with lab.ears() as ears:
        mark = len(bs.lines)
        cid = phones.dial(far, lab.pbx.uri(USER), "far")
        try:
            phones.wait_established(far, cid, 10)
        except AssertionError:
            lab.hang_up()
            return no_ring
        result = _established_both_ways(lab, bs, mark, ears)
    bs.hang_up()
    lab.hang_up()
    return result


def case_inbound_later(lab: Lab, bs: BaresipPhone) -> str:
    time.sleep(3 * MAPPING_TIMEOUT_S)
    return _far_calls_baresip(lab, bs, "did not ring")


def case_symmetric_turn(lab: Lab, make: Callable[[str], BaresipPhone]) -> str:
    lab.topo.set_nat(NatKind.SYMMETRIC)
    try:
        results = []
        for nat in ("", f";medianat=turn;stunserver=turn:{lab.turn.address};stunuser={TURN_USER};"
                        f"stunpass={TURN_PASSWORD}"):
            with make(nat) as bs:
                far = lab.far()
                with lab.ears() as ears:
                    mark = bs.dial(lab.pbx.uri("far", relay=False))
                    inc = phones.wait_incoming(far)
                    far.ctl("answer", call_id=inc["call_id"])
                    results.append(_established_both_ways(lab, bs, mark, ears))
                bs.hang_up()
                lab.hang_up()
    finally:
        lab.topo.set_nat(NatKind.PORT_RESTRICTED)
    without, with_turn = results
    if without != "pass" and with_turn == "pass":
        return "pass"
    return f"without TURN: {without}; with TURN: {with_turn}"


def case_router_restart(lab: Lab, bs: BaresipPhone) -> str:
    try:
        lab.restart_router(USER, timeout=10)
    except AssertionError:
        return "not re-registered within 10 s"
    return _far_calls_baresip(lab, bs, "re-registered, but the new call did not ring")


def case_stranger(lab: Lab, bs: BaresipPhone) -> str:
    lab.topo.forward_port(5070)
    try:
        mark = len(bs.lines)
        r = lab.topo.wan.run("sipp", "-sn", "uac", "-i", STRANGER_IP, "-p", "5099", "-s", USER, "-m", "1", "-nostdin",
                             "-nd", "-timeout", "4s", "-timeout_error", f"{ROUTER_PUBLIC}:5070", check=False,
                             timeout=30)
        bs.pump(0.5)
    finally:
        lab.topo.clear_forwards()
    rang = bs.wait_for("incoming call", 0.1, since=mark) or bs.wait_for("call established", 0.1, since=mark)
    bs.hang_up()
    if rang:
        return "rang for a stranger (through the forwarded port)"
    return "pass" if r.returncode != 0 else "stranger's call completed"


def test_baresip_reference(lab: Lab) -> None:
    try:
        require_baresip()
    except TopologyError as exc:
        pytest.fail(str(exc), pytrace=False)
    n = [0]

    def make(nat: str = "") -> BaresipPhone:
        n[0] += 1
        return BaresipPhone(lab, lab.workdir / f"baresip-{n[0]}", USER, nat).start()

    results: dict[str, str] = {}
    lab.far().wait_registration("far")
    with make() as bs:
        results["1 outbound"] = case_outbound(lab, bs)
        assert results["1 outbound"] == "pass", f"the reference itself does not work: {results} {bs.log()[-2000:]}"
        results["2 inbound 3x mapping timeout later"] = case_inbound_later(lab, bs)
        results["5 stranger at the forwarded port"] = case_stranger(lab, bs)
    results["3 symmetric NAT: audio only through TURN"] = case_symmetric_turn(lab, make)
    with make() as bs:
        results["4 router restart: re-registered, new call"] = case_router_restart(lab, bs)
    (lab.workdir / "baresip-reference.json").write_text(json.dumps(results, indent=2))
    width = max(len(k) for k in results)
    print("\nbaresip 1.0 in the NAT lab:\n" + "\n".join(f"  {k:<{width}}  {v}" for k, v in results.items()))
