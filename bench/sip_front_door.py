"""The SIP front door under a flood: how fast the control API answers while strangers hammer the SIP port,
and whether file descriptors, threads and memory come back. Real kamailio registrar, real engine, raw SIP
from 127.0.0.2; a legitimate call through the registrar right after must ring and be answered (the run fails
if it does not, or if any flood message was let through).

    .venv/bin/python bench/sip_front_door.py [--messages 2000] [--rate 700]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine_footprint import proc_stats  # noqa: E402
from tests.peers import PASSWORD, EngineProcess, Kamailio, account_toml, engine_config, running  # noqa: E402
from tests.security.sipwire import Stranger, invite, request  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=700.0, help="messages per second")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sp-frontdoor-"))
    kam = Kamailio(work / "kam").start()
    desk = EngineProcess(work / "desk", engine_config(account_toml("office", "desk", kam)))
    desk.set_password("office", PASSWORD)
    caller = EngineProcess(work / "caller", engine_config(account_toml("office", "caller", kam)))
    caller.set_password("office", PASSWORD)
    with running(kam, desk.start(), caller.start()):
        desk.wait_registration("office")
        caller.wait_registration("office")
        assert desk.proc is not None
        pid = desk.proc.pid
        port = int(desk.status()["sip_transports"]["udp"].rsplit(":", 1)[1])
        idle_rpc = []
        for _ in range(50):
            t0 = time.perf_counter()
            desk.status()
            idle_rpc.append((time.perf_counter() - t0) * 1000)
        before = proc_stats(pid)
        refused0 = desk.status()["inbound"]["rejected"]
        s = Stranger()
        rpc: list[float] = []
        t_start = time.perf_counter()
        for i in range(args.messages):
            msg = request("OPTIONS", "desk", "127.0.0.1", port, s.addr) if i % 4 == 3 else \
                invite("desk", "127.0.0.1", port, s.addr)
            s.send(msg, "127.0.0.1", port)
            if i % 20 == 0:
                t0 = time.perf_counter()
                desk.status()
                rpc.append((time.perf_counter() - t0) * 1000)
                s.replies(0.0)
            next_at = t_start + (i + 1) / args.rate
            time.sleep(max(0.0, next_at - time.perf_counter()))
        flood_s = time.perf_counter() - t_start
        s.close()
        deadline = time.monotonic() + 30
        while desk.status()["inbound"]["rejected"] - refused0 < args.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        refused = desk.status()["inbound"]["rejected"] - refused0
        time.sleep(1.0)
        after = proc_stats(pid)
        out = caller.ctl("dial", number=f"sip:desk@127.0.0.1:{kam.udp}")
        inc = desk.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="real call")
        t0 = time.perf_counter()
        desk.ctl("answer", call_id=inc["call_id"])
        caller.wait_state(out["call_id"], "ESTABLISHED")
        answer_ms = (time.perf_counter() - t0) * 1000
        desk.ctl("hangup", call_id=inc["call_id"])
        rang = [c for c in desk.call_events() if c["direction"] == "inbound" and "scanner" in c["remote"]]

    def q(xs: list[float], p: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(len(xs) * p))]

    rows = [
        ("flood sent (INVITE 3 : OPTIONS 1)", f"{args.messages} in {flood_s:.1f} s"),
        ("refused by the front door", str(refused)),
        ("status RPC idle, median / p99 (ms)", f"{statistics.median(idle_rpc):.2f} / {q(idle_rpc, .99):.2f}"),
        ("status RPC during the flood, median / p99 / max (ms)",
         f"{statistics.median(rpc):.2f} / {q(rpc, .99):.2f} / {max(rpc):.2f}"),
        ("fds before / after", f"{before['fds']:.0f} / {after['fds']:.0f}"),
        ("threads before / after", f"{before['threads']:.0f} / {after['threads']:.0f}"),
        ("RSS before / after (MB)", f"{before['rss_mb']:.1f} / {after['rss_mb']:.1f}"),
        ("real call after the flood: answer -> established", f"{answer_ms:.0f} ms"),
    ]
    print(f"| {'measure':52} | {'value':>24} |")
    print(f"|{'-' * 54}|{'-' * 26}|")
    for name, value in rows:
        print(f"| {name:52} | {value:>24} |")
    if refused < args.messages or rang:
        print(f"FAILED: {args.messages - refused} flood messages not refused, {len(rang)} rang", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
