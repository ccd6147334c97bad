"""Optional call recording: a stereo 16-bit WAV, the rep on the left channel and the caller on the right.

Frames are handed over from pjmedia's clock thread through a queue; a writer thread does the file I/O,
so a slow disk never stalls the audio.
"""

from __future__ import annotations

import queue
import threading
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


def recording_path(data_dir: Path, call_id: str, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    safe = "".join(c for c in call_id if c.isalnum() or c in "-_")[:40]
    d = data_dir / "recordings"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{stamp}-{safe}.wav"


class CallRecorder:
    def __init__(self, path: Path, rate: int = 16000) -> None:
        self.path = path
        self._q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._w = wave.open(str(path), "wb")  # noqa: SIM115 - closed by the writer thread
        self._w.setnchannels(2)
        self._w.setsampwidth(2)
        self._w.setframerate(rate)
        self.frames = 0
        self._t = threading.Thread(target=self._run, name="call-recorder", daemon=True)
        self._t.start()

    def add(self, rep: Samples, caller: Samples) -> None:
        n = min(len(rep), len(caller))
        st = np.empty(2 * n, dtype="<i2")
        st[0::2] = rep[:n]
        st[1::2] = caller[:n]
        self.frames += n
        self._q.put(st.tobytes())

    def _run(self) -> None:
        while True:
            b = self._q.get()
            if b is None:
                break
            self._w.writeframesraw(b)
        self._w.close()

    def close(self) -> Path:
        self._q.put(None)
        self._t.join(10)
        return self.path
