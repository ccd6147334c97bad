"""A pjsua2 call driven the way the SIP adapter drives a ``MediaBridge`` (own process: one Endpoint per
process). Prints one JSON object per line on stdout: ``media_active``, ``notice``, ``stats``, ``done``.

    python tests/audio/pjcall.py --uri sip:echo@127.0.0.1:PORT --seconds 5 [--config JSON]

All pjsua2 calls (and so all MediaBridge calls) happen on the main thread, which pumps events itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pjsua2 as pj

from softphone.audio.bridge import SoundDeviceMedia
from softphone.config import AudioConfig


def out(**kw: Any) -> None:
    print(json.dumps(kw), flush=True)


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, acc: Any, media: SoundDeviceMedia) -> None:
        super().__init__(acc)
        self.media = media
        self.state = ""
        self.active = False
        self.med_idx = -1

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        self.state = str(ci.stateText)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.media.call_ended("c1")

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media.call_media_active("c1", self.getAudioMedia(i))
                self.active = True
                self.med_idx = i
                si = self.getStreamInfo(i)
                out(event="media_active", t=time.time(), codec=f"{si.codecName}/{si.codecClockRate}")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--config", default="{}")
    ap.add_argument("--mute-after", type=float, default=-1.0)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()

    cfg = AudioConfig.model_validate(json.loads(args.config))
    data_dir = Path(os.environ.get("SOFTPHONE_DATA_DIR") or tempfile.mkdtemp())
    media = SoundDeviceMedia(cfg, data_dir, on_notice=lambda lvl, msg: out(event="notice", level=lvl, message=msg))

    ep = pj.Endpoint()
    ep.libCreate()
    ec = pj.EpConfig()
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = False
    ec.logConfig.level = 1
    ec.logConfig.consoleLevel = 1
    ec.medConfig.clockRate = 16000
    ec.medConfig.sndClockRate = 16000
    ec.medConfig.ecTailLen = 0
    ec.medConfig.noVad = True
    ep.libInit(ec)
    tc = pj.TransportConfig()
    tc.port = 0
    tc.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.audDevManager().setNullDev()
    ep.libStart()
    ep.codecSetPriority("PCMU/8000", 255)
    media.start(ep)

    acfg = pj.AccountConfig()
    acfg.idUri = "sip:rep@127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)
    call = Call(acc, media)
    prm = pj.CallOpParam(True)
    prm.opt.audioCount = 1
    prm.opt.videoCount = 0
    call.makeCall(args.uri, prm)

    t0 = time.monotonic()
    cpu0 = None
    t_active = 0.0
    muted = False
    while time.monotonic() - t0 < args.seconds + 10:
        ep.libHandleEvents(10)
        if call.active and cpu0 is None:
            cpu0, t_active = cpu_s(), time.monotonic()
            if args.record:
                media.set_recording("c1", True)
        if cpu0 is not None and time.monotonic() - t_active >= args.seconds:
            break
        if (cpu0 is not None and args.mute_after >= 0 and not muted
                and time.monotonic() - t_active >= args.mute_after):
            media.set_mute("c1", True)
            muted = True
            out(event="muted", t=time.time())
    wall = time.monotonic() - t_active if cpu0 is not None else 0.0
    cpu = cpu_s() - cpu0 if cpu0 is not None else 0.0
    quality = media.record_quality("c1", call, call.med_idx) if call.active else {}
    stats = media.stats("c1")
    out(event="stats", state=call.state, active=call.active, cpu_pct=round(100 * cpu / wall, 2) if wall else None,
        wall_s=round(wall, 1), stats=stats, quality=quality)
    ep.hangupAllCalls()
    t1 = time.monotonic()
    while time.monotonic() - t1 < 0.5:
        ep.libHandleEvents(10)
    media.stop()
    del call
    acc.shutdown()
    del acc
    ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)    # hung up and drained above: skip pjsua's fixed 1 s wait
    out(event="done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
