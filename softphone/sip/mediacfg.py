"""pjmedia settings of the endpoint: clock, resampling, jitter buffer, codec preferences.

One place for what decides how a call sounds, so the voice-quality work tunes it here and the engine only
calls it.
"""

from __future__ import annotations

from typing import Any


def configure_endpoint(med: Any) -> None:
    """Fill ``med`` (a ``pjsua2.MediaConfig``) before ``libInit``."""
    med.clockRate = 16000
    med.sndClockRate = 16000
    med.ecTailLen = 0  # no sound device here: echo cancelling is done in the audio bridge
    med.noVad = True
    # pjmedia's small resampling filter for 8 kHz codecs on the 16 kHz bridge (the large one costs CPU for
    # no audible difference on narrowband speech)
    med.quality = 4
    # RTP shares the SIP endpoint's ioqueue: the SIP worker polls both (an ioqueue and thread of their own add
    # a second poll loop for nothing)
    med.hasIoqueue = False
    med.threadCnt = 0


def configure_codecs(ep: Any) -> None:
    """Codec priorities after ``libStart`` (pjsua2 knows its codecs only then). Defaults for now."""
    return None
