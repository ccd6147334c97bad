"""pjmedia settings of the endpoint: clock, resampling, jitter buffer, codec preferences, loss concealment.

One place for what decides how a call sounds, so the voice-quality work tunes it here and the engine only calls
it: :func:`configure_endpoint` before ``libInit``, :func:`configure_codecs` after ``libStart``,
:func:`configure_account` on each account's ``AccountConfig``, :func:`prefer_wideband_answer` from
``Call.onCallSdpCreated`` and :func:`stream_counters` while a call's stream exists. Every value here was
chosen by measuring MOS-LQO (ITU-T P.862) of real calls under loss and jitter: ``bench/voice_quality.py``.

``SOFTPHONE_MEDIA_TUNING`` overrides the settings for such measurements (``defaults`` = pjsua's own, or
``jb_init_ms=60,jb_discard=1,...``): never needed in use.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from softphone.audio.quality import stat_counters

log = logging.getLogger(__name__)

# pjmedia_jb_discard_algo
DISCARD_NONE, DISCARD_STATIC, DISCARD_PROGRESSIVE = 0, 1, 2


@dataclass(frozen=True)
class Tuning:
    """What pjmedia is told. Jitter-buffer figures are milliseconds, -1 = pjmedia's own default."""

    jb_init_ms: int = -1          # prefetch before the first frame plays
    jb_min_pre_ms: int = -1       # the adaptive prefetch never goes below this ...
    jb_max_pre_ms: int = -1       # ... nor above this
    jb_max_ms: int = -1           # frames beyond this are dropped
    jb_discard: int = DISCARD_PROGRESSIVE
    resample_quality: int = 4     # the conference bridge's resampler (G.711 runs at 8 kHz on a 16 kHz bridge)
    codec_order: tuple[str, ...] = ()   # codec ids, most preferred first; the rest keep pjsua's order below them
    plc: bool = True              # packet-loss concealment in the decoders that have it (G.711, G.722)
    rtcp_xr: bool = True          # RTCP extended reports (RFC 3611) where this pjmedia build has them
    g722_pcm_shift: int = -1      # bits pjmedia's G.722 drops on encode and adds on decode; -1 = its default (2)


PJSUA_DEFAULTS = Tuning()
# Jitter buffer: pjmedia's adaptive buffer starts empty (no prefetch), so every late or lost packet that finds
# it dry makes it re-buffer, and its discard algorithms then cut frames to win the delay back: both are jumps in
# time that listeners hear (and PESQ scores) as clicks and skips. Measured best: 80 ms prefetch from the first
# packet and after a dry spell, no discarding (40 ± 20 ms of jitter then costs nothing and jitter + 3 % loss
# scores as 3 % loss alone), and a 300 ms ceiling that bounds the delay a fast-clocked far end could build up.
# G.722 level: with pjmedia's default shift of 2 a call with a spandsp-based G.722 (baresip, Asterisk, FreeSWITCH)
# is 6 dB too quiet one way and 6 dB too loud the other, and the two bits it drops cost wideband quality; a
# shift of 1 is level-true both ways against baresip (measured with a tone).
TUNED = Tuning(jb_init_ms=80, jb_min_pre_ms=80, jb_max_ms=300, jb_discard=DISCARD_NONE,
               codec_order=("G722/16000/1", "PCMU/8000/1", "PCMA/8000/1"), g722_pcm_shift=1)

TUNING_ENV = "SOFTPHONE_MEDIA_TUNING"


def tuning_from_env(value: str | None) -> Tuning:
    """``TUNED``, or what ``SOFTPHONE_MEDIA_TUNING`` says; a bad item is logged and ignored, never fatal."""
    if not value:
        return TUNED
    base = TUNED
    items = [i.strip() for i in value.split(",") if i.strip()]
    if items and items[0] == "defaults":
        base, items = PJSUA_DEFAULTS, items[1:]
    changes: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Tuning)}
    for item in items:
        key, _, raw = item.partition("=")
        try:
            if key not in fields:
                raise KeyError(key)
            if key == "codec_order":
                changes[key] = tuple(c for c in raw.split("+") if c)
            elif key in ("plc", "rtcp_xr"):
                changes[key] = raw.lower() in ("1", "true", "on", "yes")
            else:
                changes[key] = int(raw)
        except (KeyError, ValueError):
            log.warning("%s: ignoring %r", TUNING_ENV, item)
    return dataclasses.replace(base, **changes)


def current() -> Tuning:
    return tuning_from_env(os.environ.get(TUNING_ENV))


def configure_endpoint(med: Any, tuning: Tuning | None = None) -> None:
    """Fill ``med`` (a ``pjsua2.MediaConfig``) before ``libInit``."""
    t = tuning or current()
    med.clockRate = 16000
    med.sndClockRate = 16000
    med.ecTailLen = 0  # no sound device here: echo cancelling is done in the audio bridge
    med.noVad = True
    med.quality = t.resample_quality
    # RTP shares the SIP endpoint's ioqueue: the SIP worker polls both (an ioqueue and thread of their own add
    # a second poll loop for nothing)
    med.hasIoqueue = False
    med.threadCnt = 0
    med.jbInit = t.jb_init_ms
    med.jbMinPre = t.jb_min_pre_ms
    med.jbMaxPre = t.jb_max_pre_ms
    med.jbMax = t.jb_max_ms
    _set_discard_algo(med, t.jb_discard)


