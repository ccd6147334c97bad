"""Calls from behind a home router (the NAT lab of tests/nat: network namespaces, nftables NAT, kamailio +
rtpengine, coturn, PulseAudio): call setup time with and without ICE/TURN, time from a router restart to
registered again with the default keep-alives, and the extra CPU of ICE and of TURN during a call, with
baresip 1.0 (stun/ice/turn modules) side by side. Every call of ours must carry the tone both ways, or the run
fails; a baresip call that carries none is shown as such in its column (what it does in this lab: a finding about
baresip, not a measurement to average).

Needs root (network namespaces). The router keeps idle UDP mappings for 30 s (Linux's default) and the phones
use their default keep-alive (15 s), as at a rep's home.

    sudo .venv/bin/python bench/nat_bench.py [--calls 4] [--restarts 3] [--cpu-seconds 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.nat import phones  # noqa: E402
from tests.nat.baresip import BaresipPhone, require_baresip  # noqa: E402
from tests.nat.lab import Lab, lab  # noqa: E402
from tests.nat.pbx import TURN_PASSWORD, TURN_USER  # noqa: E402
from tests.nat.phones import FAR_SIDE, HOME_SIDE, nat_account, phone_config  # noqa: E402
from tests.nat.topology import NatKind, TopologyError  # noqa: E402
from tests.peers import wait_for  # noqa: E402

ROUTER_TIMEOUT_S = 30
DEFAULT_KEEPALIVE_S = 15
TICK = os.sysconf("SC_CLK_TCK")


class NoAudio(RuntimeError):
    """A measured call carried no audio: its numbers would mean nothing."""


def home_config(the_lab: Lab) -> str:
    stun = [the_lab.turn.address]
    return phone_config(
        nat_account("rep", "rep", the_lab.pbx),
        nat_account("repice", "repice", the_lab.pbx, ice=True, stun_servers=stun),
        nat_account("repturn", "repturn", the_lab.pbx, ice=True, stun_servers=stun,
                    turn_server=the_lab.turn.address, turn_username=TURN_USER),
        side=HOME_SIDE)


def far_config(the_lab: Lab) -> str:
    stun = [the_lab.turn.address]
    return phone_config(nat_account("far", "far", the_lab.pbx, stun_servers=stun),
                        nat_account("farice", "farice", the_lab.pbx, ice=True, stun_servers=stun), side=FAR_SIDE)


def poll(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for(pred, timeout, interval=0.005, what=what)


def one_call(the_lab: Lab, account: str, uri: str, ears: tuple[phones.Ears, phones.Ears]) -> tuple[float, float]:
    """Dial, answer at the far end as soon as it rings; (ms to ring at the far end, ms to established)."""
    home, far = the_lab.engines["home"], the_lab.engines["far"]
    t0 = time.perf_counter()
    cid = phones.dial(home, uri, account)
    inc = poll(lambda: next((c for c in far.status()["calls"] if c["direction"] == "inbound"), None), 20,
               "the far end to ring")
    ring = (time.perf_counter() - t0) * 1000
    far.ctl("answer", call_id=inc["call_id"])
    poll(lambda: (home.live_call(cid) or {}).get("state") == "ESTABLISHED", 20, "the call to be established")
    up = (time.perf_counter() - t0) * 1000
    time.sleep(0.8)
    heard = phones.audio_both_ways(*ears, seconds=1.0)
    the_lab.hang_up()
    bad = {k: v[1] for k, v in heard.items() if not v[0]}
    if bad:
        raise NoAudio(f"{account} → {uri}: no audio {bad}")
    return ring, up


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def call_cpu(the_lab: Lab, account: str, uri: str, seconds: float,
             ears: tuple[phones.Ears, phones.Ears]) -> float:
    """% of one core the rep's engine uses during ``seconds`` of an established call."""
    home, far = the_lab.engines["home"], the_lab.engines["far"]
    assert home.proc is not None
    cid = phones.dial(home, uri, account)
    inc = phones.wait_incoming(far)
    far.ctl("answer", call_id=inc["call_id"])
    phones.wait_established(home, cid)
    time.sleep(1.5)
    c0, t0 = cpu_seconds(home.proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(home.proc.pid), time.monotonic()
    heard = phones.audio_both_ways(*ears, seconds=1.0)
    the_lab.hang_up()
    bad = {k: v[1] for k, v in heard.items() if not v[0]}
    if bad:
        raise NoAudio(f"{account} → {uri}: no audio during the CPU window {bad}")
    return 100 * (c1 - c0) / (t1 - t0)


def baresip_call(the_lab: Lab, bs: BaresipPhone, uri: str, ears: tuple[phones.Ears, phones.Ears]) -> float | str:
    """ms to ring at the far end, or what went wrong (a finding about baresip, shown in the table)."""
    far = the_lab.engines["far"]
    t0 = time.perf_counter()
    mark = bs.dial(uri)
    try:
        inc = poll(lambda: next((c for c in far.status()["calls"] if c["direction"] == "inbound"), None), 20,
                   "the far end to ring (baresip)")
    except AssertionError:
        bs.hang_up()
        return "did not ring"
    ring = (time.perf_counter() - t0) * 1000
    far.ctl("answer", call_id=inc["call_id"])
    established = bs.wait_for("call established", 10, since=mark)
    time.sleep(0.8)
    heard = phones.audio_both_ways(*ears, seconds=1.0)
    bs.hang_up()
    the_lab.hang_up()
    bad = [k for k, v in heard.items() if not v[0]]
    if not established:
        return "not established"
    return ring if not bad else f"no audio {', '.join(bad)}"


def restart_to_registered(the_lab: Lab, user: str, limit: float) -> float | None:
    t0 = time.monotonic()
    try:
        the_lab.restart_router(user, timeout=limit)
    except AssertionError:
        return None
    return time.monotonic() - t0


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.0f}" if xs else "      -"


