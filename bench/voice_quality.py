"""Voice quality of a call, measured: MOS-LQO (ITU-T P.862 PESQ) per network case and codec, the product
(``softphone serve``) side by side with baresip, in the same run, through the same relay and the same far end.

The path: speech (flite kal16, Harvard sentences) played into the private PulseAudio daemon's microphone →
the phone → RTP → a user-space impairment relay (drops, Gilbert–Elliott bursts, jitter with reordering, a fixed
seed, the phone-bound direction only) → sipp echoing RTP → relay → the phone → its speaker sink, recorded and
scored against the original, time-aligned (narrowband for G.711, wideband for G.722). Each call is scored on
every complete copy of each half of the 12 s loop in the measured span.

    .venv/bin/python bench/voice_quality.py [--seconds 30] [--codecs PCMU,G722] [--cases clean,loss3,...]
        [--phones ours,baresip] [--variants tuned,pjsua-defaults,"jb_min_pre_ms=40;jb_discard=1"]

``--variants`` runs ours with other pjmedia settings in the same run (``SOFTPHONE_MEDIA_TUNING``, see
softphone/sip/mediacfg.py): ``pjsua-defaults`` is pjsua's own jitter buffer/codec order, for before/after.
Exits non-zero, saying why, when a phone carried no call or no speech.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.quality import farend, netimpair, phones  # noqa: E402
from tests.quality import rig as rigmod  # noqa: E402
from tests.quality.score import NoSpeechHeard  # noqa: E402

VARIANTS = {"tuned": "", "pjsua-defaults": "defaults"}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="measured span of each call")
    ap.add_argument("--codecs", default="PCMU,G722")
    ap.add_argument("--cases", default=",".join(netimpair.CASES))
    ap.add_argument("--phones", default="ours,baresip")
    ap.add_argument("--variants", default="tuned", help=f"ours with: {', '.join(VARIANTS)} (comma-separated)")
    args = ap.parse_args()
    codecs = [c for c in args.codecs.split(",") if c]
    cases = [c for c in args.cases.split(",") if c]
    want = [p for p in args.phones.split(",") if p]
    variants = [v for v in args.variants.split(",") if v] if "ours" in want else []
    for c in codecs:
        if c not in farend.CODECS:
            ap.error(f"unknown codec {c} (known: {', '.join(farend.CODECS)})")
    for c in cases:
        if c not in netimpair.CASES:
            ap.error(f"unknown case {c} (known: {', '.join(netimpair.CASES)})")
    for v in variants:
        if v not in VARIANTS:
            if "=" not in v:
                ap.error(f"unknown variant {v} (known: {', '.join(VARIANTS)}, or SOFTPHONE_MEDIA_TUNING items)")
            VARIANTS[v] = v.replace(";", ",")

    results: dict[tuple[str, str, str], dict[str, Any]] = {}
    columns = [f"ours:{v}" for v in variants] + (["baresip"] if "baresip" in want else [])
    failures: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="sp-vq-"))
    loads: list[str] = []
    t_start = time.monotonic()
    with rigmod.rig() as rig:
        ours = {v: phones.OurPhone(rig.daemon, work / f"eng-{v}",
                                   env={"SOFTPHONE_MEDIA_TUNING": VARIANTS[v]} if VARIANTS[v] else None)
                for v in variants}
        bs = phones.Baresip(rig.daemon) if "baresip" in want else None
        try:
            for codec in codecs:
                far = farend.EchoFarEnd(codec)
                try:
                    for case in cases:
                        loads.append(loadavg())
                        for col in columns:
                            far.set_case(netimpair.CASES[case])
                            try:
                                if col == "baresip":
                                    assert bs is not None
                                    res = bs.call(far.uri, codec, args.seconds, rig.speaker)
                                else:
                                    res = ours[col.split(":", 1)[1]].call(far.uri, args.seconds, rig.speaker)
                                sc = rig.score(res.heard, far.mode)
                            except (phones.NoCall, NoSpeechHeard) as exc:
                                failures.append(f"{col} {codec} {case}: {exc}")
                                print(f"FAILED {col} {codec} {case}: {exc}", flush=True)
                                continue
                            st = far.relay.stats
                            r = {"mos": sc.mos, "windows": sc.windows, "match": sc.match, "lag_ms": sc.lag_ms,
                                 "loss": st.loss_pct, "reordered": st.reordered, "delivered": st.delivered,
                                 "quality": res.info.get("quality", {})}
                            results[(codec, case, col)] = r
                            print(f"{codec:5} {case:13} {col:20} MOS-LQO {sc.mos:.2f} windows {sc.windows} "
                                  f"relay loss {st.loss_pct:.1f} % reordered {st.reordered}  "
                                  f"{r['quality'] or ''}", flush=True)
                finally:
                    far.stop()
        finally:
            for o in ours.values():
                o.stop()

    minutes = (time.monotonic() - t_start) / 60
    print(f"\nMOS-LQO (P.862.1 narrowband for PCMU, P.862.2 wideband for G.722), mean over the scored windows; "
          f"{args.seconds:.0f} s per call, {minutes:.1f} min in all; load average per case {', '.join(loads)}; "
          f"{os.cpu_count()} cores")
    head = f"| case | {' | '.join(f'{c} {col}' for c in codecs for col in columns)} |"
    print(head)
    print("|" + "---|" * (1 + len(codecs) * len(columns)))
    for case in cases:
        cells = []
        for c in codecs:
            for col in columns:
                r = results.get((c, case, col))
                cells.append("FAILED" if r is None else f"{r['mos']:.2f}")
        print(f"| {netimpair.CASES[case].label} | {' | '.join(cells)} |")
    spread = [r["mos"] for r in results.values()]
    if spread:
        print(f"(all cells: median {statistics.median(spread):.2f})")
    if failures:
        print("\nFAILED (no call or no speech carried):\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
