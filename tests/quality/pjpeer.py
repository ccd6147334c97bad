"""A pjsua2 user agent configured exactly as the engine's media is (softphone.sip.mediacfg), for checking
those settings on their own (own process: one Endpoint per process). Null sound device; the call's audio
runs through pjsua's conference bridge to it, so the stream decodes and its jitter buffer works as in a call.

    python tests/quality/pjpeer.py dial URI SECONDS      one call; prints media, counters, done
    python tests/quality/pjpeer.py answer SECONDS        prints ready (port), answers one call for SECONDS

One JSON object per line on stdout. All pjsua2 calls happen on the main thread, which pumps events.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pjsua2 as pj

from softphone.sip import mediacfg


def out(**kw: Any) -> None:
    print(json.dumps(kw), flush=True)


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, acc: Any, ep: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.ep = ep
        self.med_idx = -1
        self.state = ""

    def onCallState(self, prm: Any) -> None:
        self.state = str(self.getInfo().stateText)

    def onCallSdpCreated(self, prm: Any) -> None:
        mediacfg.prefer_wideband_answer(prm)

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.med_idx = i
                aud = self.getAudioMedia(i)
                mgr = self.ep.audDevManager()
                aud.startTransmit(mgr.getPlaybackDevMedia())
                mgr.getCaptureDevMedia().startTransmit(aud)
                si = self.getStreamInfo(i)
                out(event="media", codec=f"{si.codecName}/{si.codecClockRate}")


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self, ep: Any) -> None:
        super().__init__()
        self.ep = ep
        self.calls: list[Call] = []

    def onIncomingCall(self, prm: Any) -> None:
        call = Call(self, self.ep, prm.callId)
        self.calls.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


def report(acc: Account) -> None:
    """In its own frame so that no local keeps a Call alive past ``libDestroy`` (pjsua asserts)."""
    for c in acc.calls:
        if c.med_idx >= 0:
            out(event="counters", counters=mediacfg.stream_counters(c, c.med_idx),
                rtcp_xr="XR" in c.dump(True, ""))


def main() -> int:
    mode, rest = sys.argv[1], sys.argv[2:]
    seconds = float(rest[-1])
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    mediacfg.configure_endpoint(cfg.medConfig)
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port = 0
    tc.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.audDevManager().setNullDev()
    ep.libStart()
    mediacfg.configure_codecs(ep)
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:peer@127.0.0.1"
    mediacfg.configure_account(acfg)
    acc = Account(ep)
    acc.create(acfg)
    if mode == "dial":
        acc.calls.append(Call(acc, ep))     # no local name: a Call must not outlive libDestroy
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        acc.calls[0].makeCall(rest[0], prm)
    else:
        out(event="ready", port=int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[1]))
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds + 15:
        ep.libHandleEvents(10)
        if any(c.med_idx >= 0 for c in acc.calls) and time.monotonic() - t0 >= seconds:
            break
    report(acc)
    ep.hangupAllCalls()
    t1 = time.monotonic()
    while time.monotonic() - t1 < 0.5:
        ep.libHandleEvents(10)
    acc.calls.clear()
    acc.shutdown()
    del acc
    ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)    # hung up and drained above: skip pjsua's fixed 1 s wait
    out(event="done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
