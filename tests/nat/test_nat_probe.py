"""``softphone.nat_probe`` (what ``doctor`` and the engine's NAT check say) run from the rep's home namespace
against the lab's real coturn, behind the real router: the NAT it sees, and a clear finding for unreachable
servers, a wrong TURN password and a TURN server that refuses allocations."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.nat.lab import Lab
from tests.nat.pbx import TURN_PASSWORD, TURN_USER, Coturn
from tests.nat.topology import ROUTER_PUBLIC, NatKind
from tests.peers import ROOT

NOWHERE = "198.51.100.77:3478"          # on the wan, but nothing listens there


@pytest.fixture(scope="module")
def refusing_turn(lab: Lab) -> Iterator[Coturn]:
    t = Coturn(lab.topo, lab.workdir / "turn-refusing", refuse_allocations=True).start()
    yield t
    t.stop()


def probe(lab: Lab, *args: str, password: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "softphone.nat_probe", "--json", "--timeout", "1.0", *args]
    if password is not None:
        cmd.append("--turn-password-stdin")
    r = lab.topo.home.run(*cmd, check=False, input=(password or "") + "\n", timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def codes(report: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["level"] for f in report["findings"]}


def test_cone_nat_public_address_and_stable_mapping(lab: Lab) -> None:
    rep = probe(lab, "--stun", lab.turn.address)
    assert rep["public_address"][0] == ROUTER_PUBLIC, rep
    assert rep["local_address"] != ROUTER_PUBLIC
    assert rep["nat"] == "endpoint-independent", rep
    assert rep["stable"] is True
    assert any("stun_servers" in s for s in rep["suggestions"]), rep["suggestions"]


def test_symmetric_nat_is_named_and_turn_suggested(lab: Lab) -> None:
    lab.topo.set_nat(NatKind.SYMMETRIC)
    try:
        rep = probe(lab, "--stun", lab.turn.address)
    finally:
        lab.topo.set_nat(NatKind.PORT_RESTRICTED)
    assert rep["nat"] == "symmetric", rep
    assert any("turn_server" in s for s in rep["suggestions"]), rep["suggestions"]


def test_turn_with_the_right_password_gives_a_relay(lab: Lab) -> None:
    for transport in ("udp", "tcp"):
        rep = probe(lab, "--turn", lab.turn.address, "--turn-transport", transport, "--turn-user", TURN_USER,
                    password=TURN_PASSWORD)
        assert rep["turn"]["relayed"] is not None, rep
        assert codes(rep) == {"turn_ok": "ok"}, rep


def test_unreachable_servers_are_named_and_calls_go_on(lab: Lab) -> None:
    rep = probe(lab, "--stun", NOWHERE, "--turn", NOWHERE, "--turn-user", TURN_USER, password=TURN_PASSWORD)
    found = codes(rep)
    assert found == {"stun_unreachable": "warning", "turn_unreachable": "warning"}, rep
    assert all("without" in f["message"] or "PBX" in f["message"] for f in rep["findings"]), rep


def test_wrong_turn_password_is_an_error_with_the_fix(lab: Lab) -> None:
    rep = probe(lab, "--turn", lab.turn.address, "--turn-user", TURN_USER, password="not-the-password")
    assert codes(rep) == {"turn_auth": "error"}, rep
    assert rep["turn"]["error_code"] == 401
    assert "set-password" in rep["findings"][0]["message"] and "--turn" in rep["findings"][0]["message"]


def test_turn_server_refusing_allocations_is_a_warning(lab: Lab, refusing_turn: Coturn) -> None:
    rep = probe(lab, "--turn", refusing_turn.address, "--turn-user", TURN_USER, password=TURN_PASSWORD)
    assert codes(rep) == {"turn_refused": "warning"}, rep
    assert rep["turn"]["error_code"] not in (None, 401), rep
    assert "without" in rep["findings"][0]["message"]


def test_doctor_lines_for_an_account(lab: Lab) -> None:
    """What ``doctor`` prints for an account with STUN and TURN, the TURN password read through the lookup."""
    account = {"name": "office", "sip_uri": "sip:rep@pbx.example", "stun_servers": [lab.turn.address],
               "turn_server": lab.turn.address, "turn_username": TURN_USER}
    code = ("import json, sys; from softphone.config import Settings; from softphone.nat_probe import doctor_checks;"
            "pw = sys.stdin.readline().strip();"
            "s = Settings.model_validate({'accounts': [json.loads(sys.argv[1])]});"
            "print(json.dumps(doctor_checks(s, {'nat': {'office': {'public_address': 'x:1', 'path_changes': 2}}},"
            " lambda key: pw if key == 'office:turn' else None)))")
    r = lab.topo.home.run(sys.executable, "-c", code, json.dumps(account), input=TURN_PASSWORD + "\n", timeout=60,
                          cwd=ROOT)
    lines = json.loads(r.stdout)
    text = "\n".join(f"{lvl} {t}" for lvl, t in lines)
    assert all(lvl == "ok" for lvl, _ in lines), text
    assert "gives out relays" in text and f"public address {ROUTER_PUBLIC}" in text, text
    assert "the PBX sees this phone at x:1; the path changed 2 time(s)" in text, text
