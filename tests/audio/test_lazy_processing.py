"""The echo canceller is made when the first call comes, not when the engine starts (an engine that has not had a
call does not hold WebRTC's library and state), and it is ready before the call has media. Runs a real pjsua2
Endpoint (null sound device) in its own process: one Endpoint per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    import pjsua2 as pj
    from softphone.audio.bridge import SoundDeviceMedia
    from softphone.config import AudioConfig

    ep = pj.Endpoint()
    ep.libCreate()
    ec = pj.EpConfig()
    ec.uaConfig.threadCnt = 0
    ec.uaConfig.mainThreadOnly = False
    ec.logConfig.level = 0
    ec.logConfig.consoleLevel = 0
    ep.libInit(ec)
    ep.audDevManager().setNullDev()
    ep.libStart()
    media = SoundDeviceMedia(AudioConfig(echo_cancellation=True, noise_suppression=True), Path(tempfile.mkdtemp()))
    media.start(ep)
    out = {"at_start": ["pywebrtc_audio" in sys.modules, media.processing]}
    media.sync_calls([])                                 # no call: still nothing
    media._devices._worker.call(lambda: None, timeout=60)
    out["no_call"] = ["pywebrtc_audio" in sys.modules]
    media.sync_calls(["DIALING"])                        # a call is coming: made on the audio worker
    media._devices._worker.call(lambda: None, timeout=60)
    out["dialing"] = ["pywebrtc_audio" in sys.modules, media._proc is not None, media.processing]
    media.stop()
    ep.libDestroy()
    print("RESULT " + json.dumps(out), flush=True)
""")


def test_echo_canceller_is_made_with_the_first_call_not_at_start(tmp_path: Path) -> None:
    # no sound server answers: the bridge runs on whatever PortAudio finds (nothing here plays)
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path / 'no-server'}", "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(next(ln[7:] for ln in r.stdout.splitlines() if ln.startswith("RESULT ")))
    assert out["at_start"] == [False, "starts with the first call"]
    assert out["no_call"] == [False]
    assert out["dialing"][:2] == [True, True], out
    assert "AEC3" in out["dialing"][2]
