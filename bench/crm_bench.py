"""HubSpot CRM service (issue 15, "Speed"), through the real pieces.

  A. Caller name: INVITE sent by the caller → name shown (the ``caller`` event on the engine's control stream, what
     the window and toast receive). Real engine (`softphone serve` with the CRM service), real SIP caller (sipp
     UAC, a distinct number per call so every lookup goes to HubSpot; then the same numbers again, from the
     cache), the HTTPS stand-in of HubSpot's API on loopback. "Never delaying the ring": INVITE → 180 Ringing at
     the caller, side by side with an engine whose CRM service is not connected (no lookup at all), in the same
     run, and once more with HubSpot's search answering 300 ms late. Target: name ≤ 300 ms p50.
  B. Outbox throughput under HubSpot's documented private-app limit (100 requests per 10 s, Free/Starter; 190 on
     Professional/Enterprise): a backlog of calls (a day offline) drained by a real engine; each call is one
     contact search + one create. Rows: the limit to ourselves; the limit shared with another integration on the
     same token (so HubSpot answers 429 with Retry-After); the client's own pacing (90 requests / 10 s, 4
     searches / s) switched off, so only HubSpot's 429s and Retry-After hold it back.
     "early" counts requests sent before the Retry-After HubSpot gave (must be 0).

Times are wall-clock on one machine (sipp's message log and this process's clock). Prints tables; never asserts;
exits non-zero when a caller never rang, a name never came or a call was never logged.

    .venv/bin/python bench/crm_bench.py [--calls 30] [--backlog 150] [--only lookup|outbox]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from softphone import config  # noqa: E402
from softphone.config import Settings  # noqa: E402
from softphone.core.events import CallEndStatus, CallSnapshot, CallState, Direction  # noqa: E402
from softphone.hubspot.logging_service import call_payload  # noqa: E402
from softphone.storage.outbox import FILENAME, Outbox  # noqa: E402
from tests.hubspot.crm_contract import CrmContract  # noqa: E402
from tests.hubspot.crm_peers import CrmEngine, crm_config, need, trunk  # noqa: E402
from tests.peers import Sipp, free_port, wait_for  # noqa: E402

TOKEN = "pat-na1-bench0000-0000-4000-8000-000000000000"
UAC = ROOT / "tests" / "hubspot" / "scenarios" / "uac_ring_short.xml"
_BLOCK = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n"
                    r"\w+ message (received|sent) (?:\[\d+\] bytes :|\(\d+ bytes\):)\n\n"
                    r"(.*?)(?=^-{10,} |\Z)", re.M | re.S)


class Fail(Exception):
    pass


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def number(i: int) -> str:
    return f"+1415555{2000 + i:04d}"


class Stream:
    """The engine's control event stream, each event stamped with this process's clock on arrival."""

    def __init__(self, eng: CrmEngine) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._eng = eng
        threading.Thread(target=lambda: asyncio.run(self._pump()), daemon=True).start()
        wait_for(lambda: self.events, 5, what="event stream")

    async def _pump(self) -> None:
        with contextlib.suppress(Exception):
            async for ev in self._eng.client().events():
                self.events.append((time.time(), ev))

    def name_at(self, num: str, after: float) -> float | None:
        return next((t for t, e in list(self.events)
                     if e.get("type") == "caller" and e.get("number") == num and t >= after), None)


def ring(target_port: int, caller: str, workdir: Path) -> tuple[float, float]:
    """One inbound call from ``caller``: (INVITE sent, 180 received), wall clock, from sipp's message log."""
    log = workdir / f"uac-{caller}-{uuid.uuid4().hex[:6]}.log"
    subprocess.run(["sipp", "-sf", str(UAC), f"127.0.0.1:{target_port}", "-s", "+15551230000", "-key", "caller",
                    caller, "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()), "-m", "1",
                    "-nostdin", "-nd", "-trace_msg", "-message_file", str(log), "-timeout", "15"],
                   cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)
    invite = ringing = None
    for m in _BLOCK.finditer(log.read_text(errors="replace") if log.exists() else ""):
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        body = m.group(3)
        if m.group(2) == "sent" and body.startswith("INVITE ") and invite is None:
            invite = t
        elif m.group(2) == "received" and body.startswith("SIP/2.0 180") and ringing is None:
            ringing = t
    if invite is None or ringing is None:
        raise Fail(f"the call from {caller} never rang (sipp log {log})")
    return invite, ringing


