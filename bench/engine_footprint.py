"""Engine footprint: cold start to registered, RSS after registration, and a soak of sequential calls
(failures, RSS growth, threads and file descriptors before/after). Real kamailio, real sipp, real engine.

RSS after registration is measured twice: without sound devices (``SOFTPHONE_AUDIO=off``, as most tests run
the engine) and as the product starts by default, with the sound-device bridge on a private PulseAudio
daemon. For the latter the biggest mappings are listed (shared libraries, the heap), so what to trim next
is visible. Exits non-zero, saying why, when an engine did not register or the soak's peer carried no call.

    .venv/bin/python bench/engine_footprint.py [--calls 200] [--starts 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from peers_bench import Checks, require  # noqa: E402

from tests.audio import harness  # noqa: E402
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


def mappings_mb(pid: int) -> dict[str, float]:
    """RSS per mapped file (anonymous memory as '[anon]', the heap as '[heap]'), in MB."""
    out: dict[str, float] = defaultdict(float)
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
            name = parts[5] if len(parts) > 5 else "[anon]"
            if "site-packages/" in name:
                name = name.split("site-packages/", 1)[1]
        elif parts and parts[0] == "Rss:":
            out[name] += int(parts[1]) / 1024
    return dict(out)


def cold_starts(work: Path, kam: Kamailio, n: int, checks: Checks, label: str,
                env: dict[str, str] | None = None) -> tuple[list[float], list[float], dict[str, float]]:
    """Process spawn → account REGISTERED (as seen in the ready line), and RSS right after."""
    times: list[float] = []
    rss: list[float] = []
    maps: dict[str, float] = {}
    for i in range(n):
        eng = EngineProcess(work / f"{label}{i}", engine_config(account_toml("office", f"cold{i}", kam)))
        eng.env.update(env or {})
        if env is not None and "SOFTPHONE_AUDIO" not in env:
            eng.env.pop("SOFTPHONE_AUDIO", None)      # the product's default: sound devices on
        eng.set_password("office", PASSWORD)
        t0 = time.monotonic()
        eng.start(watch_events=False)
        elapsed = time.monotonic() - t0
        reg = eng.ready.get("accounts", [{}])[0].get("registration")
        if checks.expect(reg == "REGISTERED", f"{label} start {i + 1}: the account did not register ({reg})"):
            times.append(elapsed)
            time.sleep(1.5)      # (the sound-device bridge lists devices on its own thread after start)
            assert eng.proc is not None
            rss.append(proc_stats(eng.proc.pid)["rss_mb"])
            maps = mappings_mb(eng.proc.pid)
        eng.stop()
    return times, rss, maps


def soak(work: Path, calls: int) -> dict[str, Any]:
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
        invites0 = sipp.invites()
        t0 = time.monotonic()
        for i in range(calls):
            if not _one_call(client, i):
                failures += 1
        elapsed = time.monotonic() - t0
        time.sleep(1.5)  # RTP sockets are released ~0.5 s after a call
        after = proc_stats(pid)
        invites = sipp.invites() - invites0
        hist = client.command("history", limit=calls + 10)["calls"]
        completed = sum(1 for r in hist if r["end_status"] == "COMPLETED")
    finally:
        eng.stop()
        sipp.stop()
    return {"calls": calls, "failures": failures, "completed_in_history": completed, "seconds": elapsed,
            "invites": invites, "before": before, "after": after}


def _one_call(client: Any, i: int) -> bool:
    c = client.command("dial", number=f"+1415558{i:04d}")
    cid = c["call_id"]
    try:
        wait_for(lambda: any(x["call_id"] == cid and x["state"] == "ESTABLISHED"
                             for x in client.command("status")["calls"]), 10, interval=0.01)
        client.command("hangup", call_id=cid)
        wait_for(lambda: client.command("status")["calls"] == [], 10, interval=0.01)
    except AssertionError:
        return False
    time.sleep(0.05)
    return True


# What is below us, layer by layer, measured in one fresh interpreter in the order the engine loads them. Each
# step's RSS growth is that layer's cost in this process (shared libraries count by the pages touched).
LAYERS_SCRIPT = r"""
import json, sys
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1048576
out = [("the Python interpreter", rss())]
import asyncio, ssl, sqlite3, json, logging, email.message, http.cookies, concurrent.futures, uuid, zlib
out.append(("standard library the engine uses (asyncio, ssl/libssl, sqlite3, email, ...)", rss()))
import pjsua2 as pj
from softphone.sip import mediacfg
ep = pj.Endpoint(); ep.libCreate(); cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 1; cfg.logConfig.level = 0; cfg.logConfig.consoleLevel = 0
mediacfg.configure_endpoint(cfg.medConfig); ep.libInit(cfg)
tc = pj.TransportConfig(); tc.port = 0; tc.boundAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc); ep.audDevManager().setNullDev(); ep.libStart()
mediacfg.configure_codecs(ep)
out.append(("pjsua2: Endpoint started as the engine starts it (media config, UDP transport, null device)", rss()))
import aiohttp, aiohttp.web
out.append(("aiohttp (widget server, WebSocket bridge)", rss()))
import pydantic
out.append(("pydantic (settings validation)", rss()))
import keyring
keyring.get_keyring()
out.append(("keyring and the backends it probes (SecretStorage pulls in cryptography)", rss()))
import cryptography.x509, httpx, phonenumbers, platformdirs
phonenumbers.parse("+14155550100")
out.append(("cryptography (widget certificate), httpx (CRM API), phonenumbers, platformdirs", rss()))
if "--audio" in sys.argv:
    import numpy, pulsectl, ctypes.util
    ctypes.CDLL(ctypes.util.find_library("pulse"))
    out.append(("numpy, libpulse, pulsectl (sound devices on)", rss()))
