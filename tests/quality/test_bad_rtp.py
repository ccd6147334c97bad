"""A far end that sends garbage RTP (wrong payload type, oversized packets, SSRC changes, timestamp and
sequence jumps, truncated and malformed headers, noise) to a real ``softphone serve`` in a call: the engine
does not crash, the call stays up, and once the far end behaves again the rep hears speech as before."""

from __future__ import annotations

import time

import pytest

from tests.quality import badrtp, farend, netimpair, phones
from tests.quality import rig as rigmod
from tests.quality.speech import RATE

pytestmark = [pytest.mark.integration]

COUNTERS = ("rx_discarded", "jb_discarded_frames", "jb_lost_frames")


def test_garbage_rtp_neither_crashes_nor_sticks_the_audio(rig: rigmod.Rig, pcmu_far: farend.EchoFarEnd,
                                                          ours: phones.OurPhone) -> None:
    garbage = badrtp.GarbageStretch(start=100, per_kind=20)      # from 2 s into the call, 5.6 s of garbage
    ended: list[float] = []

    def mangle(n: int, pkt: bytes) -> list[bytes]:
        if n == garbage.end:
            ended.append(time.monotonic())
        return garbage(n, pkt)

    pcmu_far.set_case(netimpair.CASES["clean"], mangle)
    res = ours.call(pcmu_far.uri, 18.0, rig.speaker)             # raises if the call did not stay up
    pcmu_far.set_case(netimpair.CASES["clean"])
    assert ours.eng.proc is not None and ours.eng.proc.poll() is None, "the engine died"
    assert set(garbage.sent) == set(badrtp.KINDS), garbage.sent
    assert ended, "the garbage stretch never ended (the far end stopped sending?)"
    after = res.heard[int((ended[0] - res.info["started"] + 1.0) * RATE):]
    assert len(after) > 8 * RATE
    sc = rig.score(after, "nb")                                  # NoSpeechHeard if the audio stuck
    q = res.info["quality"]
    print(f"\nafter the garbage: MOS-LQO {sc.mos} {sc.windows}; quality {q}")
    assert sc.mos >= 3.0, sc
    assert q.get("rx_packets", 0) > 600, q
    assert all(k in q for k in COUNTERS), q                     # the call's quality stats (history) say so
    assert q["rx_discarded"] > 0, q
