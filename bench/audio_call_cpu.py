"""CPU and latency of a G.711 call with real audio: the product (``softphone serve``) side by side with baresip.

Both run against the same private PulseAudio daemon (a virtual microphone fed with speech-like bursts, the
speaker a null sink) and the same sipp ``-rtp_echo`` UAS, in the same run, alternating, ``--reps`` times.
baresip is Debian's: it has no ``pulse`` module, so it plays and records with its ``alsa`` module through the
PulseAudio ALSA plugin (``libasound2-plugins``), ``PULSE_SERVER`` pointing at the same private daemon.

Ours is the real engine process: ``softphone serve`` with ``SOFTPHONE_AUDIO`` unset (the sound-device bridge on)
and a trunk account whose proxy is the sipp echo peer; the call is dialled through the control API exactly as
the window does. pjsua2 runs with its own worker thread (``threadCnt=1``), as in the product.

Reported per run:

* CPU: utime+stime of the whole process over the call window (from /proc), as % of one core; for ours also
  the process's idle CPU before the call, and the call-time CPU per thread name (``/proc/PID/task``).
* Below us: the same call in the same engine with no sound devices (``SOFTPHONE_AUDIO=off``, pjsua's null
  device): pjsua2's own share (RTP, codec, jitter buffer, conference bridge). The rest is our audio bridge.
* Round trip microphone → call → echo → speaker, measured on the audio itself (the micfeed monitor against the
  speaker monitor, envelope cross-correlation), the same way for both.
* Ours only: the bridge's own figures per direction (ring wait, the device latency PortAudio reports, their
  sum), underruns and overflows of the rings, PortAudio xruns and the drift estimate.

Prints medians and min–max over the reps, and the load average, since numbers on a shared machine are noisy.
Exits non-zero, saying why, when a side did not measure a real call: sipp saw no INVITE, the call never
reached established, nothing was heard on the speaker, or no round trip was found in the audio.

    .venv/bin/python bench/audio_call_cpu.py [--seconds 60] [--reps 3] [--aec]
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from peers_bench import Checks, baresip_audio_config, require, require_baresip_alsa  # noqa: E402

from tests.audio import harness  # noqa: E402
from tests.peers import EngineProcess, Sipp, account_toml, engine_config, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
RATE = harness.RATE


def proc_cpu_s(pid: int, tid: int | None = None) -> float:
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    out: dict[int, tuple[str, float]] = {}
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (t / "comm").read_text().strip()
            out[int(t.name)] = (name, proc_cpu_s(pid, int(t.name)))
        except (OSError, ValueError):
            continue
    return out


def thread_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                 wall: float) -> dict[str, float]:
    by_name: dict[str, float] = {}
    for tid, (name, cpu) in after.items():
        d = cpu - before.get(tid, (name, 0.0))[1]
        by_name[name] = by_name.get(name, 0.0) + d
    return {k: round(v / wall * 100, 2) for k, v in sorted(by_name.items(), key=lambda kv: -kv[1]) if v > 0}


# -- the audio: an aperiodic burst pattern, so the round trip has one unambiguous lag under 1 s -----------------

def speechlike() -> bytes:
    parts = []
    for f, on, off in ((300, 0.30, 0.45), (700, 0.20, 0.15), (1100, 0.35, 0.25), (500, 0.15, 0.60),
                       (900, 0.25, 0.30)):
        parts.append(harness.tone(f, on, -18) + bytes(2 * int(off * RATE)))
    return b"".join(parts)   # 3.0 s


def envelope(x: np.ndarray) -> np.ndarray:
    e = np.abs(x.astype(np.float64))
    return np.convolve(e, np.ones(80) / 80, mode="same")[::16]      # 1 ms resolution


def round_trip_ms(sent: np.ndarray, heard: np.ndarray, max_ms: int = 900) -> float | None:
    a, b = envelope(sent), envelope(heard)
    n = min(len(a), len(b)) - max_ms
    if n < 2000:
        return None
    a = a[:n] - a[:n].mean()
    cors = []
    for lag in range(max_ms):
        seg = b[lag:lag + n]
        cors.append(float(np.dot(a, seg - seg.mean())))
    best = int(np.argmax(cors))
    return float(best) if cors[best] > 0 else None


class Recorders:
    def __init__(self, d: harness.PulseDaemon) -> None:
        self.sent = harness.MonitorRecorder(d, "micfeed")
        self.heard = harness.MonitorRecorder(d, "speaker")

    def clear(self) -> None:
        self.sent.clear()
        self.heard.clear()

    def round_trip(self) -> float | None:
        s, h = self.sent.samples(), self.heard.samples()
        k = min(len(s), len(h), 20 * RATE)
        return round_trip_ms(s[-k:], h[-k:]) if k else None

    def heard_dbfs(self) -> float:
        """Level of what reached the speaker lately (-120: silence, the far end carried no audio)."""
        h = self.heard.samples()[-20 * RATE:]
        return round(float(harness.rms_dbfs(h)), 1) if len(h) else -120.0

    def stop(self) -> None:
        self.sent.stop()
        self.heard.stop()


# -- ours: the real engine --------------------------------------------------------------------------------------

def ours(d: harness.PulseDaemon, sipp: Sipp, rec: Recorders, seconds: float, aec: bool,
         work: Path, *, floor: bool = False) -> dict[str, Any]:
    """``floor``: the same call with no sound devices (pjsua's null device): what pjsua2 itself costs (RTP,
    codec, jitter buffer, conference bridge), so the rest of the product's figure is our audio bridge."""
    audio = f"[audio]\necho_cancellation = {str(aec).lower()}\nnoise_suppression = {str(aec).lower()}\n"
    eng = EngineProcess(work, engine_config(
        account_toml("trunk", "rep", None, auth=False, proxy=f"sip:127.0.0.1:{sipp.port}"), extra=audio))
    eng.env.pop("SOFTPHONE_AUDIO", None)          # the product's default: sound devices on
    if floor:
        eng.env["SOFTPHONE_AUDIO"] = "off"
    eng.env["PULSE_SERVER"] = d.server
    eng.start(watch_events=False)
    client = eng.client()
    assert eng.proc is not None
    pid = eng.proc.pid
    try:
        time.sleep(3.0)
        c0, t0 = proc_cpu_s(pid), time.monotonic()
        time.sleep(5.0)
        idle = (proc_cpu_s(pid) - c0) / (time.monotonic() - t0) * 100
        invites0 = sipp.invites()
        call = client.command("dial", number="+14155550100")
        cid = call["call_id"]

        def established() -> bool:
            return any(c["call_id"] == cid and c["state"] == "ESTABLISHED" for c in client.command("status")["calls"])

        wait_for(established, 10, interval=0.02, what="call established")
        time.sleep(1.0)                            # the streams open and settle (as baresip's 'established')
        th0, c0, t0 = thread_cpu(pid), proc_cpu_s(pid), time.monotonic()
        time.sleep(max(0.0, seconds - 20))
        rec.clear()
        time.sleep(min(20.0, seconds))
        wall = time.monotonic() - t0
        cpu = (proc_cpu_s(pid) - c0) / wall * 100
        threads = thread_delta(th0, thread_cpu(pid), wall)
        rtt = None if floor else rec.round_trip()
        heard = None if floor else rec.heard_dbfs()
        st = next(c for c in client.command("status")["calls"] if c["call_id"] == cid)
        client.command("hangup", call_id=cid)
    finally:
        eng.stop()
    return {"cpu_pct": round(cpu, 2), "idle_pct": round(idle, 2), "threads": threads, "rtt_ms": rtt,
            "heard_dbfs": heard, "established": True, "invites": sipp.invites() - invites0,
            "audio": st.get("audio", {})}


