"""Garbage RTP from a far end, as a relay mangler (see :class:`tests.quality.netimpair.Relay`): for a stretch of
the call every packet towards the phone is replaced by (or joined with) one of the ways real RTP goes wrong,
then the far end behaves again and the phone must carry speech as before."""

from __future__ import annotations

import random
import struct

KINDS = ("wrong_pt", "huge", "jumbo", "ssrc_flip", "ssrc_change", "ts_jump", "seq_jump", "runt", "header_only",
         "version", "csrc_overrun", "ext_overrun", "pad_overrun", "noise")


def _hdr(pkt: bytes) -> tuple[int, int, int, int, int]:
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", pkt)
    return b0, b1, seq, ts, ssrc


def corrupt(kind: str, pkt: bytes, rng: random.Random) -> list[bytes]:
    """The packets that go out instead of ``pkt`` (an RTP packet from the echo peer)."""
    if len(pkt) < 12:
        return [pkt]
    b0, b1, seq, ts, ssrc = _hdr(pkt)
    body = pkt[12:]

    def rtp(b0_: int = b0, b1_: int = b1, seq_: int = seq, ts_: int = ts, ssrc_: int = ssrc,
            payload: bytes = body) -> bytes:
        return struct.pack("!BBHII", b0_, b1_, seq_ & 0xFFFF, ts_ & 0xFFFFFFFF, ssrc_) + payload

    if kind == "wrong_pt":
        return [rtp(b1_=(b1 & 0x80) | 96)]
    if kind == "huge":                              # a full-MTU packet of the right codec: 1448 samples at once
        return [rtp(payload=(body * 20)[:1448])]
    if kind == "jumbo":                             # bigger than any MTU (IP fragments on a real network)
        return [rtp(payload=bytes(rng.getrandbits(8) for _ in range(9000)))]
    if kind == "ssrc_flip":                         # two sources interleaved
        return [rtp(ssrc_=ssrc ^ 0x5A5A5A5A, seq_=seq + 1000, ts_=ts + 77777), pkt]
    if kind == "ssrc_change":                       # a new source for good (until the stretch ends)
        return [rtp(ssrc_=0xDEADBEEF)]
    if kind == "ts_jump":
        return [rtp(ts_=ts + 1_000_000_000)]
    if kind == "seq_jump":
        return [rtp(seq_=seq + 30000)]
    if kind == "runt":
        return [pkt[:5]]
    if kind == "header_only":
        return [pkt[:12]]
    if kind == "version":
        return [rtp(b0_=(b0 & 0x3F) | 0x40)]      # RTP version 1
    if kind == "csrc_overrun":                      # 15 CSRCs announced, none there
        return [rtp(b0_=(b0 & 0xF0) | 0x0F, payload=body[:8])]
    if kind == "ext_overrun":                       # extension header claiming 65535 words
        return [rtp(b0_=b0 | 0x10, payload=b"\xbe\xde\xff\xff" + body[:16])]
    if kind == "pad_overrun":                       # padding longer than the packet
        return [rtp(b0_=b0 | 0x20, payload=body[:-1] + b"\xff")]
    if kind == "noise":
        return [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 400)))]
    raise ValueError(kind)


class GarbageStretch:
    """A mangler: packets ``start`` ... ``end`` (counted from the first the far end sends back) are garbage,
    each kind in turn for ``per_kind`` packets; before and after, the far end is well behaved."""

    def __init__(self, start: int, per_kind: int = 20, seed: int = 16) -> None:
        self.start = start
        self.per_kind = per_kind
        self.end = start + per_kind * len(KINDS)
        self.rng = random.Random(seed)
        self.sent: dict[str, int] = {}

    def __call__(self, n: int, pkt: bytes) -> list[bytes]:
        if not self.start <= n < self.end:
            return [pkt]
        kind = KINDS[(n - self.start) // self.per_kind]
        self.sent[kind] = self.sent.get(kind, 0) + 1
        return corrupt(kind, pkt, self.rng)
