"""Phones in the NAT topology: ``softphone serve`` engines run inside a namespace (home or far), their sound
devices on the one private PulseAudio daemon of the run, each with its own microphone (fed a tone of its own
frequency) and speaker (recorded). A call carried audio both ways when each speaker plays the other end's tone.

The daemon's socket is a path in the file system, and such Unix sockets do not belong to a network namespace:
engines inside the namespaces reach the daemon, and the test process reaches their control sockets, unchanged.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.audio import harness
from tests.nat.pbx import NatPbx
from tests.nat.topology import Namespace
from tests.peers import ROOT, EngineProcess, first_line, wait_for


@dataclass(frozen=True)
class Side:
    """One phone's sound devices on the shared daemon (sink/source names) and the tone it speaks."""

    mic_feed: str           # the null sink whose monitor is this phone's microphone
    mic: str                # the source the engine records
    speaker: str            # the sink the engine plays to
    tone_hz: float


HOME_SIDE = Side("micfeed", "mic", "speaker", 700.0)
FAR_SIDE = Side("callmicfeed", "callmic", "callspk", 1100.0)


class NoAudio(AssertionError):
    """A call carried no (or the wrong) audio in one direction."""


def nat_account(name: str, user: str, pbx: NatPbx, *, transport: str = "udp", expires: int = 300,
                **nat: Any) -> str:
    """An ``[[accounts]]`` block registering ``user`` at the NAT PBX, with NAT keys (stun_servers=…, ice=…)."""
    lines = ["[[accounts]]", f'name = "{name}"', f'sip_uri = "sip:{user}@{pbx.domain}"',
             f'registrar = "{pbx.uri()}"', f'proxy = "{pbx.uri()}"', f'transport = "{transport}"',
             f"register_expires = {expires}"]
    for key, value in nat.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def phone_config(*accounts: str, side: Side) -> str:
    """A phone with sound devices on ``side`` (no echo canceller or noise suppressor: they remove pure tones)."""
    return ('demo_line = "off"\n'
            "no_answer_timeout_s = 30\n"
            + "".join(accounts)
            + "[widget]\nenabled = false\n"
            + "[headset]\nenabled = false\n"
            + f'[audio]\ninput_device = "{side.mic}"\noutput_device = "{side.speaker}"\nringer_device = "ringer"\n'
            + "echo_cancellation = false\nnoise_suppression = false\n")