# -- baresip ----------------------------------------------------------------------------------------------------

def baresip(d: harness.PulseDaemon, sipp: Sipp, rec: Recorders, seconds: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bs-"))
    (home / "config").write_text(baresip_audio_config())
    (home / "accounts").write_text("<sip:rep@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    (home / "contacts").write_text("")
    env = d.env()
    invites0 = sipp.invites()
    p = subprocess.Popen(["baresip", "-f", str(home), "-e", f"/dial sip:+14155550100@127.0.0.1:{sipp.port}",
                          "-t", str(seconds + 10)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=env)
    assert p.stdout is not None
    t_est: float | None = None
    c0 = 0.0
    cpu: float | None = None
    rtt: float | None = None
    heard = -120.0
    cleared = False
    tail: list[str] = []
    deadline = time.monotonic() + seconds + 20
    try:
        while time.monotonic() < deadline and p.poll() is None:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                line = p.stdout.readline()
                tail = [*tail, line.rstrip()][-15:]
                if t_est is None and "established" in line.lower():
                    time.sleep(1.0)
                    t_est, c0 = time.monotonic(), proc_cpu_s(p.pid)
            if t_est is None:
                continue
            el = time.monotonic() - t_est
            if not cleared and el >= seconds - 20:
                rec.clear()
                cleared = True
            if el >= seconds:
                cpu = (proc_cpu_s(p.pid) - c0) / el * 100
                rtt = rec.round_trip()
                heard = rec.heard_dbfs()
                break
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        shutil.rmtree(home, ignore_errors=True)
    return {"cpu_pct": None if cpu is None else round(cpu, 2), "rtt_ms": rtt, "heard_dbfs": heard,
            "established": t_est is not None, "invites": sipp.invites() - invites0,
            "log_tail": None if t_est is not None else tail}


def check_run(checks: Checks, who: str, i: int, r: dict[str, Any]) -> None:
    """A run measured a real call: the peer saw it, it was answered, and audio came back through it."""
    what = f"{who}, rep {i + 1}"
    checks.expect(r["invites"] > 0, f"{what}: sipp received no INVITE")
    if not checks.expect(r["established"], f"{what}: the call never reached established"
                         + (f" (baresip said: {' | '.join(r.get('log_tail') or [])})" if r.get("log_tail") else "")):
        return
    checks.expect(r["heard_dbfs"] > SILENT_DBFS, f"{what}: the speaker heard nothing back ({r['heard_dbfs']} dBFS)")
    checks.expect(r["rtt_ms"] is not None, f"{what}: no round trip found in the audio (microphone → echo → speaker)")
    checks.expect(r["cpu_pct"], f"{what}: no CPU figure (the call did not last the measuring window)")


SILENT_DBFS = -60.0     # the echoed bursts arrive around -20 dBFS; the null sink's silence is -120


# -- report -----------------------------------------------------------------------------------------------------

def spread(vals: list[float | None]) -> str:
    v = [x for x in vals if x is not None]
    if not v:
        return "n/a"
    return f"{statistics.median(v):.2f} (min {min(v):.2f}, max {max(v):.2f}, n={len(v)})"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--aec", action="store_true", help="also run ours with WebRTC AEC+NS on")
    ap.add_argument("--no-baresip", action="store_true", help="ours only (for tuning runs)")
    args = ap.parse_args()
    require("audio_call_cpu", "pulseaudio", "pacat", "parec", "sipp")
    if not args.no_baresip:
        require_baresip_alsa("audio_call_cpu")
    checks = Checks("audio_call_cpu")
    work = Path(tempfile.mkdtemp(prefix="sp-audiobench-"))
    runs: dict[str, list[dict[str, Any]]] = {"baresip": [], "ours": [], "floor": [], "ours_aec": []}
    loads: list[str] = []
    with harness.pulse_daemon() as d:
        sipp = Sipp("uas", workdir=work, calls=1000, extra=["-rtp_echo"]).start()
        feed = harness.MicFeeder(d, "micfeed", speechlike())
        rec = Recorders(d)
        try:
            for i in range(args.reps):
                loads.append(loadavg())
                if not args.no_baresip:
                    runs["baresip"].append(baresip(d, sipp, rec, args.seconds))
                    print(f"rep {i + 1} baresip: {runs['baresip'][-1]}  load {loads[-1]}", flush=True)
                    check_run(checks, "baresip", i, runs["baresip"][-1])
                runs["ours"].append(ours(d, sipp, rec, args.seconds, False, work / f"eng{i}"))
                print(f"rep {i + 1} ours:    {runs['ours'][-1]}", flush=True)
                check_run(checks, "softphone", i, runs["ours"][-1])
                runs["floor"].append(ours(d, sipp, rec, args.seconds, False, work / f"floor{i}", floor=True))
                print(f"rep {i + 1} pjsua2 floor (no sound devices): {runs['floor'][-1]['cpu_pct']} % "
                      f"{runs['floor'][-1]['threads']}", flush=True)
                checks.expect(runs["floor"][-1]["invites"] >= 1, f"pjsua2 floor rep {i + 1}: sipp saw no INVITE")
                if args.aec:
                    runs["ours_aec"].append(ours(d, sipp, rec, args.seconds, True, work / f"aec{i}"))
                    print(f"rep {i + 1} ours+AEC: {runs['ours_aec'][-1]}", flush=True)
                    check_run(checks, "softphone + AEC", i, runs["ours_aec"][-1])
        finally:
            rec.stop()
            feed.stop()
            sipp.stop()
    shutil.rmtree(work, ignore_errors=True)

    print(f"\nG.711 (PCMU) call, {args.seconds:.0f} s x {args.reps}, same PulseAudio daemon and sipp echo peer; "
          f"load average at each rep start: {', '.join(loads)}; {os.cpu_count()} cores")
    bs = runs["baresip"]
    if bs:
        print(f"  baresip (alsa → pulse)   CPU % of one core {spread([r['cpu_pct'] for r in bs])}; "
              f"round trip ms {spread([r['rtt_ms'] for r in bs])}; heard dBFS {spread([r['heard_dbfs'] for r in bs])}")
    for key, label in (("ours", "softphone serve"), ("ours_aec", "softphone serve + AEC/NS")):
        rs = runs[key]
        if not rs:
            continue
        ratio = [r["cpu_pct"] / b["cpu_pct"] for r, b in zip(rs, bs, strict=False) if b["cpu_pct"] and r["cpu_pct"]]
        print(f"  {label:<24} CPU % of one core {spread([r['cpu_pct'] for r in rs])}; "
              f"x baresip {spread(list(ratio))}; idle before the call {spread([r['idle_pct'] for r in rs])}; "
              f"round trip ms {spread([r['rtt_ms'] for r in rs])}; heard dBFS {spread([r['heard_dbfs'] for r in rs])}")
        for direction in ("mic", "speaker"):
            ring = [r["audio"].get("bridge_ms", {}).get(direction) for r in rs]
            devl = [r["audio"].get("device_ms", {}).get(direction) for r in rs]
            tot = [a + b if a is not None and b is not None else None for a, b in zip(ring, devl, strict=True)]
            print(f"    {direction:<8} ring wait ms {spread(ring)}; device latency ms {spread(devl)}; "
                  f"bridge total ms {spread(tot)}")
        if key == "ours" and runs["floor"]:
            fl = [r["cpu_pct"] for r in runs["floor"]]
            print(f"    below us: the same call in the same engine with no sound devices (pjsua2's RTP, codec, "
                  f"jitter buffer, conference bridge) CPU % {spread(fl)}; our audio bridge (the rest) "
                  f"{spread([r['cpu_pct'] - f for r, f in zip(rs, fl, strict=False)])}")
        for r in rs:
            a = r["audio"]
            print(f"    run: underruns {a.get('underruns')} overflows {a.get('overflows')} PortAudio xruns in/out "
                  f"{a.get('pa_input_overflows')}/{a.get('pa_output_underflows')} drift ppm {a.get('drift_ppm')}")
            print(f"         threads (% of one core): {r['threads']}")
    checks.finish()


if __name__ == "__main__":
    main()
