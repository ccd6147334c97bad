"""Echo cancellation and noise suppression on the microphone path.

pjmedia's canceller sits on its sound port, which the null device never creates, so it is ours to do.
The engine is WebRTC's audio processing module (AEC3 + NS + high-pass) through the ``pywebrtc-audio``
wheel (Apache-2.0, prebuilt for Linux/macOS/Windows, releases the GIL). ``speexdsp``/``webrtc-audio-
processing``/``aec-audio-processing`` on PyPI are sdists that need a compiler and system headers, and
``webrtc-noise-gain`` has no canceller. When the wheel is missing, :func:`make_processor` returns None and
the reason, and audio flows unprocessed.

AEC3 estimates the echo path delay itself; ``stream_delay_ms`` is only the starting hint (our ring
buffers plus the device buffers).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Samples = npt.NDArray[np.int16]


class MicProcessor:
    """Not thread-safe: used from pjmedia's clock thread only."""

    def __init__(self, apm: Any, aec: bool, ns: bool) -> None:
        self._apm = apm
        self.aec = aec
        self.ns = ns

    def process(self, near: Samples, far: Samples) -> Samples:
        out: Samples = self._apm.process(near, far if self.aec else None)
        return out

    def reset(self) -> None:
        self._apm.reset()


def make_processor(aec: bool, ns: bool, rate: int = 16000,
                   delay_ms: int = 60) -> tuple[MicProcessor | None, str]:
    if not (aec or ns):
        return None, "off"
    try:
        mod = importlib.import_module("pywebrtc_audio")
    except ImportError:
        return None, "pywebrtc-audio is not installed (pip install pywebrtc-audio): no echo cancellation"
    try:
        apm = mod.AudioProcessor(sample_rate=rate, num_channels=1, echo_cancellation=aec,
                                 noise_suppression=ns, high_pass_filter=True, ns_level=1,
                                 stream_delay_ms=delay_ms)
    except Exception as exc:
        return None, f"WebRTC audio processing failed to start: {exc}"
    what = " + ".join(x for x, on in (("AEC3", aec), ("noise suppression", ns)) if on)
    return MicProcessor(apm, aec, ns), f"WebRTC {what}"
