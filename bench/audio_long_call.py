"""Underruns over a long call (default 10 minutes) through the real engine, with the bridge's own figures
sampled along the way.

Same set-up as ``bench/audio_call_cpu.py``: a private PulseAudio daemon (virtual microphone fed with
speech-like bursts, speaker a null sink), a sipp ``-rtp_echo`` UAS as the far end, and ``softphone serve``
with its sound-device bridge on, dialled through the control API. Every ``--every`` seconds the call's
``audio`` status is read; the table shows underruns/overflows per direction (cumulative), PortAudio xruns,
the ring slack, the drift estimate, the bridge latency and the process CPU since the previous sample.
Prints the load average too: on a shared machine, CPU contention is what causes underruns.
Exits non-zero, saying why, when the call did not carry audio: sipp saw no INVITE, the call never came up or
ended early, the speaker heard nothing, or no round trip was found in the last stretch of audio.

    .venv/bin/python bench/audio_long_call.py [--minutes 10] [--every 30]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from audio_call_cpu import SILENT_DBFS, Recorders, loadavg, proc_cpu_s, speechlike  # noqa: E402
from peers_bench import Checks, fail, require  # noqa: E402

from tests.audio import harness  # noqa: E402
from tests.peers import EngineProcess, Sipp, account_toml, engine_config, wait_for  # noqa: E402


def pair(a: dict[str, Any], key: str, width: int) -> str:
    v = a.get(key, {})
    return f"{v.get('mic')!s:>{width}}/{v.get('speaker')!s:<{width}}"


def row(t: float, a: dict[str, Any], cpu: float) -> str:
    xr = f"{a.get('pa_input_overflows')!s:>4}/{a.get('pa_output_underflows')!s:<4}"
    return (f"{t:7.0f} {pair(a, 'underruns', 5)} {pair(a, 'overflows', 4)} {xr} {pair(a, 'slack_ms', 5)}"
            f" {pair(a, 'drift_ppm', 6)} {pair({'x': total_ms(a)}, 'x', 5)} {cpu:6.2f}  {loadavg()}")


def total_ms(a: dict[str, Any]) -> dict[str, float | None]:
    """Latency the bridge adds per direction: ring wait + device side (the pushed speaker has no ring)."""
    b, d = a.get("bridge_ms", {}), a.get("device_ms", {})
    return {k: round((b.get(k) or 0.0) + (d.get(k) or 0.0), 1) for k in ("mic", "speaker")}


# A timer in a process of its own (no GIL, no audio): how late a 5 ms sleep wakes up. Lateness the machine
# gives any process is what the call's 20 ms clock also gets; printed with its time for comparison with the
# underruns the engine logs.
STALL_PROBE = r"""
import sys, time
t0 = float(sys.argv[1]); nxt = time.monotonic()
while True:
    nxt += 0.005
    d = nxt - time.monotonic()
    if d > 0:
        time.sleep(d)
    late = time.monotonic() - nxt
    if late > 0.012:
        print(f"{time.monotonic() - t0:.1f} {late * 1000:.0f}", flush=True)
        nxt = time.monotonic()
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--aec", action="store_true")
    args = ap.parse_args()
    require("audio_long_call", "pulseaudio", "pacat", "parec", "sipp")
    checks = Checks("audio_long_call")
    probe: subprocess.Popen[str] | None = None
    work = Path(tempfile.mkdtemp(prefix="sp-longcall-"))
    aec = str(args.aec).lower()
    with harness.pulse_daemon() as d:
        sipp = Sipp("uas", workdir=work, calls=10, extra=["-rtp_echo"]).start()
        feed = harness.MicFeeder(d, "micfeed", speechlike())
        rec = Recorders(d)
        eng = EngineProcess(work / "engine", engine_config(
            account_toml("trunk", "rep", None, auth=False, proxy=f"sip:127.0.0.1:{sipp.port}"),
            extra=f"[audio]\necho_cancellation = {aec}\nnoise_suppression = {aec}\n"))
        eng.env.pop("SOFTPHONE_AUDIO", None)
        eng.env["PULSE_SERVER"] = d.server
        try:
            eng.start(watch_events=False)
            assert eng.proc is not None
            client = eng.client()
            cid = client.command("dial", number="+14155550100")["call_id"]

            def call() -> dict[str, Any] | None:
                return next((c for c in client.command("status")["calls"]
                             if c["call_id"] == cid and c["state"] == "ESTABLISHED"), None)

            try:
                wait_for(call, 10, interval=0.02, what="call established")
            except AssertionError:
                raise fail("audio_long_call", f"the call never reached ESTABLISHED (sipp saw {sipp.invites()} "
                                              "INVITE)") from None
            t0 = time.monotonic()
            probe = subprocess.Popen([sys.executable, "-c", STALL_PROBE, repr(t0)], stdout=subprocess.PIPE,
                                     text=True)
            c0 = proc_cpu_s(eng.proc.pid)
            print(f"{args.minutes:.0f}-minute G.711 call through softphone serve, sipp echo peer; "
                  f"started with load average {loadavg()}")
            print("      s  underruns  overflows  PA xruns  slack ms     drift ppm     latency ms  CPU %  load")
            print("          mic/spk    mic/spk    in/out    mic/spk      mic/spk      mic/spk")
            last: dict[str, Any] = {}
            rtt: float | None = None
            heard = -120.0
            rec.clear()
            while time.monotonic() - t0 < args.minutes * 60:
                time.sleep(min(args.every, args.minutes * 60 - (time.monotonic() - t0)))
                c = call()
                if c is None:
                    raise fail("audio_long_call", f"the call ended early, {time.monotonic() - t0:.0f} s in")
                rtt, heard = rec.round_trip(), rec.heard_dbfs()     # the audio since the previous sample
                rec.clear()
                c1 = proc_cpu_s(eng.proc.pid)
                last = c.get("audio", {})
                print(row(time.monotonic() - t0, last, (c1 - c0) / args.every * 100), flush=True)
                c0 = c1
            u = last.get("underruns", {})
            total = sum(v for v in u.values() if isinstance(v, int))
            print(f"\nunderruns in {args.minutes:.0f} min: mic {u.get('mic')}, speaker {u.get('speaker')} "
                  f"(total {total}); PortAudio xruns in/out {last.get('pa_input_overflows')}/"
                  f"{last.get('pa_output_underflows')}; final drift ppm {last.get('drift_ppm')}; "
                  f"bridge ms {last.get('bridge_ms')} + device ms {last.get('device_ms')} = {total_ms(last)}; "
                  f"speaker steering {last.get('speaker_steer')}")
            checks.expect(sipp.invites() > 0, "sipp received no INVITE")
            checks.expect(heard > SILENT_DBFS, f"the speaker heard nothing back at the end ({heard} dBFS)")
            checks.expect(rtt is not None, "no round trip found in the last stretch of audio")
            print(f"last {args.every:.0f} s: round trip {rtt} ms, heard {heard} dBFS")
            client.command("hangup", call_id=cid)
            probe.terminate()
            late = (probe.communicate(timeout=5)[0] or "").split("\n")
            stalls = [x for x in late if x.strip()]
            print(f"machine stalls (a 5 ms timer in a separate process woke > 12 ms late): {len(stalls)}"
                  + "".join(f"\n  at {x.split()[0]} s: {x.split()[1]} ms late" for x in stalls[:40]))
            log = eng.stderr_path.read_text(errors="replace") if eng.stderr_path.exists() else ""
            events = [ln.split(" INFO ")[-1] for ln in log.splitlines() if "audio underruns" in ln]
            print(f"engine's underrun log (stream opened ~ at call start): {len(events)}"
                  + "".join(f"\n  {e}" for e in events))
        finally:
            if probe is not None and probe.poll() is None:
                probe.kill()
            eng.stop()
            rec.stop()
            feed.stop()
            sipp.stop()
    shutil.rmtree(work, ignore_errors=True)
    checks.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
