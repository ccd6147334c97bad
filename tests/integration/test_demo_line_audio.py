"""The newcomer's first call, with real sound: the engine (sounddevice bridge on a private PulseAudio) dials the
built-in demo line; a tone played into the microphone must come back out of the speaker (the demo echo)."""

from __future__ import annotations

import time

import pytest

from tests.audio import harness
from tests.peers import engine_config

pytestmark = pytest.mark.integration


def test_demo_line_echoes_the_microphone(engine_factory) -> None:
    with harness.pulse_daemon() as pulse:
        env = {**pulse.env(), "SOFTPHONE_AUDIO": "on"}
        eng = engine_factory(engine_config(demo="on", extra='[audio]\necho_cancellation = false\n'
                                                         'noise_suppression = false\n'), env=env)
        feed = harness.MicFeeder(pulse, "micfeed", harness.tone(700.0, 0.3) + bytes(2 * int(0.7 * harness.RATE)))
        spk = harness.MonitorRecorder(pulse, "speaker")
        try:
            call = eng.ctl("dial", number="+1 415 555 2671")
            eng.wait_state(call["call_id"], "ESTABLISHED")
            time.sleep(1.5)  # past the demo's two 660 Hz beeps
            spk.clear()
            time.sleep(3.0)
            heard = spk.samples()
            assert harness.rms_dbfs(heard) > -40, "the demo line sent nothing back"
            assert abs(harness.dominant_freq(heard) - 700.0) < 20, harness.dominant_freq(heard)
            eng.ctl("hangup")
            assert eng.wait_state(call["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
            assert eng.proc is not None and eng.proc.poll() is None  # the engine survives the hang-up
        finally:
            feed.stop()
            spk.stop()
