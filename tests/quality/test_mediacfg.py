"""The pjmedia settings of softphone/sip/mediacfg.py on a real pjsua2 (tests/quality/pjpeer.py, configured as
the engine is): G.722 chosen when a far end offers it after G.711, pjmedia's counters of bad RTP readable;
and the pure parts (answer rewriting, the tuning override) on their own."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from softphone.sip import mediacfg
from tests.quality import badrtp, farend, netimpair
from tests.quality.farend import _free_udp

HERE = Path(__file__).resolve().parent
PEER = HERE / "pjpeer.py"


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.integration
@pytest.mark.parametrize(("offer", "codec"), [("0 8 9", "G722/16000"), ("0 8", "PCMU/8000"), ("8 0", "PCMA/8000")])
def test_answer_takes_g722_whenever_the_offer_has_it(quality_tools: None, tmp_path: Path, offer: str,
                                                     codec: str) -> None:
    peer = subprocess.Popen([sys.executable, str(PEER), "answer", "1"], stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL)
    try:
        assert peer.stdout is not None
        ready = next(e for e in map(json.loads, (ln for ln in peer.stdout if ln.startswith("{")))
                     if e["event"] == "ready")
        uac = subprocess.run(
            ["sipp", "-sf", str(HERE / "uac_offer.xml"), f"127.0.0.1:{ready['port']}", "-i", "127.0.0.1",
             "-p", str(_free_udp()), "-m", "1", "-nostdin", "-nd", "-timeout", "15", "-key", "offer_fmts", offer],
            cwd=tmp_path, capture_output=True, text=True, timeout=30)
        rest, _ = peer.communicate(timeout=30)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    evs = events(rest)
    assert uac.returncode == 0, uac.stdout[-1500:]
    assert [e["codec"] for e in evs if e["event"] == "media"] == [codec], evs


@pytest.mark.integration
def test_malformed_rtp_is_counted_in_the_stream_counters(quality_tools: None) -> None:
    far = farend.EchoFarEnd("PCMU")
    rng = random.Random(1)
    kinds = ("version", "runt", "pad_overrun", "csrc_overrun", "ext_overrun", "ts_jump", "seq_jump")
    far.set_case(netimpair.CASES["clean"],
                 lambda n, p: badrtp.corrupt(kinds[(n - 50) // 10], p, rng) if 50 <= n < 50 + 10 * len(kinds)
                 else [p])
    try:
        r = subprocess.run([sys.executable, str(PEER), "dial", far.uri, "4"], capture_output=True, text=True,
                           timeout=60)
    finally:
        far.stop()
    evs = events(r.stdout)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [e["codec"] for e in evs if e["event"] == "media"] == ["PCMU/8000"]
    counters = next(e["counters"] for e in evs if e["event"] == "counters")
    print(counters)
    assert counters["rx_discarded"] >= 10, counters          # headers that do not parse are thrown away
    assert counters["jb_delay_ms"] >= 0 and "jb_empty" in counters


# ---------------------------------------------------------------- pure

LOCAL = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=pjmedia\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 9 0 8 101\r\na=rtcp:4001 IN IP4 127.0.0.1\r\na=rtpmap:9 G722/8000\r\n"
         "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\na=rtpmap:101 telephone-event/8000\r\n"
         "a=fmtp:101 0-16\r\n")


def test_wideband_answer_keeps_only_g722_and_telephone_events() -> None:
    new = mediacfg.wideband_answer(LOCAL, "v=0\r\nm=audio 5000 RTP/AVP 0 8 9 101\r\n")
    assert new is not None
    assert "m=audio 4000 RTP/AVP 9 101\r\n" in new
    assert "PCMU" not in new and "PCMA" not in new
    assert "a=rtpmap:9 G722/8000" in new and "a=fmtp:101 0-16" in new and "a=rtcp:4001" in new


@pytest.mark.parametrize("remote", ["", "v=0\r\nm=audio 5000 RTP/AVP 0 8 101\r\n",
                                    "v=0\r\nm=audio 5000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"])
def test_wideband_answer_leaves_other_answers_and_offers_alone(remote: str) -> None:
    assert mediacfg.wideband_answer(LOCAL, remote) is None


def test_wideband_answer_needs_g722_on_our_side() -> None:
    narrow = LOCAL.replace(" 9 0 8 101", " 0 8 101").replace("a=rtpmap:9 G722/8000\r\n", "")
    assert mediacfg.wideband_answer(narrow, "m=audio 5000 RTP/AVP 9 0\r\n") is None


def test_tuning_override_starts_from_tuned_or_pjsua_defaults_and_ignores_bad_items() -> None:
    assert mediacfg.tuning_from_env(None) == mediacfg.TUNED
    t = mediacfg.tuning_from_env("defaults,jb_min_pre_ms=40,nonsense=1,jb_max_ms=x,codec_order=PCMU/8000/1")
    assert t.jb_min_pre_ms == 40 and t.jb_max_ms == -1 and t.codec_order == ("PCMU/8000/1",)
    assert t.resample_quality == mediacfg.PJSUA_DEFAULTS.resample_quality
    assert mediacfg.tuning_from_env("plc=off").plc is False