def lookup_bench(calls: int, tmp: Path) -> list[tuple[str, list[float], list[float]]]:
    """Rows: (label, INVITE→180 ms, INVITE→name ms)."""
    crm = CrmContract(tmp / "crm-a").start()
    crm.add_token(TOKEN)
    for i in range(calls + 1):
        crm.add_contact(f"Caller{i}", "Bench", phone=f"(415) 555-{2000 + i:04d}", company="Bench Co")
    peer = Sipp("uas_answer", workdir=tmp).start()
    rows: list[tuple[str, list[float], list[float]]] = []
    engines: list[CrmEngine] = []

    def engine(token: str | None) -> tuple[Stream, int]:
        port = free_port()
        eng = CrmEngine(tmp / f"eng-{len(engines)}", crm_config(trunk(peer.port), crm=crm, sip_port=port), crm,
                        token=token, opts={"cache_ttl_s": 600.0})
        engines.append(eng)
        eng.start(watch_events=False)
        return Stream(eng), port

    def calls_from(label: str, stream: Stream, port: int, numbers: list[str], named: bool) -> None:
        rings: list[float] = []
        names: list[float] = []
        for i, num in enumerate(numbers):               # call 0 warms up every path
            invite, ringing = ring(port, num, tmp)
            if named:
                shown = wait_for(lambda n=num, a=invite: stream.name_at(n, a), 10, what=f"name of {num}")
                if i > 0:
                    names.append((shown - invite) * 1000)
            if i > 0:
                rings.append((ringing - invite) * 1000)
            time.sleep(0.2)                              # let pjsip free the call's sockets (verified facts)
        rows.append((label, rings, names))

    first = [number(i) for i in range(calls + 1)]
    late = [f"+1415556{2000 + i:04d}" for i in range(calls + 1)]
    for i in range(calls + 1):
        crm.add_contact(f"Late{i}", "Bench", phone=f"(415) 556-{2000 + i:04d}")
    try:
        stream, port = engine(None)
        calls_from("CRM service not connected (no lookup)", stream, port, first, named=False)
        stream, port = engine(TOKEN)
        calls_from("lookup, HubSpot on loopback", stream, port, first, named=True)
        calls_from("lookup again (cached)", stream, port, first, named=True)
        crm.delay = {r"/crm/v3/objects/contacts/search": 0.3}
        calls_from("lookup, HubSpot search 300 ms late", stream, port, late, named=True)
    finally:
        for e in engines:
            e.stop()
        peer.stop()
        crm.stop()
    return rows


