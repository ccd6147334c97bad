"""The far end of the voice-quality calls: sipp answering with one chosen codec and echoing RTP
(``-rtp_echo``), behind the impairment relay. Its SDP answer names the relay, so each phone's RTP goes
phone → relay → sipp → relay (impaired) → phone; SIP goes to sipp directly (it is not what is measured)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.quality.netimpair import Impairment, Mangler, Relay

SCENARIO = Path(__file__).with_name("echo_uas.xml")
CODECS: dict[str, tuple[int, str, str]] = {     # key: (payload type, rtpmap, PESQ mode)
    "PCMU": (0, "PCMU/8000", "nb"),
    "G722": (9, "G722/8000", "wb"),
}
INSTALL = "apt-get install sip-tester (or run `make test`)"


def _free_udp() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EchoFarEnd:
    """sipp (one codec) plus its relay. ``uri`` is what a phone dials; ``relay.set_case`` picks the impairment."""

    def __init__(self, codec: str, impairment: Impairment | None = None, calls: int = 100) -> None:
        if shutil.which("sipp") is None:
            raise RuntimeError(f"sipp not installed: {INSTALL}")
        self.codec = codec
        pt, rtpmap, self.mode = CODECS[codec]
        self.sip_port = _free_udp()
        self.media_port = _free_udp()
        self.relay = Relay(("127.0.0.1", self.media_port), impairment).start()
        self.workdir = Path(tempfile.mkdtemp(prefix="sp-farend-"))
        self.log = self.workdir / "sipp.log"
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(self.sip_port), "-mi", "127.0.0.1",
             "-mp", str(self.media_port), "-rtp_echo", "-m", str(calls), "-nostdin", "-nd",
             "-key", "rtp_host", "127.0.0.1", "-key", "rtp_port", str(self.relay.port),
             "-key", "codec_pt", str(pt), "-key", "codec_name", rtpmap],
            cwd=self.workdir, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(0.2)
        if self.proc.poll() is not None:
            raise RuntimeError(f"sipp exited: {self.log.read_text(errors='replace')[-2000:]}")

    def set_case(self, impairment: Impairment, mangle: Mangler | None = None) -> None:
        self.relay.set_case(impairment, mangle)

    @property
    def uri(self) -> str:
        return f"sip:echo@127.0.0.1:{self.sip_port}"

    def stop(self) -> None:
        self.relay.stop()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)
