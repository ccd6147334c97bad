"""Debian's baresip 1.0 as the rep's phone in the NAT lab: the side-by-side reference.

It runs in the home namespace with its ``stun``, ``turn`` and ``ice`` modules loaded and its ``alsa`` module going
through the PulseAudio ALSA plugin to the lab's daemon (this baresip has no ``pulse`` module), so it speaks and
hears on the same default devices as the rep's engine (the home side). ``answermode=auto`` answers inbound calls.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.nat.lab import Lab
from tests.nat.topology import HOME_IP, TopologyError

MODULES = Path("/usr/lib/baresip/modules")
INSTALL = "apt-get install baresip libasound2-plugins (or run `make test`)"
SIP_PORT = 5070


def require_baresip() -> None:
    missing = [m for m in ("alsa.so", "g711.so", "stun.so", "turn.so", "ice.so", "stdio.so", "menu.so")
               if not (MODULES / m).exists()]
    if shutil.which("baresip") is None or missing:
        raise TopologyError(f"baresip (modules {missing or 'all'}) not installed: {INSTALL}")
    if not Path("/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so").exists():
        raise TopologyError(f"the PulseAudio ALSA plugin is not installed: {INSTALL}")


class BaresipPhone:
    """One baresip process registered as ``user`` at the lab's PBX; ``nat`` are extra account parameters
    (``;medianat=turn;stunserver=turn:…``)."""

    def __init__(self, lab: Lab, workdir: Path, user: str = "baresip", nat: str = "") -> None:
        self.lab = lab
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.nat = nat
        self.lines: list[str] = []
        self._partial = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> BaresipPhone:
        (self.dir / "config").write_text(
            "poll_method\tepoll\n"
            f"sip_listen\t{HOME_IP}:{SIP_PORT}\n"
            "audio_player\talsa,default\naudio_source\talsa,default\naudio_alert\talsa,default\n"
            f"module_path\t{MODULES}\n"
            "module\tstdio.so\nmodule\tg711.so\nmodule\talsa.so\n"
            "module\tstun.so\nmodule\tturn.so\nmodule\tice.so\n"
            "module_app\taccount.so\nmodule_app\tmenu.so\n")
        (self.dir / "accounts").write_text(
            f"<sip:{self.user}@{self.lab.pbx.domain}>;regint=300;audio_codecs=PCMU;answermode=auto{self.nat}\n")
        (self.dir / "contacts").write_text("")
        self.proc = self.lab.topo.spawn(self.lab.topo.home, ["baresip", "-f", str(self.dir)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.lab.pulse.env())
        if not self.wait_for("registered successfully", timeout):
            raise AssertionError(f"baresip did not register: {self.log()[-2000:]}")
        return self

    def pump(self, seconds: float) -> None:
        """Read what baresip printed for up to ``seconds`` (raw reads: a buffered reader would hide lines
        from ``select``)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([fd], [], [], min(left, 0.1))
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            self._partial += chunk.decode("utf-8", "replace").replace("\r", "\n")
            *done, self._partial = self._partial.split("\n")
            self.lines += [ln.rstrip() for ln in done
                           if ln.strip() and not ln.startswith("/") and "audio=" not in ln]

    def wait_for(self, text: str, timeout: float, since: int = 0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text.lower() in ln.lower() for ln in self.lines[since:]):
                return True
            self.pump(0.1)
        return any(text.lower() in ln.lower() for ln in self.lines[since:])

    def command(self, cmd: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.write(cmd.encode() + b"\n")
            self.proc.stdin.flush()

    def dial(self, uri: str) -> int:
        mark = len(self.lines)
        self.command(f"/dial {uri}")
        return mark

    def hang_up(self) -> None:
        self.command("/hangup")
        self.pump(0.3)

    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                (self.dir / "baresip.log").write_text(self.log() + "\n")
            self.command("/quit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(2)
            self.lab.topo.stop(self.proc)
            self.proc = None

    def __enter__(self) -> BaresipPhone:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
