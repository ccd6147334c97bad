"""The SIP front door against what an attacker on the same network really sends.

A registered engine (kamailio registrar) is probed from another loopback address (127.0.0.2) with raw SIP,
SIPVicious (svmap/svwar, what real scanners run) and a bounded flood: nothing rings, nothing reaches history
or HubSpot, nothing answers 200, and a legitimate call through the registrar right after still rings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import PASSWORD, EngineProcess, Kamailio, account_toml, engine_config, running, wait_for
from tests.security.sipwire import Stranger, invite, request

pytestmark = pytest.mark.integration


def _require(binary: str, package: str) -> None:
    if shutil.which(binary) is None:
        pytest.fail(f"{binary} is not installed: run `make test` (or apt-get install {package})")


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    _require("kamailio", "kamailio")
    k = Kamailio(tmp_path_factory.mktemp("kam")).start()
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, kamailio: Kamailio) -> Iterator[EngineProcess]:
    """The rep's engine, registered through kamailio, with a short inbound ring timeout."""
    e = EngineProcess(tmp_path_factory.mktemp("desk"),
                      engine_config(account_toml("office", "desk", kamailio), extra="inbound_ring_timeout_s = 5\n"))
    e.set_password("office", PASSWORD)
    with running(e.start()):
        e.wait_registration("office")
        yield e


def sip_port(e: EngineProcess) -> int:
    return int(e.status()["sip_transports"]["udp"].rsplit(":", 1)[1])


def inbound(e: EngineProcess) -> dict:
    return e.status()["inbound"]


def nothing_rang(e: EngineProcess, before_rows: int) -> None:
    assert not [c for c in e.call_events() if c["direction"] == "inbound" and "scanner" in c["remote"]]
    assert len(e.history()) == before_rows
    assert e.status()["calls"] == []


def test_front_door_is_on(desk: EngineProcess) -> None:
    st = inbound(desk)
    assert st["active"] is True, st


def test_stranger_invite_gets_403_and_never_rings(desk: EngineProcess) -> None:
    rows = len(desk.history())
    before = inbound(desk)["rejected"]
    s = Stranger()
    try:
        s.send(invite("desk", "127.0.0.1", sip_port(desk), s.addr), "127.0.0.1", sip_port(desk))
        codes = s.status_codes(1.0)
    finally:
        s.close()
    assert codes and codes[0] == 403 and 100 not in codes and 180 not in codes, codes
    wait_for(lambda: inbound(desk)["rejected"] > before, 5, what="refusal counted")
    nothing_rang(desk, rows)


@pytest.mark.parametrize("method", ["OPTIONS", "MESSAGE", "SUBSCRIBE", "REGISTER", "REFER", "NOTIFY"])
def test_stranger_out_of_dialog_requests_get_no_200(desk: EngineProcess, method: str) -> None:
    s = Stranger()
    try:
        extra = "Event: presence\r\nAccept: application/pidf+xml\r\n" if method in ("SUBSCRIBE", "NOTIFY") else ""
        s.send(request(method, "desk", "127.0.0.1", sip_port(desk), s.addr, extra), "127.0.0.1", sip_port(desk))
        codes = s.status_codes(1.0)
    finally:
        s.close()
    assert codes == [403], codes


def test_ignore_mode_answers_nothing(tmp_path: Path) -> None:
    e = EngineProcess(tmp_path / "quiet", engine_config(demo="on", extra='stranger_calls = "ignore"\n'))
    with running(e.start()):
        s = Stranger()
        try:
            port = sip_port(e)
            s.send(invite("rep", "127.0.0.1", port, s.addr), "127.0.0.1", port)
            s.send(request("OPTIONS", "rep", "127.0.0.1", port, s.addr), "127.0.0.1", port)
            assert s.status_codes(1.0) == []
        finally:
            s.close()
        wait_for(lambda: inbound(e)["dropped"] >= 2, 5, what="drops counted")
        assert e.history() == []


