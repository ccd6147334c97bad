"""Per-call quality figures from pjsua2 stream statistics, with an E-model (ITU-T G.107, simplified)
estimate of MOS. :func:`estimate_mos` and :func:`summarize` are pure; :func:`read_stream` is the thin
adapter that reads a live ``pjsua2.Call`` (on the pjsua2 thread, while the stream exists: call it from
``Call.onStreamDestroyed`` and whenever status is asked).
"""

from __future__ import annotations

from typing import Any

# Equipment impairment Ie and packet-loss robustness Bpl (G.113 appendix I; with PLC where pjmedia has it)
CODEC_IMPAIRMENT: dict[str, tuple[float, float]] = {
    "PCMU": (0.0, 25.1), "PCMA": (0.0, 25.1), "G722": (0.0, 25.1), "L16": (0.0, 25.1),
    "GSM": (20.0, 43.0), "ILBC": (11.0, 32.0), "SPEEX": (11.0, 30.0),
}
CODEC_DELAY_MS: dict[str, float] = {"PCMU": 0.0, "PCMA": 0.0, "G722": 2.0, "GSM": 20.0, "ILBC": 30.0, "SPEEX": 20.0}


def estimate_mos(codec: str, loss_pct: float, one_way_delay_ms: float) -> float:
    """MOS-CQE from the E-model: R = 93.2 - Id - Ie,eff, then the G.107 R→MOS mapping (1.0 ... 4.5)."""
    name = codec.split("/", maxsplit=1)[0].upper()
    ie, bpl = CODEC_IMPAIRMENT.get(name, (10.0, 25.0))
    ppl = max(0.0, min(100.0, loss_pct))
    ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl)
    d = max(0.0, one_way_delay_ms)
    idd = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    r = 93.2 - idd - ie_eff
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return round(1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r), 2)


def summarize(codec: str, rx_pkts: int, rx_loss: int, jitter_ms: float, rtt_ms: float | None,
              jbuf_delay_ms: float, bridge_ms: float = 0.0) -> dict[str, Any]:
    total = rx_pkts + rx_loss
    loss_pct = 100.0 * rx_loss / total if total else 0.0
    name = codec.split("/", maxsplit=1)[0].upper()
    delay = (rtt_ms or 0.0) / 2 + jbuf_delay_ms + CODEC_DELAY_MS.get(name, 10.0) + 20.0 + bridge_ms
    return {
        "codec": codec,
        "rx_packets": rx_pkts,
        "loss_pct": round(loss_pct, 2),
        "jitter_ms": round(jitter_ms, 1),
        "rtt_ms": None if rtt_ms is None else round(rtt_ms, 1),
        "mos": estimate_mos(codec, loss_pct, delay),
    }


def read_stream(call: Any, med_idx: int, bridge_ms: float = 0.0) -> dict[str, Any]:
    """Quality figures of one live audio stream of a ``pjsua2.Call``; {} when the stream is gone."""
    try:
        si = call.getStreamInfo(med_idx)
        ss = call.getStreamStat(med_idx)
    except Exception:
        return {}
    rx = ss.rtcp.rxStat
    rtt = ss.rtcp.rttUsec
    rtt_ms = rtt.mean / 1000.0 if rtt.n > 0 else None
    jit = rx.jitterUsec
    jitter_ms = (jit.mean if jit.n > 0 else 0) / 1000.0
    q = summarize(f"{si.codecName}/{si.codecClockRate}", int(rx.pkt), int(rx.loss), jitter_ms, rtt_ms,
                  float(ss.jbuf.avgDelayMsec), bridge_ms)
    q.update(stat_counters(ss))
    return q


def stat_counters(ss: Any) -> dict[str, int]:
    """What pjmedia counted of an audio stream (a ``pjsua2.StreamStat``) beyond loss and jitter: packets it
    threw away (wrong payload type, undecodable, SSRC probation), duplicates, reordering, and what the jitter
    buffer had to do. They say what a misbehaving far end did to a call (garbage RTP leaves its trace here)."""
    rx = ss.rtcp.rxStat
    jb = ss.jbuf
    return {
        "rx_discarded": int(rx.discard),     # bad payload type / SSRC probation / undecodable
        "rx_duplicates": int(rx.dup),
        "rx_reordered": int(rx.reorder),
        "rx_lost": int(rx.loss),
        "jb_lost_frames": int(jb.lost),      # concealed (PLC) because they never came
        "jb_discarded_frames": int(jb.discard),
        "jb_empty": int(jb.empty),           # the buffer ran dry
        "jb_delay_ms": int(jb.avgDelayMsec),
        "jb_max_delay_ms": int(jb.maxDelayMsec),
    }
