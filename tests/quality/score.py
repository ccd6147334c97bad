"""ITU-T P.862 PESQ of what reached the speaker against the speech that was played into the microphone.

The microphone plays :func:`tests.quality.speech.speech_loop` in a loop; the speaker's recording holds copies
of it delayed by the round trip (which drifts a little as jitter buffers adapt). Each window of the loop (two
sentences) is found in the recording by normalised cross-correlation, and every complete copy is scored
against the original: narrowband (P.862 + P.862.1) for G.711, wideband (P.862.2) for G.722.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.quality.speech import RATE

MIN_MATCH = 0.4   # envelope correlation below this: not the speech that was sent (unrelated speech or noise: ~0.1)


class NoSpeechHeard(AssertionError):
    """The recording does not contain the speech the microphone played (no audio, or only noise)."""


@dataclass
class Score:
    mos: float                 # mean MOS-LQO over the windows
    windows: list[float]       # each window's MOS-LQO
    match: float               # lowest normalised correlation of a scored window (1.0 = identical shape)
    lag_ms: list[float]        # where each window was found, relative to the first (drift of the delay)


def _quiet_cut(x: np.ndarray, around: int, span: int) -> int:
    """The quietest 20 ms position within ``span`` samples of ``around`` (a pause between sentences)."""
    e = np.convolve(np.abs(x.astype(np.float64)), np.ones(320), mode="same")
    lo, hi = max(0, around - span), min(len(x), around + span)
    return lo + int(np.argmin(e[lo:hi]))


def loop_windows(x: np.ndarray) -> list[tuple[int, int]]:
    mid = _quiet_cut(x, len(x) // 2, int(2.5 * RATE))
    return [(0, mid), (mid, len(x))]


def _ncc(h: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation (means removed) of ``r`` against every position of ``h`` (FFT)."""
    r = r - r.mean()
    n = len(h) + len(r)
    size = 1 << (n - 1).bit_length()
    c = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(r, size)), size)[: len(h) - len(r) + 1]
    s1 = np.concatenate(([0.0], np.cumsum(h)))
    s2 = np.concatenate(([0.0], np.cumsum(h * h)))
    m = len(r)
    var = (s2[m:] - s2[:-m]) - (s1[m:] - s1[:-m]) ** 2 / m
    denom = np.sqrt(np.maximum(var, 1e-9) * float(np.dot(r, r)))
    return np.asarray(c / denom)


def envelope(x: np.ndarray) -> np.ndarray:
    """|x| smoothed over 10 ms, one value per millisecond: insensitive to the sample-level wander of a delay
    that clock steering and jitter buffers move, sensitive to where the words are."""
    e = np.convolve(np.abs(x.astype(np.float64)), np.ones(160) / 160, mode="same")
    return np.asarray(e[::ENV_STEP])


ENV_STEP = RATE // 1000


def score(loop: np.ndarray, heard: np.ndarray, mode: str) -> Score:
    """Score every complete copy of each loop window in ``heard`` (int16, 16 kHz). ``mode``: 'nb' or 'wb'.

    The loop's phase in the recording is found once over the whole recording (envelopes, so a delay that
    wanders by a few samples does not matter); each copy of a window is then looked for within 250 ms of where
    that phase puts it, so a stretch of garbage cannot pass for speech found somewhere else."""
    from pesq import pesq

    h = heard.astype(np.float64)
    x = loop.astype(np.float64)
    he, le = envelope(h), envelope(x)
    period = len(le)
    if len(he) < 2 * ENV_STEP * 100:
        raise NoSpeechHeard("the speaker's recording is too short to hold speech")
    tiled = np.tile(le, len(he) // period + 2)
    phase_c = _ncc(tiled, he)[:period]
    phase = int(np.argmax(phase_c))                 # heard[0] is loop[phase] (in envelope steps)
    if phase_c[phase] < MIN_MATCH:
        raise NoSpeechHeard(f"the speaker's recording holds no copy of the speech played into the microphone "
                            f"(best envelope correlation {phase_c[phase]:.2f})")
    slack = 250                                     # ms: how far the delay may have wandered
    found: list[tuple[int, float, float]] = []      # (position in samples, match, mos)
    for a, b in loop_windows(loop):
        r = x[a:b]
        re = envelope(r)
        if len(he) <= len(re):
            continue
        c = _ncc(he, re)
        pos = (a // ENV_STEP - phase) % period
        while pos - slack < len(c):
            lo, hi = max(0, pos - slack), min(len(c), pos + slack)
            if lo < hi:
                q = lo + int(np.argmax(c[lo:hi]))
                if c[q] >= MIN_MATCH:
                    p = _fine(h, r, q * ENV_STEP)
                    if p + len(r) <= len(h):
                        deg = np.clip(h[p:p + len(r)], -32768, 32767).astype(np.int16)
                        mos = float(pesq(RATE, r.astype(np.int16), deg, mode))
                        found.append((p - a, float(c[q]), mos))
            pos += period
    if not found:
        raise NoSpeechHeard("the speaker's recording holds no complete copy of the speech played into the "
                            "microphone")
    found.sort()
    first = found[0][0]
    return Score(mos=round(float(np.mean([f[2] for f in found])), 3), windows=[round(f[2], 3) for f in found],
                 match=round(min(f[1] for f in found), 3),
                 lag_ms=[round(_wrap(f[0] - first, len(x)) / RATE * 1000, 1) for f in found])


def _fine(h: np.ndarray, r: np.ndarray, p: int, span: int = 2 * ENV_STEP) -> int:
    """The sample offset near ``p`` where the waveforms line up best."""
    lo = max(0, p - span)
    seg = h[lo:p + span + len(r)]
    if len(seg) < len(r):
        return p
    return lo + int(np.argmax(_ncc(seg, r)))


def _wrap(d: int, period: int) -> int:
    return d - round(d / period) * period
