"""What the benchmarks share to make sure they measured something: a check list that ends the run with a
non-zero exit and a clear message when a peer carried no call or no audio, the tools they need (with the
command that installs them), and baresip set up to carry real audio.

Debian 12's baresip has no ``pulse`` module. Its ``alsa`` module on ALSA's ``pulse`` PCM (the PulseAudio
ALSA plugin, ``libasound2-plugins``) reaches whatever server ``PULSE_SERVER`` names, so it plays into and
records from the same private daemon as our engine.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

BARESIP_MODULES = Path("/usr/lib/baresip/modules")
BARESIP_ALSA_DEVICE = "pulse"       # ALSA's pcm.pulse (libasound2-plugins): the server in PULSE_SERVER


class BenchFailed(SystemExit):
    """The run measured nothing real (a peer carried no call or no audio): exit 1 with the reasons."""


class Checks:
    """Collects what went wrong; :meth:`finish` prints it and exits non-zero if anything did."""

    def __init__(self, bench: str) -> None:
        self.bench = bench
        self.problems: list[str] = []

    def expect(self, ok: object, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return bool(ok)

    def finish(self) -> None:
        if self.problems:
            print(f"\nBENCHMARK FAILED ({self.bench}): the numbers above do not measure a real call:", file=sys.stderr)
            for p in self.problems:
                print(f"  - {p}", file=sys.stderr)
            raise BenchFailed(1)


def fail(bench: str, problem: str) -> BenchFailed:
    """Raise this: the run cannot measure anything (``raise fail(...)``)."""
    print(f"BENCHMARK FAILED ({bench}): {problem}", file=sys.stderr)
    return BenchFailed(1)


TOOLS = {
    "baresip": "baresip", "sipp": "sip-tester", "pulseaudio": "pulseaudio", "pacat": "pulseaudio-utils",
    "parec": "pulseaudio-utils", "kamailio": "kamailio", "Xvfb": "xvfb", "xdotool": "xdotool",
    "linphone": "linphone-desktop", "dbus-daemon": "dbus", "chromium": "chromium", "trayer": "trayer",
}


def require(bench: str, *tools: str) -> None:
    """Every tool present, or fail with the apt-get line that installs the missing ones."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pkgs = " ".join(sorted({TOOLS.get(t, t) for t in missing}))
        raise fail(bench, f"{', '.join(missing)} not installed: run `apt-get install {pkgs}`")


def require_baresip_alsa(bench: str) -> None:
    """baresip with its alsa module and ALSA's PulseAudio plugin, or fail saying what to install."""
    require(bench, "baresip")
    if not (BARESIP_MODULES / "alsa.so").exists():
        raise fail(bench, f"baresip's alsa module is missing ({BARESIP_MODULES}/alsa.so): "
                          "run `apt-get install baresip`")
    plugin = [p for p in Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so")]
    if not plugin:
        raise fail(bench, "the PulseAudio ALSA plugin is missing: run `apt-get install libasound2-plugins`")


def baresip_audio_config(sip_listen: str = "127.0.0.1:0", extra: str = "") -> str:
    """A baresip config that carries G.711 audio through the PulseAudio ALSA plugin (16 kHz mono, as ours)."""
    dev = BARESIP_ALSA_DEVICE
    return (
        "poll_method\tepoll\n"
        f"sip_listen\t{sip_listen}\n"
        f"audio_player\talsa,{dev}\naudio_source\talsa,{dev}\naudio_alert\talsa,{dev}\n"
        "audio_srate\t16000\naudio_channels\t1\n"
        f"module_path\t{BARESIP_MODULES}\n"
        "module\tstdio.so\nmodule\tg711.so\nmodule\talsa.so\n"
        "module_app\taccount.so\nmodule_app\tmenu.so\n"
        + extra
    )