def med_or_why(xs: list[float | str]) -> str:
    """baresip's column: the median, or what went wrong in its calls (not a number then)."""
    problems = sorted({x for x in xs if isinstance(x, str)})
    if problems:
        return "; ".join(problems)
    return med([x for x in xs if not isinstance(x, str)]).strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=4, help="calls per configuration")
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--cpu-seconds", type=float, default=8.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sp-natbench-"))
    try:
        require_baresip()
        ctx = lab(work, mapping_timeout_s=ROUTER_TIMEOUT_S, keepalive_s=DEFAULT_KEEPALIVE_S)
        the_lab = ctx.__enter__()
    except TopologyError as exc:
        print(f"nat_bench: cannot build the NAT lab: {exc}", file=sys.stderr)
        return 2
    try:
        return run(the_lab, args)
    except NoAudio as exc:
        print(f"nat_bench: FAILED, a measured call carried no audio: {exc}", file=sys.stderr)
        return 1
    finally:
        ctx.__exit__(None, None, None)


def run(the_lab: Lab, args: argparse.Namespace) -> int:
    home = the_lab.restart("home", home_config(the_lab))
    # the TURN password is in the keyring of the engine restart() made (stored under repturn:turn)
    far = the_lab.restart("far", far_config(the_lab))
    for eng, names in ((home, ("rep", "repice", "repturn")), (far, ("far", "farice"))):
        for n in names:
            eng.wait_registration(n, timeout=20)
    pbx = the_lab.pbx
    stun, turn = the_lab.turn.address, the_lab.turn.address
    bs_turn = f";medianat=turn;stunserver=turn:{turn};stunuser={TURN_USER};stunpass={TURN_PASSWORD}"
    # (label, our account, uri, router NAT, baresip's account parameters for the same case or None)
    cases = [
        ("no ICE, PBX relays media", "rep", pbx.uri("far"), NatKind.PORT_RESTRICTED, ""),
        ("ICE (STUN), PBX relays media", "repice", pbx.uri("far"), NatKind.PORT_RESTRICTED, None),
        ("ICE both ends, direct media", "repice", pbx.uri("farice", relay=False), NatKind.PORT_RESTRICTED,
         f";medianat=ice;stunserver=stun:{stun}"),
        ("TURN, symmetric NAT, direct media", "repturn", pbx.uri("far", relay=False), NatKind.SYMMETRIC, bs_turn),
    ]
    setup: dict[str, tuple[list[float], list[float]]] = {}
    bs_rings: dict[str, list[float | str]] = {}
    cpu: dict[str, float] = {}
    with the_lab.ears() as ears:
        for i, (label, account, uri, nat, bs_params) in enumerate(cases):
            if the_lab.topo.nat is not nat:
                the_lab.topo.set_nat(nat)
                the_lab.keep_engines()
                time.sleep(1.0)
            rings, ups = [], []
            for _ in range(args.calls):
                r, u = one_call(the_lab, account, uri, ears)
                rings.append(r)
                ups.append(u)
            setup[label] = (rings, ups)
            if i != 1:
                cpu[label] = call_cpu(the_lab, account, uri, args.cpu_seconds, ears)
            if bs_params is not None:
                with BaresipPhone(the_lab, the_lab.workdir / f"bench-baresip-{i}", "baresip", bs_params).start() as bs:
                    bs_rings[label] = [baresip_call(the_lab, bs, uri, ears) for _ in range(args.calls)]
        the_lab.topo.set_nat(NatKind.PORT_RESTRICTED)
        the_lab.keep_engines()
        time.sleep(1.0)

    # router restarts: the rep's engine with its default keep-alive, then baresip
    restarts: list[float | None] = []
    for _ in range(args.restarts):
        restarts.append(restart_to_registered(the_lab, "rep", 30))
        the_lab.keep_engines()
        time.sleep(1.0)
    with BaresipPhone(the_lab, the_lab.workdir / "bench-baresip-restart", "baresip").start():
        bs_restart = restart_to_registered(the_lab, "baresip", 30)
    the_lab.keep_engines()

    print("\nCall setup behind NAT (rep dials, far end answers at once; median of "
          f"{args.calls}, ms; every call carried the tone both ways)")
    print(f"{'':40} {'to ring':>8} {'to up':>8}   baresip to ring")
    for label, (rings, ups) in setup.items():
        theirs = med_or_why(bs_rings[label]) if label in bs_rings else "-"
        print(f"{label:40} {med(rings)} {med(ups)}   {theirs}")
    print(f"\nRouter restart → registered again through the new mapping (keep-alive {DEFAULT_KEEPALIVE_S} s, "
          f"router timeout {ROUTER_TIMEOUT_S} s; target ≤ 10 s)")
    shown = ", ".join("not within 30 s" if r is None else f"{r:.1f} s" for r in restarts)
    print(f"  softphone: {shown}")
    print(f"  baresip:   {'not within 30 s' if bs_restart is None else f'{bs_restart:.1f} s'}")
    print(f"\nCPU of the rep's engine during a call (% of one core over {args.cpu_seconds:.0f} s, sound devices on)")
    base = cpu[cases[0][0]]
    for label, value in cpu.items():
        extra = "" if label == cases[0][0] else f"   (+{value - base:.1f})"
        print(f"  {label:40} {value:5.1f}{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
