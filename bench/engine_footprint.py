"""Engine footprint: cold start to registered, RSS after registration, and a soak of sequential calls
(failures, RSS growth, threads and file descriptors before/after). Real kamailio, real sipp, real engine.

    .venv/bin/python bench/engine_footprint.py [--calls 200] [--starts 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.peers import (  # noqa: E402
    PASSWORD,
    EngineProcess,
    Kamailio,
    Sipp,
    account_toml,
    engine_config,
    wait_for,
)


def proc_stats(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    threads = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_mb": rss_kb / 1024, "threads": threads, "fds": fds}


def cold_starts(work: Path, kam: Kamailio, n: int) -> tuple[list[float], list[float]]:
    """Process spawn → account REGISTERED (as seen in the ready line), and RSS right after."""
    times, rss = [], []
    for i in range(n):
        eng = EngineProcess(work / f"cold{i}", engine_config(account_toml("office", f"cold{i}", kam)))
        eng.set_password("office", PASSWORD)
        t0 = time.monotonic()
        eng.start(watch_events=False)
        times.append(time.monotonic() - t0)
        assert eng.ready["accounts"][0]["registration"] == "REGISTERED", eng.ready
        time.sleep(0.5)
        assert eng.proc is not None
        rss.append(proc_stats(eng.proc.pid)["rss_mb"])
        eng.stop()
    return times, rss


def soak(work: Path, calls: int) -> dict[str, object]:
    sipp = Sipp("uas_answer", workdir=work, calls=100000).start()
    eng = EngineProcess(work / "soak", engine_config(
        account_toml("trunk", "rep", None, auth=False, proxy=f"sip:127.0.0.1:{sipp.port}")))
    eng.start(watch_events=False)
    client = eng.client()
    assert eng.proc is not None
    pid = eng.proc.pid
    failures = 0
    try:
        for i in range(5):  # warm-up (first-call allocations, codec init)
            _one_call(client, i)
        before = proc_stats(pid)
        t0 = time.monotonic()
        for i in range(calls):
            if not _one_call(client, i):
                failures += 1
        elapsed = time.monotonic() - t0
        time.sleep(1.5)  # RTP sockets are released ~0.5 s after a call
        after = proc_stats(pid)
        hist = client.command("history", limit=calls + 10)["calls"]
        completed = sum(1 for r in hist if r["end_status"] == "COMPLETED")
    finally:
        eng.stop()
        sipp.stop()
    return {"calls": calls, "failures": failures, "completed_in_history": completed, "seconds": elapsed,
            "before": before, "after": after}


def _one_call(client: object, i: int) -> bool:
    c = client.command("dial", number=f"+1415558{i:04d}")  # type: ignore[attr-defined]
    cid = c["call_id"]
    try:
        wait_for(lambda: any(x["call_id"] == cid and x["state"] == "ESTABLISHED"
                             for x in client.command("status")["calls"]), 10, interval=0.01)  # type: ignore[attr-defined]
        client.command("hangup", call_id=cid)  # type: ignore[attr-defined]
        wait_for(lambda: client.command("status")["calls"] == [], 10, interval=0.01)  # type: ignore[attr-defined]
    except AssertionError:
        return False
    time.sleep(0.05)
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--starts", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        kam = Kamailio(work / "kam").start()
        try:
            times, rss = cold_starts(work, kam, args.starts)
        finally:
            kam.stop()
        s = soak(work, args.calls)
    print("| measure | value | target |\n|---|---|---|")
    print(f"| cold start → registered (median of {len(times)}) | {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}) | ≤ 1.5 s |")
    print(f"| RSS of `softphone serve` after registration | {statistics.median(rss):.1f} MB | ≤ 80 MB |")
    b, a = s["before"], s["after"]  # type: ignore[index]
    print(f"| {s['calls']} sequential calls (answer, hang up) | {s['failures']} failures, "
          f"{s['completed_in_history']} COMPLETED rows, {s['seconds']:.1f} s | 0 failures |")
    print(f"| RSS growth over the soak | {a['rss_mb'] - b['rss_mb']:+.1f} MB ({b['rss_mb']:.1f} → {a['rss_mb']:.1f}) "
          f"| ≤ 5 MB |")
    print(f"| threads before → after | {b['threads']} → {a['threads']} | no growth |")
    print(f"| open fds before → after | {b['fds']} → {a['fds']} | no growth |")


if __name__ == "__main__":
    main()