def test_forged_in_dialog_invite_rings_nothing(desk: EngineProcess) -> None:
    rows = len(desk.history())
    s = Stranger()
    try:
        s.send(invite("desk", "127.0.0.1", sip_port(desk), s.addr, to_tag=True), "127.0.0.1", sip_port(desk))
        codes = s.status_codes(1.0)
    finally:
        s.close()
    assert all(c >= 400 for c in codes), codes         # the dialog layer: no such dialog
    nothing_rang(desk, rows)


def test_demo_line_rings_only_for_itself(tmp_path: Path) -> None:
    e = EngineProcess(tmp_path / "demo", engine_config(demo="on"))
    with running(e.start()):
        port = e.status()["demo_port"]
        s = Stranger("127.0.0.1")        # even a process on this machine
        try:
            s.send(invite("rep", "127.0.0.1", port, s.addr), "127.0.0.1", port)
            assert s.status_codes(1.0) == [403]
        finally:
            s.close()
        e.ctl("demo_call_me")            # the demo line itself still rings the rep
        e.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="demo call")
        e.ctl("decline")


def _scan_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)          # sipvicious keeps its sessions under ~/.sipvicious
    return env


def test_sipvicious_scans_ring_nothing(desk: EngineProcess, tmp_path: Path) -> None:
    """svmap finds a SIP device only by what it answers; svwar guesses users with INVITEs (--force: go on
    whatever the answers). Every request is refused the same way, so the scan learns nothing and nothing rings."""
    _require("svmap", "sipvicious")
    rows = len(desk.history())
    port = sip_port(desk)
    before = inbound(desk)
    env = _scan_env(tmp_path)
    words = tmp_path / "users.txt"
    words.write_text("desk\nrep\nadmin\noffice\n")
    runs = [["svmap", "-p", str(port), "-m", "INVITE", "-t", "0.01", "127.0.0.1"],
            ["svmap", "-p", str(port), "127.0.0.1"],
            ["svwar", "--force", "-p", str(port), "-m", "INVITE", "-e", "100-140", "-t", "0.01", "127.0.0.1"],
            ["svwar", "--force", "-p", str(port), "-m", "INVITE", "-d", str(words), "-t", "0.01", "127.0.0.1"]]
    for cmd in runs:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert "found nothing" in r.stderr + r.stdout or "SIP/2.0 200" not in r.stderr + r.stdout, r.stderr[-2000:]
        assert "SIP/2.0 200" not in r.stderr + r.stdout
    after = inbound(desk)
    assert after["rejected"] - before["rejected"] >= len(runs), after
    assert after["by_method"].get("INVITE", 0) > before["by_method"].get("INVITE", 0)
    nothing_rang(desk, rows)


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_flood_then_a_real_call_still_rings(desk: EngineProcess, kamailio: Kamailio, tmp_path: Path) -> None:
    """1500 INVITEs and 500 OPTIONS in a few seconds: the engine keeps answering, its fds and memory come back,
    and a legitimate call through the registrar right after rings and is answered."""
    assert desk.proc is not None
    pid = desk.proc.pid
    port = sip_port(desk)
    rows = len(desk.history())
    fds0, rss0 = _fds(pid), _rss_kb(pid)
    refused0 = inbound(desk)["rejected"]
    s = Stranger()
    answered_during = 0
    try:
        for i in range(2000):
            msg = (request("OPTIONS", "desk", "127.0.0.1", port, s.addr) if i % 4 == 3
                   else invite("desk", "127.0.0.1", port, s.addr))
            s.send(msg, "127.0.0.1", port)
            time.sleep(0.001)                 # ~700 a second: a flood, not a kernel buffer overflow test
            if i % 200 == 0:
                desk.status()                 # the control API keeps answering during the flood
                answered_during += 1
                s.replies(0.01)               # keep our own socket buffer from filling
    finally:
        s.close()
    assert answered_during == 10
    wait_for(lambda: inbound(desk)["rejected"] - refused0 >= 2000, 30, what="every flood message refused")
    time.sleep(1.0)
    assert _fds(pid) <= fds0 + 2, (fds0, _fds(pid))
    assert _rss_kb(pid) - rss0 < 8 * 1024, (rss0, _rss_kb(pid))
    nothing_rang(desk, rows)

    caller = EngineProcess(tmp_path / "caller", engine_config(account_toml("office", "caller", kamailio)))
    caller.set_password("office", PASSWORD)
    with running(caller.start()):
        caller.wait_registration("office")
        out = caller.ctl("dial", number=f"sip:desk@127.0.0.1:{kamailio.udp}")
        inc = desk.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="real call")
        desk.ctl("answer", call_id=inc["call_id"])
        desk.wait_state(inc["call_id"], "ESTABLISHED")
        caller.wait_state(out["call_id"], "ESTABLISHED")
        desk.ctl("hangup", call_id=inc["call_id"])
        desk.wait_state(inc["call_id"], "TERMINATED")


