"""Speech through a whole real call scores as speech should (ITU-T P.862 PESQ, narrowband): virtual
microphone → our audio bridge → pjsua2 in ``softphone serve`` → the impairment relay → sipp echoing RTP → back
→ the speaker sink, scored against the original. A correctness check of the path with a floor far below what
it measures (about 4.4 clean and 4.0 with 3 % loss on a quiet machine): a broken resampler, a lost or
doubled frame stream, concealment off or a jitter buffer gone wrong fall through it; a busy machine does not."""

from __future__ import annotations

import pytest

from tests.quality import farend, netimpair, phones
from tests.quality import rig as rigmod

pytestmark = [pytest.mark.integration]

SECONDS = 14.0    # at least one whole copy of a half of the 12 s speech loop: one scored window or more
FLOOR = 3.0


@pytest.mark.parametrize("case", ["clean", "loss3"])
def test_speech_through_a_g711_call_scores_above_the_floor(case: str, rig: rigmod.Rig,
                                                           pcmu_far: farend.EchoFarEnd,
                                                           ours: phones.OurPhone) -> None:
    pcmu_far.set_case(netimpair.CASES[case])
    res = ours.call(pcmu_far.uri, SECONDS, rig.speaker)
    sc = rig.score(res.heard, "nb")
    stats = pcmu_far.relay.stats
    print(f"\n{case}: MOS-LQO {sc.mos} (windows {sc.windows}), relay loss {stats.loss_pct:.1f} %, "
          f"quality {res.info.get('quality')}")
    assert res.codec == "PCMU/8000"
    assert len(sc.windows) >= 1
    if case == "loss3":
        assert 1.5 < stats.loss_pct < 5.0, stats      # the relay really dropped packets on the way back
    else:
        assert stats.dropped == 0
    assert sc.mos >= FLOOR, sc