print(json.dumps(out))
ep.libDestroy()
"""


def layers(audio: bool) -> list[tuple[str, float]]:
    """Cumulative RSS after each layer below us (see LAYERS_SCRIPT), in a fresh interpreter."""
    import json
    import subprocess

    r = subprocess.run([sys.executable, "-c", LAYERS_SCRIPT, *(["--audio"] if audio else [])], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, check=False)
    if r.returncode != 0:
        raise SystemExit(f"engine_footprint: measuring the layers below the engine failed: {r.stderr[-1500:]}")
    return [(str(n), float(v)) for n, v in json.loads(r.stdout.strip().splitlines()[-1])]


def print_layers(engine_mb: float, audio: bool) -> None:
    steps = layers(audio)
    what = "sound devices on" if audio else "no sound devices"
    print(f"\nwhere the engine's RSS goes ({what}; layers measured one after the other in a fresh interpreter):")
    print("| layer | + MB | cumulative MB |\n|---|---|---|")
    prev = 0.0
    for name, mb in steps:
        print(f"| {name} | {mb - prev:+.1f} | {mb:.1f} |")
        prev = mb
    print(f"| ours: the engine's own code and state (softphone serve {engine_mb:.1f} MB − the layers) | "
          f"{engine_mb - prev:+.1f} | {engine_mb:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--top", type=int, default=12, help="mappings listed for the engine with audio on")
    args = ap.parse_args()
    require("engine_footprint", "kamailio", "sipp", "pulseaudio", "pacat")
    checks = Checks("engine_footprint")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        kam = Kamailio(work / "kam").start()
        try:
            times, rss, _ = cold_starts(work, kam, args.starts, checks, "cold")
            with harness.pulse_daemon() as pulse:
                _, rss_audio, maps = cold_starts(work, kam, max(1, args.starts // 2), checks, "audio",
                                                 env={"PULSE_SERVER": pulse.server})
        finally:
            kam.stop()
        s = soak(work, args.calls)
    checks.expect(s["invites"] >= args.calls, f"soak: sipp saw {s['invites']} INVITEs for {args.calls} dials")
    checks.expect(s["failures"] == 0, f"soak: {s['failures']} of {args.calls} calls never came up or never ended")
    checks.expect(s["completed_in_history"] > 0, "soak: no call reached COMPLETED in the history")

    def med(v: list[float], fmt: str = "{:.1f}") -> str:
        return fmt.format(statistics.median(v)) if v else "n/a"

    print("| measure | value | target |\n|---|---|---|")
    print(f"| cold start → registered (median of {len(times)}) | {med(times, '{:.2f}')} s "
          f"(min {min(times, default=0):.2f}, max {max(times, default=0):.2f}) | ≤ 1.5 s |")
    print(f"| RSS of `softphone serve` after registration, no sound devices | {med(rss)} MB | ≤ 80 MB |")
    print(f"| RSS of `softphone serve` after registration, sound devices on (default) | {med(rss_audio)} MB "
          f"| ≤ 80 MB |")
    b, a = s["before"], s["after"]
    print(f"| {s['calls']} sequential calls (answer, hang up) | {s['failures']} failures, "
          f"{s['completed_in_history']} COMPLETED rows, {s['seconds']:.1f} s | 0 failures |")
    print(f"| RSS growth over the soak | {a['rss_mb'] - b['rss_mb']:+.1f} MB ({b['rss_mb']:.1f} → {a['rss_mb']:.1f}) "
          f"| ≤ 5 MB |")
    print(f"| threads before → after | {b['threads']} → {a['threads']} | no growth |")
    print(f"| open fds before → after | {b['fds']} → {a['fds']} | no growth |")
    if rss:
        print_layers(statistics.median(rss), audio=False)
    if rss_audio:
        print_layers(statistics.median(rss_audio), audio=True)
    if maps:
        print(f"\nbiggest mappings of the engine with sound devices on (RSS MB, of {sum(maps.values()):.1f}):")
        print("| mapping | MB |\n|---|---|")
        for name, mb in sorted(maps.items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"| {name} | {mb:.1f} |")
    checks.finish()


if __name__ == "__main__":
    main()