def _set_discard_algo(med: Any, algo: int) -> None:
    """pjsua2's SWIG wrapper has no type for ``pjmedia_jb_discard_algo`` (the attribute is an opaque
    pointer), but its JSON persistence reads it as a number: round-trip the config through that."""
    import pjsua2 as pj

    doc = pj.JsonDocument()
    doc.writeObject(med)
    text, n = re.subn(r'("jbDiscardAlgo"\s*:\s*)-?\d+', rf"\g<1>{int(algo)}", doc.saveString())
    if n != 1:
        log.warning("cannot set the jitter buffer's discard algorithm (no jbDiscardAlgo in %s)", type(med).__name__)
        return
    back = pj.JsonDocument()
    back.loadString(text)
    back.readObject(med)


def configure_codecs(ep: Any, tuning: Tuning | None = None) -> None:
    """Codec order and loss concealment, after ``libStart`` (pjsua2 knows its codecs only then).

    Order: G.722 (wideband, same bit rate as G.711) first, then G.711 µ-law and A-law, then the rest in pjsua's
    order; pjsua itself would offer Speex first."""
    t = tuning or current()
    known = {str(c.codecId): int(c.priority) for c in ep.codecEnum2()}
    for rank, codec in enumerate(t.codec_order):
        if codec in known:
            ep.codecSetPriority(codec, 255 - rank)
    lower = 255 - len(t.codec_order)
    if t.codec_order:
        for codec, prio in known.items():
            if codec not in t.codec_order and prio > 0:
                ep.codecSetPriority(codec, min(prio, lower - 1))
    for codec in ("G722/16000/1", "PCMU/8000/1", "PCMA/8000/1"):
        if codec not in known:
            continue
        prm = ep.codecGetParam(codec)
        if bool(prm.setting.plc) != t.plc:
            prm.setting.plc = t.plc
            ep.codecSetParam(codec, prm)
    if t.g722_pcm_shift >= 0 and "G722/16000/1" in known:
        set_g722_pcm_shift(t.g722_pcm_shift)


def set_g722_pcm_shift(bits: int) -> bool:
    """``pjmedia_codec_g722_set_pcm_shift`` is public pjmedia API that pjsua2's wrapper leaves out; the
    wheel's extension module exports it, so call it there. False (logged) where a build does not export it:
    calls then keep pjmedia's default."""
    import ctypes

    import pjsua2 as pj

    try:
        fn = ctypes.CDLL(pj._pjsua2.__file__).pjmedia_codec_g722_set_pcm_shift
    except (AttributeError, OSError) as exc:
        log.info("G.722 level stays at pjmedia's default (%s)", exc)
        return False
    fn.argtypes = [ctypes.c_uint]
    fn.restype = ctypes.c_int
    status = int(fn(bits))
    if status != 0:
        log.warning("pjmedia_codec_g722_set_pcm_shift(%d) failed: %d", bits, status)
    return status == 0


def configure_account(acc_cfg: Any, tuning: Tuning | None = None) -> None:
    """Per-account media settings (a ``pjsua2.AccountConfig``), before ``Account.create``/``modify``."""
    t = tuning or current()
    acc_cfg.mediaConfig.rtcpXrEnabled = t.rtcp_xr


# ------------------------------------------------------------------ answering with wideband

_AUDIO_M = re.compile(r"^m=audio +\d+ +\S+((?: +\d+)*)\s*$", re.MULTILINE)


def _audio_formats(sdp: str) -> list[str]:
    m = _AUDIO_M.search(sdp)
    return m.group(1).split() if m else []


def _rtpmap(sdp: str) -> dict[str, str]:
    return {pt: name.upper() for pt, name in re.findall(r"^a=rtpmap: *(\d+) +([^/\s]+)", sdp, re.MULTILINE)}


def _is_g722(pt: str, rtpmap: dict[str, str]) -> bool:
    return rtpmap.get(pt, "G722" if pt == "9" else "") == "G722"


def wideband_answer(local: str, remote: str) -> str | None:
    """Our SDP answer cut down to G.722 (plus telephone-event) when the offer has G.722 and so do we; None
    when nothing changes. pjmedia answers in the offerer's codec order, so a far end listing G.711 first would
    get G.711 even though it can do wideband: leaving out our narrowband codecs lets it choose only G.722."""
    if not remote.strip():
        return None   # we are the offerer: our codec order already puts G.722 first
    r_map, l_map = _rtpmap(remote), _rtpmap(local)
    if not any(_is_g722(pt, r_map) for pt in _audio_formats(remote)):
        return None
    fmts = _audio_formats(local)
    keep = [pt for pt in fmts if _is_g722(pt, l_map) or l_map.get(pt) == "TELEPHONE-EVENT"]
    if not any(_is_g722(pt, l_map) for pt in keep) or keep == fmts:
        return None
    drop = set(fmts) - set(keep)
    out: list[str] = []
    for line in local.splitlines():
        m = _AUDIO_M.match(line)
        if m:
            out.append(line[: m.start(1)] + " " + " ".join(keep))
            continue
        attr = re.match(r"^a=(?:rtpmap|fmtp|rtcp-fb): *(\d+)", line)
        if attr is None or attr.group(1) not in drop:
            out.append(line)
    return "\r\n".join(out) + "\r\n"


def prefer_wideband_answer(prm: Any) -> None:
    """From ``Call.onCallSdpCreated(prm)``: apply :func:`wideband_answer` to the SDP pjsua is about to send."""
    new = wideband_answer(str(prm.sdp.wholeSdp), str(prm.remSdp.wholeSdp))
    if new is not None:
        prm.sdp.wholeSdp = new


# ------------------------------------------------------------------ counters for the call's quality stats

def stream_counters(call: Any, med_idx: int) -> dict[str, Any]:
    """:func:`softphone.audio.quality.stat_counters` of one live audio stream of ``call`` (on the pjsua2
    thread while the stream exists); {} when it is gone."""
    try:
        ss = call.getStreamStat(med_idx)
    except Exception:
        return {}
    return stat_counters(ss)