def _via_kamailio(kam: Kamailio, from_header: str, extra: str = "", wait: float = 1.5) -> list[int]:
    """An INVITE for desk sent to the registrar (as a PBX would relay a caller's): returns what we heard back."""
    s = Stranger()
    try:
        s.send(invite("desk", "127.0.0.1", kam.udp, s.addr, from_header=from_header, extra=extra,
                      body="v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
                           "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"),
               "127.0.0.1", kam.udp)
        return s.status_codes(wait)
    finally:
        s.close()


def _ring_and_decline(desk: EngineProcess, pred_remote: str) -> dict:
    inc = desk.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING"
                         and c["remote"] == pred_remote, what=f"call from {pred_remote}")
    desk.ctl("decline", call_id=inc["call_id"])
    desk.wait_state(inc["call_id"], "TERMINATED")
    return inc


def test_spoofed_display_name_through_the_pbx_shows_the_real_number(desk: EngineProcess,
                                                                  kamailio: Kamailio) -> None:
    spoof = '"<sip:+14155550132@pbx>" <sip:+19995550000@198.51.100.7>;tag=s1'
    _via_kamailio(kamailio, spoof)
    inc = _ring_and_decline(desk, "+19995550000")
    assert "+14155550132" not in inc["remote"]
    row = next(r for r in desk.history() if r["call_id"] == inc["call_id"])
    assert row["remote"] == "+19995550000"


@pytest.mark.parametrize(("display", "expected"), [
    (b"Bj\xf6rn \xff\xfe", "Bj\ufffdrn \ufffd\ufffd"),          # not UTF-8
    ("Émile 🙂".encode(), "Émile 🙂"),
    ("\u202eevil\u202c".encode(), "evil"),                         # bidi override stripped
])
def test_hostile_display_names_leave_a_clean_history_row(desk: EngineProcess, kamailio: Kamailio,
                                                         display: bytes, expected: str) -> None:
    number = f"+1999555{int.from_bytes(display[:2], 'big') % 10000:04d}"
    s = Stranger()
    try:
        body = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
        msg = invite("desk", "127.0.0.1", kamailio.udp, s.addr, from_header=f'"DISPLAY" <sip:{number}@198.51.100.7>;tag=d1',
                     body=body)
        s.send(msg.replace(b"DISPLAY", display), "127.0.0.1", kamailio.udp)
        s.replies(0.5)
    finally:
        s.close()
    inc = _ring_and_decline(desk, number)
    assert inc["remote_name"] == expected
    row = next(r for r in desk.history() if r["call_id"] == inc["call_id"])
    assert row["remote_name"] == expected