def backlog_payloads(n: int, settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        t0 = start + timedelta(minutes=3 * i)
        snap = CallSnapshot(call_id=str(uuid.uuid4()), direction=Direction.OUTBOUND, account="Office",
                            remote=number(i), state=CallState.TERMINATED, started_at=t0,
                            answered_at=t0 + timedelta(seconds=5), ended_at=t0 + timedelta(seconds=65),
                            end_status=CallEndStatus.COMPLETED)
        out.append((snap.call_id, call_payload(snap, settings)))
    return out


def outbox_bench(backlog: int, tmp: Path) -> list[dict[str, Any]]:
    results = []
    regimes = [("100 / 10 s (Free/Starter), ours alone", (100, 10.0), 0.0, None),
               ("100 / 10 s, shared with another integration (5 req/s)", (100, 10.0), 5.0, None),
               ("100 / 10 s, our pacing off (Retry-After only)", (100, 10.0), 0.0, (100000, 10.0)),
               ("190 / 10 s (Professional/Enterprise)", (190, 10.0), 0.0, None)]
    for k, (label, limit, other_rps, client_limit) in enumerate(regimes):
        crm = CrmContract(tmp / f"crm-b{k}", rate_limit=limit).start()
        crm.add_token(TOKEN)
        for i in range(backlog):
            crm.add_contact(f"Caller{i}", "Bench", phone=number(i))
        cfg = crm_config(trunk(free_port()), crm=crm)
        eng = CrmEngine(tmp / f"eng-b{k}", cfg, crm, token=TOKEN,
                        opts={"limit": list(client_limit), "search_limit": list(client_limit)}
                        if client_limit else None)
        settings = config.load(eng.dir / "config.toml", env_origins=False)
        box = Outbox(eng.data_dir / FILENAME)
        for key, payload in backlog_payloads(backlog, settings):
            box.put(key, payload)
        box.close()
        stop = threading.Event()

        def other_app(c: CrmContract = crm, stop: threading.Event = stop, rps: float = other_rps) -> None:
            """Another integration on the same token: takes its share, ignores our troubles."""
            with httpx.Client(base_url=c.base_url, verify=str(c.ca)) as http:
                while not stop.is_set():
                    http.get("/account-info/v3/details", headers={"Authorization": f"Bearer {TOKEN}"})
                    stop.wait(1 / rps)

        t_start = time.time()
        if other_rps:
            threading.Thread(target=other_app, daemon=True).start()
        try:
            eng.start(watch_events=False)
            wait_for(lambda c=crm: len(c.calls) >= backlog, 600, interval=0.2, what=f"{backlog} calls logged")
        except AssertionError as exc:
            raise Fail(f"{label}: {exc}") from None
        finally:
            stop.set()
            eng.stop()
            crm.stop()
        ours = [r for r in crm.requests if r.path != "/account-info/v3/details" or r.headers.get("user-agent", "")
                .startswith("softphone")]
        created = sorted(c.created for c in crm.calls.values())
        begun = min(r.at for r in ours)
        span = created[-1] - begun
        dup = backlog - len({c.properties["hs_call_external_id"] for c in crm.calls.values()})
        results.append({"label": label, "calls": len(crm.calls), "duplicates": dup, "seconds": span,
                        "per_min": len(crm.calls) / span * 60, "requests": len(ours),
                        "429": sum(1 for r in ours if r.status == 429), "early": sum(1 for r in ours if r.early),
                        "wall": time.time() - t_start})
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=30, help="inbound calls per lookup row")
    ap.add_argument("--backlog", type=int, default=150, help="calls waiting in the outbox per throughput row")
    ap.add_argument("--only", choices=["lookup", "outbox"])
    args = ap.parse_args()
    need("sipp")
    try:
        with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp_s:
            tmp = Path(tmp_s)
            if args.only in (None, "lookup"):
                rows = lookup_bench(args.calls, tmp)
                print(f"\nA. Caller name ({args.calls} inbound calls per row, sipp UAC → softphone serve; "
                      "HubSpot stand-in on loopback over HTTPS)\n")
                print(f"| {'row':<40} | INVITE → 180 p50 / p95 | INVITE → name p50 / p95 / max | target |")
                print(f"|{'-' * 42}|{'-' * 24}|{'-' * 32}|{'-' * 8}|")
                for label, rings, names in rows:
                    r = f"{statistics.median(rings):6.1f} / {pct(rings, 95):6.1f} ms"
                    n = (f"{statistics.median(names):6.1f} / {pct(names, 95):6.1f} / {max(names):6.1f} ms"
                         if names else "–")
                    print(f"| {label:<40} | {r:<22} | {n:<30} | ≤ 300 ms p50 |")
            if args.only in (None, "outbox"):
                res = outbox_bench(args.backlog, tmp)
                print(f"\nB. Outbox throughput ({args.backlog} calls waiting; each = 1 contact search + 1 create; "
                      "client paces at 90 req / 10 s and 4 searches / s unless noted)\n")
                print(f"| {'HubSpot limit':<56} | calls/min | s  | requests | 429s | early | duplicates |")
                print(f"|{'-' * 58}|-----------|----|----------|------|-------|------------|")
                for r in res:
                    print(f"| {r['label']:<56} | {r['per_min']:9.0f} | {r['seconds']:3.0f}| {r['requests']:8d} | "
                          f"{r['429']:4d} | {r['early']:5d} | {r['duplicates']:10d} |")
    except Fail as exc:
        print(f"crm_bench: FAILED: {exc}", file=sys.stderr)
        return 1
    print("\n(raw: " + json.dumps({"calls": args.calls, "backlog": args.backlog}) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
