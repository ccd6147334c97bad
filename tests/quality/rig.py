"""The measuring rig shared by the voice-quality test and bench: the private PulseAudio daemon of
:mod:`tests.audio.harness`, its microphone playing the speech loop, the speaker's monitor recorded, and
the scoring of one call."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tests.audio import harness
from tests.quality import score, speech


class SpeechFeeder:
    """Plays the speech loop into the microphone's sink without end. Unlike the harness's tone feeder it asks
    for 200 ms of buffering: a starved ``pacat`` on a busy machine would put gaps into the microphone that the
    score would then blame on the phone (the latency of the feed itself is not measured)."""

    def __init__(self, daemon: harness.PulseDaemon, pcm: bytes, sink: str = "micfeed") -> None:
        self.proc = subprocess.Popen(
            ["pacat", "--raw", "--playback", f"--device={sink}", "--format=s16le", f"--rate={speech.RATE}",
             "--channels=1", "--latency-msec=200"],
            stdin=subprocess.PIPE, env=daemon.env(), stderr=subprocess.DEVNULL)
        self._pcm = pcm
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            while not self._stop.is_set():
                self.proc.stdin.write(self._pcm)
                self.proc.stdin.flush()

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(5)
        self._t.join(5)


@dataclass
class Rig:
    daemon: harness.PulseDaemon
    loop: np.ndarray
    speaker: harness.MonitorRecorder

    def score(self, heard: np.ndarray, mode: str) -> score.Score:
        return score.score(self.loop, heard, mode)


@contextlib.contextmanager
def rig() -> Iterator[Rig]:
    loop = speech.speech_loop()
    with harness.pulse_daemon() as d:
        feed = SpeechFeeder(d, loop.tobytes())
        spk = harness.MonitorRecorder(d, "speaker")
        try:
            yield Rig(d, loop, spk)
        finally:
            spk.stop()
            feed.stop()