def test_unanswered_call_ends_missed_at_the_ring_timeout(desk: EngineProcess, kamailio: Kamailio) -> None:
    codes = []
    s = Stranger()
    try:
        s.send(invite("desk", "127.0.0.1", kamailio.udp, s.addr, from_header="<sip:+19995551234@198.51.100.7>;tag=t",
                      body="v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
                           "m=audio 40000 RTP/AVP 0\r\n"), "127.0.0.1", kamailio.udp)
        inc = desk.wait_call(lambda c: c["remote"] == "+19995551234" and c["state"] == "INCOMING", what="ringing")
        done = desk.wait_state(inc["call_id"], "TERMINATED", timeout=15)
        codes = s.status_codes(1.0)
    finally:
        s.close()
    assert done["end_status"] == "MISSED"
    assert 480 in codes, codes


TORTURE = {
    "long header": lambda ip, port, src: invite("desk", ip, port, src, extra="X-Long: " + "a" * 60000 + "\r\n"),
    "bad content-length": lambda ip, port, src: invite("desk", ip, port, src).replace(
        b"Content-Length: 0", b"Content-Length: 99999"),
    "missing call-id": lambda ip, port, src: b"\r\n".join(
        line for line in invite("desk", ip, port, src).split(b"\r\n") if not line.startswith(b"Call-ID")),
    "NUL in display name": lambda ip, port, src: invite("desk", ip, port, src,
                                                        from_header='"a\x00b" <sip:x@198.51.100.7>;tag=1'),
    "emoji and invalid UTF-8": lambda ip, port, src: invite(
        "desk", ip, port, src, from_header='"\U0001f642 X" <sip:x@198.51.100.7>;tag=1').replace(b"X", b"\xff\xfe"),
    "many Vias": lambda ip, port, src: invite("desk", ip, port, src).replace(
        b"Max-Forwards", b"".join(b"Via: SIP/2.0/UDP 198.51.100.%d:5060;branch=z9hG4bK%d\r\n" % (i % 250, i)
                                  for i in range(300)) + b"Max-Forwards"),
    "garbage": lambda ip, port, src: b"\x16\x03\x01\x00\xa5" + bytes(range(256)),
    "request line only": lambda ip, port, src: b"INVITE sip:desk@127.0.0.1 SIP/2.0\r\n\r\n",
}


@pytest.mark.parametrize("kind", sorted(TORTURE))
def test_torture_messages_from_a_stranger(desk: EngineProcess, kind: str) -> None:
    """RFC 4475-style malformed requests: refused or dropped by the parser, nothing rings, the engine answers."""
    rows = len(desk.history())
    port = sip_port(desk)
    s = Stranger()
    try:
        s.send(TORTURE[kind]("127.0.0.1", port, s.addr)[:65000], "127.0.0.1", port)
        codes = s.status_codes(0.5)
    finally:
        s.close()
    assert all(c >= 400 for c in codes), codes
    nothing_rang(desk, rows)


def test_a_legitimate_call_with_every_line_busy_leaves_a_row(desk: EngineProcess, kamailio: Kamailio) -> None:
    """Four calls ring through the registrar (every line of the SIP stack); a fifth is refused (486) but recorded
    as missed, with why."""
    numbers = [f"+1999555300{i}" for i in range(5)]
    ringing = []
    for n in numbers[:4]:
        _via_kamailio(kamailio, f"<sip:{n}@198.51.100.7>;tag={n[-4:]}", wait=0.05)   # within the 5 s ring
        ringing.append(desk.wait_call(lambda c, n=n: c["remote"] == n and c["state"] == "INCOMING", what=n))
    _via_kamailio(kamailio, f"<sip:{numbers[4]}@198.51.100.7>;tag=last", wait=0.05)
    late = desk.wait_call(lambda c: c["remote"] == numbers[4] and c["state"] == "TERMINATED", what="5th call")
    assert late["end_status"] == "MISSED" and "lines were in use" in late["reason"]
    for c in ringing:
        desk.ctl("decline", call_id=c["call_id"])
    for c in ringing:
        desk.wait_state(c["call_id"], "TERMINATED")
    assert any(r["call_id"] == late["call_id"] and r["end_status"] == "MISSED" for r in desk.history())
    assert inbound(desk)["busy_refused"] >= 1
