"""CPU of a G.711 call with real audio, our bridge side by side with baresip, in the same run.

Both run against the same private PulseAudio daemon (virtual microphone fed with speech-like bursts,
speaker a null sink) and the same sipp RTP-echo peer. CPU is the process's utime+stime over the call
(from /proc), as % of one core. Also prints the bridge latency per direction and underruns.

    .venv/bin/python bench/audio_call_cpu.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.audio import harness  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def ours(d: harness.PulseDaemon, peer: harness.EchoPeer, seconds: float, aec: bool) -> dict[str, object]:
    cfg = {"echo_cancellation": aec, "noise_suppression": aec}
    env = d.env()
    env["SOFTPHONE_DATA_DIR"] = tempfile.mkdtemp()
    p = subprocess.Popen([sys.executable, str(ROOT / "tests/audio/pjcall.py"), "--uri", peer.uri,
                          "--seconds", str(seconds), "--config", json.dumps(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert p.stdout is not None
    stats: dict[str, object] = {}
    for line in p.stdout:
        if line.startswith("{"):
            ev = json.loads(line)
            if ev["event"] == "stats":
                stats = ev
    p.wait(60)
    return stats


def baresip(d: harness.PulseDaemon, peer: harness.EchoPeer, seconds: float) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="bs-"))
    (home / "config").write_text(
        "poll_method\tepoll\n"
        "sip_listen\t127.0.0.1:0\n"
        "audio_player\tpulse,\naudio_source\tpulse,\naudio_alert\tpulse,\n"
        "audio_srate\t16000\naudio_channels\t1\n"
        "module_path\t/usr/lib/baresip/modules\n"
        "module\tstdio.so\nmodule\tg711.so\nmodule\tpulse.so\n"
        "module_app\taccount.so\nmodule_app\tmenu.so\n"
        "rtp_stats\tyes\n"
    )
    (home / "accounts").write_text("<sip:rep@127.0.0.1>;regint=0;audio_codecs=PCMU\n")
    (home / "contacts").write_text("")
    env = d.env()
    p = subprocess.Popen(["baresip", "-f", str(home), "-e", f"/dial {peer.uri}", "-t", str(seconds + 3)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=env)
    assert p.stdout is not None
    t_est = None
    cpu0 = 0.0
    lines: list[str] = []
    import select

    deadline = time.monotonic() + seconds + 20
    cpu = None
    while time.monotonic() < deadline and p.poll() is None:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            line = p.stdout.readline()
            lines.append(line)
            if t_est is None and "established" in line.lower():
                t_est = time.monotonic()
                cpu0 = proc_cpu_s(p.pid)
        if t_est is not None and time.monotonic() - t_est >= seconds - 1 and cpu is None:
            cpu = (proc_cpu_s(p.pid) - cpu0) / (time.monotonic() - t_est) * 100
            p.terminate()
    p.wait(10)
    return {"cpu_pct": None if cpu is None else round(cpu, 2), "established": t_est is not None,
            "log_tail": "".join(lines[-5:]) if t_est is None else ""}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    speechlike = b"".join(harness.tone(f, 0.3, -18) + bytes(2 * 3200) for f in (300, 700, 1100, 500))
    with harness.pulse_daemon() as d:
        peer = harness.EchoPeer(calls=10)
        feed = harness.MicFeeder(d, "micfeed", speechlike)
        try:
            r_bs = baresip(d, peer, args.seconds)
            r_ours = ours(d, peer, args.seconds, aec=False)
            r_aec = ours(d, peer, args.seconds, aec=True)
        finally:
            feed.stop()
            peer.stop()
    print(f"G.711 call, {args.seconds:.0f} s, same PulseAudio daemon and sipp echo peer")
    print(f"  baresip 1.0 (pulse module)        CPU {r_bs['cpu_pct']} % of one core {r_bs.get('log_tail', '')}")
    for name, r in (("softphone bridge, AEC/NS off", r_ours), ("softphone bridge, WebRTC AEC+NS", r_aec)):
        st = r.get("stats", {})
        assert isinstance(st, dict)
        print(f"  {name:<33} CPU {r.get('cpu_pct')} % of one core; bridge latency ms {st.get('bridge_ms')};"
              f" underruns {st.get('underruns')}; overflows {st.get('overflows')};"
              f" PortAudio xruns in/out {st.get('pa_input_overflows')}/{st.get('pa_output_underflows')};"
              f" drift ppm {st.get('drift_ppm')}; quality {r.get('quality')}")


if __name__ == "__main__":
    main()
