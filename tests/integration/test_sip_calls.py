"""Real calls from the real engine (``softphone serve``) to real peers: every end status against sipp,
through kamailio with digest auth, and over UDP, TCP and TLS."""

from __future__ import annotations

import pytest

from tests.peers import PASSWORD, account_toml, engine_config, wait_for


def trunk(sipp_port: int) -> str:
    """A direct (IP-trunk) account whose outbound proxy is the sipp UAS: numbers go straight to it."""
    return account_toml("trunk", "rep", None, auth=False, proxy=f"sip:127.0.0.1:{sipp_port}")


@pytest.mark.parametrize(
    ("scenario", "status", "code"),
    [
        ("uas_486", "BUSY", 486),
        ("uas_480", "NO_ANSWER", 480),
        ("uas_603", "REJECTED", 603),
        ("uas_503", "FAILED", 503),
        ("uas_404", "FAILED", 404),
        ("uas_malformed", "FAILED", 500),
    ],
)
def test_end_status_against_sipp(sipp_factory, engine_factory, scenario: str, status: str, code: int) -> None:
    sipp = sipp_factory(scenario)
    eng = engine_factory(engine_config(trunk(sipp.port)))
    call = eng.ctl("dial", number="+1 415 555 2671")
    assert call["remote"] == "+14155552671"
    done = eng.wait_state(call["call_id"], "TERMINATED")
    assert (done["end_status"], done["sip_code"]) == (status, code)
    row = next(r for r in eng.history() if r["call_id"] == call["call_id"])
    assert row["end_status"] == status and row["ended_at"] and row["duration_s"] == 0
    assert "INVITE sip:+14155552671@127.0.0.1" in sipp.messages()


def test_answered_then_hangup_completed(sipp_factory, engine_factory) -> None:
    sipp = sipp_factory("uas_answer", extra=["-rtp_echo"])
    eng = engine_factory(engine_config(trunk(sipp.port)))
    call = eng.ctl("dial", number="4155552671")
    eng.wait_state(call["call_id"], "ESTABLISHED")
    eng.ctl("hangup")
    done = eng.wait_state(call["call_id"], "TERMINATED")
    assert done["end_status"] == "COMPLETED" and done["answered_at"]
    wait_for(lambda: "BYE sip:" in sipp.messages(), 5, what="BYE at sipp")
    assert done["codec"].startswith("PCMU")


def test_cancel_while_ringing(sipp_factory, engine_factory) -> None:
    sipp = sipp_factory("uas_noanswer")
    eng = engine_factory(engine_config(trunk(sipp.port)))
    call = eng.ctl("dial", number="+14155552671")
    eng.wait_state(call["call_id"], "RINGING")
    eng.ctl("hangup")
    done = eng.wait_state(call["call_id"], "TERMINATED")
    assert done["end_status"] == "CANCELED"
    wait_for(lambda: "CANCEL sip:" in sipp.messages(), 5, what="CANCEL at sipp")


def test_no_answer_timeout(sipp_factory, engine_factory) -> None:
    sipp = sipp_factory("uas_noanswer")
    eng = engine_factory(engine_config(trunk(sipp.port), extra="no_answer_timeout_s = 5\n"))
    call = eng.ctl("dial", number="+14155552671")
    done = eng.wait_state(call["call_id"], "TERMINATED", timeout=15)
    assert done["end_status"] == "NO_ANSWER"


def test_cancel_race(sipp_factory, engine_factory) -> None:
    """CANCEL crossing a 200 OK: exactly one final state, no dialog left behind."""
    sipp = sipp_factory("uas_cancel_race")
    eng = engine_factory(engine_config(trunk(sipp.port)))
    call = eng.ctl("dial", number="+14155552671")
    eng.wait_state(call["call_id"], "RINGING")
    wait_for(lambda: "180 Ringing" in sipp.messages(), 3)
    import time
    time.sleep(2.9)  # sipp answers at 3.0 s: our CANCEL and its 200 cross on the wire
    eng.ctl("hangup")
    done = eng.wait_state(call["call_id"], "TERMINATED", timeout=15)
    assert done["end_status"] in ("CANCELED", "COMPLETED")
    assert eng.status()["calls"] == []
    terminated = [c for c in eng.call_events(call["call_id"]) if c["state"] == "TERMINATED"]
    assert len({c["end_status"] for c in terminated}) == 1


def test_invalid_numbers_never_reach_the_wire(sipp_factory, engine_factory) -> None:
    sipp = sipp_factory("uas_486")
    eng = engine_factory(engine_config(trunk(sipp.port)))
    for bad in ("abc", "sip:x@y\r\nX-Evil: 1", "<sip:a@b>", "+1 23", "sip:a@b?Subject=x"):
        r = eng.cli("ctl", "dial", bad)
        assert r.returncode == 1 and ("not" in r.stderr or "wrong number" in r.stderr), r.stderr
    assert sipp.invites() == 0
    assert eng.history() == []


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_register_with_digest_and_call_through_kamailio(kamailio, engine_factory, transport: str) -> None:
    """alice registers (digest auth) over each transport; bob (second pjsua2 UA) calls her through kamailio."""
    alice = engine_factory(engine_config(account_toml("office", f"alice{transport}", kamailio, transport)),
                           name="alice", start=False)
    alice.set_password("office", PASSWORD)
    alice.start()
    alice.wait_registration("office")
    bob = engine_factory(engine_config(account_toml("office", f"bob{transport}", kamailio, transport)),
                         name="bob", start=False)
    bob.set_password("office", PASSWORD)
    bob.start()
    bob.wait_registration("office")
    out = bob.ctl("dial", number=f"sip:alice{transport}@127.0.0.1:{kamailio.udp}")
    inc = alice.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="incoming")
    assert f"bob{transport}" in inc["remote"]
    bob.wait_state(out["call_id"], "RINGING")
    alice.ctl("answer")
    bob.wait_state(out["call_id"], "ESTABLISHED")
    alice.wait_state(inc["call_id"], "ESTABLISHED")
    bob.ctl("hangup")
    assert bob.wait_state(out["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    assert alice.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    # alice quits: she unregistered on the way out, so kamailio knows at once she is gone (no stale binding
    # for the PBX to ring into a closed port)
    alice.stop()
    again = bob.ctl("dial", number=f"sip:alice{transport}@127.0.0.1:{kamailio.udp}")
    done = bob.wait_state(again["call_id"], "TERMINATED")
    assert (done["end_status"], done["sip_code"]) == ("FAILED", 404)


def test_wrong_password_fails_registration_and_refuses_calls(kamailio, engine_factory) -> None:
    eng = engine_factory(engine_config(account_toml("office", "mallory", kamailio)), start=False)
    eng.set_password("office", "wrong-password")
    eng.start()
    eng.wait_registration("office", "FAILED")
    r = eng.cli("ctl", "dial", "+14155552671")
    assert r.returncode == 1 and "not registered" in r.stderr
    # the password never leaks into logs or files
    for path in eng.dir.rglob("*"):
        if path.is_file() and "keyring" not in str(path) and path.suffix not in (".db", ".db-wal"):
            assert "wrong-password" not in path.read_text(errors="ignore"), path
