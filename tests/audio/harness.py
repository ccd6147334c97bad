"""Real parts for the audio tests and benches: a private PulseAudio daemon with a speaker sink, a
virtual microphone fed by the test, recorders on sink monitors, and an RTP echo peer (sipp).

Nothing here touches the user's own sound server: the daemon runs in a temp dir and the environment
of the calling process is pointed at it (``PULSE_SERVER``) only while the context is open.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

RATE = 16000


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PulseDaemon:
    """``pulseaudio -n`` with ``speaker`` (default sink), ``micfeed`` + ``mic`` (the default source, a
    remap of micfeed's monitor) and a second pair ``callspk``/``callmic`` that tests can unload."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "native"
        self.server = f"unix:{self.socket}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.keepalive: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        script = self.root / "default.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            "load-module module-null-sink sink_name=speaker sink_properties=device.description=Speaker\n"
            "load-module module-null-sink sink_name=micfeed sink_properties=device.description=MicFeed\n"
            "load-module module-remap-source source_name=mic master=micfeed.monitor "
            "source_properties=device.description=Microphone\n"
            "load-module module-null-sink sink_name=callspk sink_properties=device.description=Headset\n"
            "load-module module-null-sink sink_name=callmicfeed "
            "sink_properties=device.description=HeadsetMicFeed\n"
            "load-module module-remap-source source_name=callmic master=callmicfeed.monitor "
            "source_properties=device.description=HeadsetMic\n"
            "load-module module-null-sink sink_name=ringer sink_properties=device.description=Ringer\n"
            "set-default-sink speaker\n"
            "set-default-source mic\n"
        )
        env = self.env()
        env["HOME"] = str(self.root)
        env["XDG_RUNTIME_DIR"] = str(self.root)
        env["XDG_CONFIG_HOME"] = str(self.root)
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=no", "--log-target=stderr", "--log-level=error", "-F", str(script)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.pactl("info", check=False).returncode == 0:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("private PulseAudio did not start")
        # An idle null sink runs with 2 s of latency and takes that long to notice a new low-latency
        # stream (hardware sinks rewind at once). Keep every sink busy with silence, as a real device
        # playing system sounds would be, so tests see device-like timing from the first frame.
        for sink in ("speaker", "micfeed", "callspk", "callmicfeed", "ringer"):
            self.keepalive.append(self.silence(sink))
        self.wait_settled()

    def wait_settled(self, timeout: float = 8.0) -> None:
        """Until every sink has drained the 2 s it queued while idle (the keepalive streams were noticed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.pactl("list", "sinks").stdout
            lat = [int(x.split("Latency: ")[1].split(" ")[0]) for x in out.splitlines() if "configured " in x]
            if lat and max(lat) <= 100_000:
                return
            time.sleep(0.1)

    def silence(self, sink: str) -> subprocess.Popen[bytes]:
        zero = open("/dev/zero", "rb")
        try:
            return subprocess.Popen(
                ["pacat", "--raw", "--playback", f"--device={sink}", "--format=s16le", f"--rate={RATE}",
                 "--channels=1", "--latency-msec=20"],
                stdin=zero, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            zero.close()

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PULSE_SERVER"] = self.server
        env.pop("PULSE_SINK", None)
        env.pop("PULSE_SOURCE", None)
        return env

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pactl", *args], env=self.env(), capture_output=True, text=True,
                              check=check, timeout=10)

    def module_of(self, sink_or_source: str) -> str:
        for line in self.pactl("list", "short", "modules").stdout.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and (f"sink_name={sink_or_source} " in parts[2] + " "
                                    or f"source_name={sink_or_source} " in parts[2] + " "):
                return parts[0]
        raise KeyError(sink_or_source)

    def unload(self, name: str) -> None:
        self.pactl("unload-module", self.module_of(name))

    def stop(self) -> None:
        for k in self.keepalive:
            k.kill()
            k.wait()
        self.keepalive.clear()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@contextlib.contextmanager
def pulse_daemon() -> Iterator[PulseDaemon]:
    root = Path(tempfile.mkdtemp(prefix="sp-pulse-"))
    d = PulseDaemon(root)
    old = os.environ.get("PULSE_SERVER")
    d.start()
    os.environ["PULSE_SERVER"] = d.server
    try:
        yield d
    finally:
        if old is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = old
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


class MicFeeder:
    """Plays int16 mono PCM into a null sink (whose monitor is a microphone) with ``pacat``, in a loop."""

    def __init__(self, daemon: PulseDaemon, sink: str, pcm: bytes) -> None:
        self.proc = subprocess.Popen(
            ["pacat", "--raw", "--playback", f"--device={sink}", "--format=s16le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=20"],
            stdin=subprocess.PIPE, env=daemon.env(), stderr=subprocess.DEVNULL,
        )
        self._pcm = pcm
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        assert self.proc.stdin is not None
        try:
            while not self._stop.is_set():
                self.proc.stdin.write(self._pcm)
                self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(5)
        self._t.join(5)


class MonitorRecorder:
    """Records a sink's monitor (what a speaker would play) with ``parec``; ``.take()`` returns int16 samples
    recorded so far with their arrival times."""

    def __init__(self, daemon: PulseDaemon, sink: str) -> None:
        self.proc = subprocess.Popen(
            ["parec", "--raw", f"--device={sink}.monitor", "--format=s16le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE, env=daemon.env(), stderr=subprocess.DEVNULL,
        )
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            with self._lock:
                self._buf += chunk

    def clear(self) -> None:
        with self._lock:
            self._buf.clear()

    def samples(self) -> np.ndarray:
        with self._lock:
            n = len(self._buf) // 2 * 2
            return np.frombuffer(bytes(self._buf[:n]), dtype=np.int16).copy()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self._t.join(5)


class EchoPeer:
    """``sipp -sn uas -rtp_echo``: answers one call per INVITE and echoes RTP back to the sender."""

    def __init__(self, calls: int = 20) -> None:
        self.port = free_udp_port()
        self.media_port = free_udp_port()
        self.proc = subprocess.Popen(
            ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(self.port), "-mi", "127.0.0.1",
             "-mp", str(self.media_port), "-rtp_echo", "-m", str(calls), "-nostdin", "-nd"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir(),
        )
        time.sleep(0.2)

    @property
    def uri(self) -> str:
        return f"sip:echo@127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tone(freq: float, seconds: float, level_dbfs: float = -12.0, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    amp = 32767 * 10 ** (level_dbfs / 20)
    return (amp * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def dominant_freq(x: np.ndarray, rate: int = RATE) -> float:
    x = x.astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spec[1:])) + 1])


def rms_dbfs(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return -120.0 if r <= 0 else 20 * np.log10(r / 32768)