class NsEngine(EngineProcess):
    """``softphone serve`` inside a namespace, with its sound devices on the run's PulseAudio daemon."""

    def __init__(self, ns: Namespace, workdir: Path, config: str, pulse: harness.PulseDaemon | None,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(workdir, config, env)
        self.ns = ns
        if pulse is not None:
            self.env.pop("SOFTPHONE_AUDIO", None)       # the product's default: sound devices on
            self.env["PULSE_SERVER"] = pulse.server

    def start(self, timeout: float = 30, watch_events: bool = True) -> NsEngine:
        import subprocess

        self.proc = subprocess.Popen([*self.ns.prefix(), sys.executable, "-m", *self.launch], env=self.env,
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr_path.open("ab"),
                                     text=True, start_new_session=True)
        line = first_line(self.proc, timeout)
        if not line:
            self.stop()
            raise RuntimeError(f"engine did not become ready: {self.stderr_path.read_text()[-3000:]}")
        self.ready = json.loads(line)
        if watch_events:
            self._start_event_thread()
        return self

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def registration(self, account: str) -> dict[str, Any]:
        return next(a for a in self.status()["accounts"] if a["name"] == account)

    def live_call(self, call_id: str) -> dict[str, Any] | None:
        return next((c for c in self.status()["calls"] if c["call_id"] == call_id), None)


class Ears:
    """Mouth and ears of one phone: its microphone plays its tone; its speaker is recorded."""

    def __init__(self, pulse: harness.PulseDaemon, side: Side) -> None:
        self.side = side
        burst = harness.tone(side.tone_hz, 0.5, -12.0)
        self.mouth = harness.MicFeeder(pulse, side.mic_feed, burst)
        self.ear = harness.MonitorRecorder(pulse, side.speaker)

    def stop(self) -> None:
        for part in (self.mouth, self.ear):
            with contextlib.suppress(Exception):
                part.stop()


def heard_tone(samples: np.ndarray, hz: float, rate: int = harness.RATE) -> tuple[bool, str]:
    """Whether ``hz`` dominates what a speaker played (and loud enough to be the far end, not noise)."""
    if len(samples) < rate // 2:
        return False, f"only {len(samples)} samples recorded"
    level = harness.rms_dbfs(samples)
    freq = harness.dominant_freq(samples, rate)
    ok = level > -45.0 and abs(freq - hz) < 25.0
    return ok, f"dominant {freq:.0f} Hz at {level:.1f} dBFS (expected {hz:.0f} Hz)"


def listen(ears: list[Ears], seconds: float) -> list[np.ndarray]:
    """Record every speaker for ``seconds`` from now."""
    for e in ears:
        e.ear.clear()
    time.sleep(seconds)
    return [e.ear.samples() for e in ears]


def audio_both_ways(home: Ears, far: Ears, seconds: float = 2.0) -> dict[str, tuple[bool, str]]:
    """Record both speakers: the home speaker must play the far tone and the far speaker the home tone."""
    at_home, at_far = listen([home, far], seconds)
    return {"far→home": heard_tone(at_home, far.side.tone_hz), "home→far": heard_tone(at_far, home.side.tone_hz)}


def assert_audio_both_ways(result: dict[str, tuple[bool, str]], context: str = "") -> None:
    bad = {k: v[1] for k, v in result.items() if not v[0]}
    if bad:
        raise NoAudio(f"no audio {', '.join(bad)}: {bad} {context}")


def dial(eng: NsEngine, uri: str, account: str) -> str:
    return str(eng.ctl("dial", number=uri, account=account)["call_id"])


def wait_established(eng: NsEngine, call_id: str, timeout: float = 20) -> dict[str, Any]:
    def up() -> dict[str, Any] | None:
        c = eng.live_call(call_id)
        if c is None or c["state"] in ("TERMINATED", "FAILED"):
            raise AssertionError(f"call {call_id} ended before it was established: {c}; "
                                 f"events {eng.call_events(call_id)[-3:]}")
        return c if c["state"] == "ESTABLISHED" else None
    result: dict[str, Any] = wait_for(up, timeout, interval=0.05, what=f"call {call_id} established")
    return result


def wait_incoming(eng: NsEngine, timeout: float = 15) -> dict[str, Any]:
    def ringing() -> dict[str, Any] | None:
        return next((c for c in eng.status()["calls"] if c["direction"] == "inbound"
                     and c["state"] in ("RINGING", "INCOMING")), None)
    result: dict[str, Any] = wait_for(ringing, timeout, interval=0.05, what="an incoming call ringing")
    return result


def hang_up_all(*engines: NsEngine) -> None:
    for eng in engines:
        with contextlib.suppress(Exception):
            for c in eng.status()["calls"]:
                eng.ctl("hangup", call_id=c["call_id"])
    for eng in engines:
        with contextlib.suppress(Exception):
            _wait_no_calls(eng)


def _wait_no_calls(eng: NsEngine) -> None:
    wait_for(lambda: not eng.status()["calls"], 10, interval=0.1, what="calls gone")


def store_turn_password(eng: EngineProcess, account: str, password: str) -> None:
    """Put an account's TURN password into the engine's keyring under ``<account>:turn`` (before it starts),
    read from stdin: secrets never go on a command line."""
    import subprocess

    code = ("import sys; from softphone import secrets; from softphone.accounts import turn_key; "
            f"secrets.set_password(turn_key({account!r}), sys.stdin.read().strip())")
    r = subprocess.run([sys.executable, "-c", code], env=eng.env, cwd=ROOT, input=password + "\n",
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"could not store the TURN password: {r.stderr[-1500:]}")
