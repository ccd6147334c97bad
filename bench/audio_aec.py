"""Echo cancellation and noise suppression on the microphone path, measured offline on a synthetic room:
far-end speech-like signal through a 60 ms-delayed decaying echo path into the microphone, with
near-end talk (double talk) and background noise. Processed 20 ms at a time exactly as the bridge does.
Exits non-zero when the processor cannot start (``pywebrtc-audio`` missing) or hands back no audio at all.

    .venv/bin/python bench/audio_aec.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers_bench import Checks, fail

from softphone.audio.processing import make_processor

RATE = 16000
FRAME = 320


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped into formant-ish bands with a syllabic (4 Hz) on/off envelope."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = rng.standard_normal(n)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1 / RATE)
    shape = np.exp(-((f - 500) / 300) ** 2) + 0.6 * np.exp(-((f - 1500) / 400) ** 2) + 0.3 * np.exp(
        -((f - 2500) / 500) ** 2)
    y = np.fft.irfft(spec * shape, n)
    env = (np.sin(2 * np.pi * 4 * np.arange(n) / RATE) > -0.2).astype(float)
    env = np.convolve(env, np.ones(160) / 160, mode="same")
    y = y * env
    return y / np.sqrt(np.mean(y ** 2)) * 32768 * 10 ** (-20 / 20)


def db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(x.astype(float) ** 2) + 1e-9))


def main() -> None:
    secs = 20.0
    n = int(secs * RATE)
    far = speechlike(secs, 1)
    ir = np.zeros(int(0.25 * RATE))
    d0 = int(0.06 * RATE)
    rng = np.random.default_rng(3)
    tail = rng.standard_normal(len(ir) - d0) * np.exp(-np.arange(len(ir) - d0) / (0.03 * RATE))
    ir[d0:] = tail / np.sqrt(np.sum(tail ** 2)) * 10 ** (-6 / 20)   # echo 6 dB below the far end
    echo = np.convolve(far, ir)[:n]
    near = speechlike(secs, 2) * 0.7
    near[: int(12 * RATE)] = 0                                      # 0-12 s far only, 12-20 s double talk
    noise = rng.standard_normal(n) * 32768 * 10 ** (-50 / 20)       # -50 dBFS room noise
    mic = np.clip(echo + near + noise, -32768, 32767).astype(np.int16)
    far16 = np.clip(far, -32768, 32767).astype(np.int16)

    checks = Checks("audio_aec")
    for aec, ns in ((True, True), (True, False), (False, True)):
        proc, what = make_processor(aec, ns, RATE)
        if proc is None:
            raise fail("audio_aec", what)
        out = np.zeros(n, np.int16)
        t0 = time.process_time()
        for i in range(0, n - FRAME + 1, FRAME):
            out[i:i + FRAME] = proc.process(mic[i:i + FRAME], far16[i:i + FRAME])
        cpu = (time.process_time() - t0) / (n / FRAME) * 1e6
        a, b = int(4 * RATE), int(12 * RATE)                        # after 4 s of convergence
        erle = db(mic[a:b]) - db(out[a:b])
        dt = slice(int(14 * RATE), n)
        # near-end kept in double talk: output level against the clean near-end level (0 dB = all kept)
        keep = db(out[dt]) - db(near[dt])
        silence = slice(int(11.7 * RATE), int(12 * RATE))
        print(f"{what:<40} echo return loss enhancement (far-only, after 4 s) {erle:5.1f} dB; "
              f"near-end level in double talk {keep:+.1f} dB; residual in far-only {db(out[silence]) - 90.3:6.1f}"
              f" dBFS; {cpu:.0f} µs CPU per 20 ms frame")
        checks.expect(np.any(out[dt]), f"{what}: no audio came out in double talk (the near end was lost)")
    checks.finish()


if __name__ == "__main__":
    main()
