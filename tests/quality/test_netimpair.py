"""The impairment relay's decisions (pure): the loss it is asked for, bursts as long as asked, jitter within its
bounds, and the same decisions again for the same seed (so every phone meets the same network)."""

from __future__ import annotations

import pytest

from tests.quality.netimpair import CASES, Impairer, Impairment, rtp_seq

N = 40_000


def run(imp: Impairment) -> list[float | None]:
    im = Impairer(imp)
    return [im.decide() for _ in range(N)]


def bursts(d: list[float | None]) -> list[int]:
    out, run_ = [], 0
    for x in d:
        if x is None:
            run_ += 1
        elif run_:
            out.append(run_)
            run_ = 0
    return out


@pytest.mark.parametrize(("case", "loss", "burst"), [("loss3", 3.0, 1.0), ("burst10", 10.0, 3.0),
                                                      ("jitter_loss3", 3.0, 1.0)])
def test_loss_rate_and_burst_length_are_what_the_case_says(case: str, loss: float, burst: float) -> None:
    d = run(CASES[case])
    assert abs(100 * d.count(None) / N - loss) < 0.25 * loss
    b = bursts(d)
    assert abs(sum(b) / len(b) - burst) < 0.25 * burst


def test_jitter_stays_in_its_band_and_clean_is_clean() -> None:
    d = [x for x in run(CASES["jitter"]) if x is not None]
    assert len(d) == N
    assert 0.020 <= min(d) < 0.021 and 0.059 < max(d) <= 0.060
    assert abs(sum(d) / len(d) - 0.040) < 0.001
    assert set(run(CASES["clean"])) == {0.0}


def test_same_seed_same_network() -> None:
    assert run(CASES["jitter_loss3"]) == run(CASES["jitter_loss3"])
    assert run(CASES["loss3"]) != run(Impairment(loss_pct=3.0, seed=17))


def test_rtp_seq_reads_only_rtp() -> None:
    assert rtp_seq(bytes([0x80, 0, 0x12, 0x34]) + bytes(8)) == 0x1234
    assert rtp_seq(b"\x00" * 12) is None and rtp_seq(b"\x80") is None
