"""Real speech for the voice-quality harness: Harvard sentences (IEEE 1969, public domain) spoken at test time
by flite's ``kal16`` voice, at the active speech level P.862 expects (about -26 dBov).

Why flite kal16 and not espeak-ng: kal16 is a diphone voice, i.e. concatenated pieces of a real recorded talker
at 16 kHz, so PESQ sees natural speech waveforms. espeak-ng's formant synthesis is not natural speech to PESQ:
a perfect G.711 encode/decode of espeak-ng sentences scores only about 4.0 (narrowband), so it could not tell a
4.2 path from a 4.0 one; the same of kal16 scores about 4.4, in line with natural recordings.
Generated, not shipped: no recording with a licence to track, and the same text always gives the same samples.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

RATE = 16000
VOICE = "kal16"
INSTALL = "apt-get install flite (or run `make test`, which installs packaging/apt/quality.txt)"

# PESQ wants 8-12 s of speech with pauses (ITU-T P.862 §8.1.2): four sentences, about 12 s with the pauses.
SENTENCES: tuple[str, ...] = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
)
GAP_S = 0.6           # pause between sentences (and before the first)
TARGET_DBOV = -26.0   # active speech level


def check_tools() -> None:
    if shutil.which("flite") is None:
        raise RuntimeError(f"flite not installed: {INSTALL}")


def _say(text: str, work: Path, n: int) -> np.ndarray:
    path = work / f"s{n}.wav"
    subprocess.run(["flite", "-voice", VOICE, "-t", text, "-o", str(path)], check=True, capture_output=True,
                   timeout=30)
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise RuntimeError(f"flite {VOICE} gave {w.getframerate()} Hz x{w.getnchannels()}: expected 16 kHz mono")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def active_level_dbov(x: np.ndarray) -> float:
    """RMS over the 10 ms frames that carry speech (within 30 dB of the loudest), in dB below full scale."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160).astype(np.float64)
    e = np.sqrt(np.mean(frames ** 2, axis=1))
    if not e.size or e.max() <= 0:
        return -120.0
    active = frames[e > e.max() * 10 ** (-30 / 20)]
    return float(20 * np.log10(np.sqrt(np.mean(active ** 2)) / 32768))


def speech_loop() -> np.ndarray:
    """About 12 s of speech (int16, 16 kHz): the PESQ reference and what the microphone plays in a loop."""
    check_tools()
    gap = np.zeros(int(GAP_S * RATE))
    with tempfile.TemporaryDirectory(prefix="sp-speech-") as d:
        parts: list[np.ndarray] = []
        for i, text in enumerate(SENTENCES):
            parts += [gap, _say(text, Path(d), i)]
        parts.append(gap)
    x = np.concatenate(parts)
    gain = 10 ** ((TARGET_DBOV - active_level_dbov(x)) / 20)
    return np.clip(np.round(x * gain), -32768, 32767).astype(np.int16)
