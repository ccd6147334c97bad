"""Call features between real pjsua2 user agents (three engines) through kamailio: inbound, hold, DTMF
(RFC 4733 and SIP INFO, digits verified at the far end), blind and attended transfer, call waiting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import PASSWORD, EngineProcess, Kamailio, account_toml, engine_config, wait_for


class Trio:
    def __init__(self, kam: Kamailio, root: Path) -> None:
        self.kam = kam
        info = account_toml("info", "bobinfo", kam, extra='dtmf_method = "info"')
        self.alice = EngineProcess(root / "alice", engine_config(account_toml("office", "alice", kam)))
        self.bob = EngineProcess(root / "bob", engine_config(account_toml("office", "bob", kam), info))
        self.carol = EngineProcess(root / "carol", engine_config(account_toml("office", "carol", kam)))
        for e in self.all:
            e.set_password("office", PASSWORD)
        self.bob.set_password("info", PASSWORD)
        for e in self.all:
            e.start()
        for e in self.all:
            e.wait_registration("office")
        self.bob.wait_registration("info")

    @property
    def all(self) -> list[EngineProcess]:
        return [self.alice, self.bob, self.carol]

    def uri(self, user: str) -> str:
        return f"sip:{user}@127.0.0.1:{self.kam.udp}"

    def connect(self, caller: EngineProcess, callee: EngineProcess, user: str, account: str = "office") -> tuple[str, str]:
        """caller dials callee (user); callee answers. Returns (caller call_id, callee call_id)."""
        seen = {c["call_id"] for c in callee.call_events()}
        out = caller.ctl("dial", number=self.uri(user), account=account)
        inc = callee.wait_call(lambda c: c["state"] == "INCOMING" and c["call_id"] not in seen, what="incoming")
        callee.ctl("answer", call_id=inc["call_id"])
        caller.wait_state(out["call_id"], "ESTABLISHED")
        callee.wait_state(inc["call_id"], "ESTABLISHED")
        return out["call_id"], inc["call_id"]

    def idle(self) -> None:
        for e in self.all:
            wait_for(lambda e=e: e.status()["calls"] == [], 10, what="no calls left")

    def stop(self) -> None:
        for e in self.all:
            e.stop()


@pytest.fixture(scope="module")
def trio(kamailio: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    t = Trio(kamailio, tmp_path_factory.mktemp("trio"))
    try:
        yield t
    finally:
        t.stop()


@pytest.fixture(autouse=True)
def _clean(trio: Trio) -> Iterator[None]:
    yield
    from softphone.errors import NoSuchCall

    for e in trio.all:
        for c in e.status()["calls"]:
            try:
                e.ctl("hangup", call_id=c["call_id"])
            except NoSuchCall:
                pass  # ended on its own meanwhile
    trio.idle()


def test_inbound_decline_is_rejected_for_callee(trio: Trio) -> None:
    seen = {c["call_id"] for c in trio.alice.call_events()}
    out = trio.bob.ctl("dial", number=trio.uri("alice"))
    inc = trio.alice.wait_call(lambda c: c["state"] == "INCOMING" and c["call_id"] not in seen, what="incoming")
    trio.alice.ctl("decline")
    assert trio.alice.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "REJECTED"
    assert trio.bob.wait_state(out["call_id"], "TERMINATED")["end_status"] == "REJECTED"


def test_inbound_missed_when_caller_gives_up(trio: Trio) -> None:
    seen = {c["call_id"] for c in trio.alice.call_events()}
    out = trio.bob.ctl("dial", number=trio.uri("alice"))
    inc = trio.alice.wait_call(lambda c: c["state"] == "INCOMING" and c["call_id"] not in seen)
    trio.bob.wait_state(out["call_id"], "RINGING")
    trio.bob.ctl("hangup")
    assert trio.alice.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "MISSED"
    assert trio.bob.wait_state(out["call_id"], "TERMINATED")["end_status"] == "CANCELED"
    rows = trio.alice.history()
    assert next(r for r in rows if r["call_id"] == inc["call_id"])["end_status"] == "MISSED"


def test_hold_and_resume_seen_by_peer(trio: Trio) -> None:
    b, a = trio.connect(trio.bob, trio.alice, "alice")
    trio.bob.ctl("hold")
    assert trio.bob.wait_state(b, "HELD")["held"]
    trio.alice.wait_call(lambda c: c["call_id"] == a and c["remote_hold"], what="remote hold at alice")
    trio.bob.ctl("resume")
    trio.bob.wait_state(b, "ESTABLISHED")
    trio.alice.wait_call(lambda c: c["call_id"] == a and not c["remote_hold"] and c["state"] == "ESTABLISHED",
                         what="resumed at alice")


@pytest.mark.parametrize("account", ["office", "info"])
def test_dtmf_digits_arrive(trio: Trio, account: str) -> None:
    b, a = trio.connect(trio.bob, trio.alice, "alice", account=account)
    n = len(trio.alice.events)
    trio.bob.ctl("dtmf", digits="19*#")

    def digits() -> str:
        return "".join(e["digit"] for e in trio.alice.events[n:] if e.get("type") == "dtmf" and e["call_id"] == a)

    wait_for(lambda: len(digits()) >= 4, 10, what="four DTMF digits at alice")
    assert digits() == "19*#"


def test_blind_transfer(trio: Trio) -> None:
    """alice talks to bob, transfers him blind to carol: bob's engine follows the REFER to carol."""
    b, a = trio.connect(trio.bob, trio.alice, "alice")
    seen = {c["call_id"] for e in trio.all for c in e.call_events()}
    trio.alice.ctl("transfer", target=trio.uri("carol"))
    inc = trio.carol.wait_call(lambda c: c["state"] == "INCOMING" and c["call_id"] not in seen, what="carol rings")
    assert "bob" in inc["remote"]
    trio.carol.ctl("answer")
    new = trio.bob.wait_call(lambda c: c["call_id"] not in seen and c["state"] == "ESTABLISHED",
                             what="bob-carol call")
    assert new["remote"].startswith("sip:carol")
    assert trio.alice.wait_state(a, "TERMINATED")["end_status"] == "COMPLETED"
    assert trio.bob.wait_state(b, "TERMINATED")["end_status"] == "COMPLETED"


def test_attended_transfer(trio: Trio) -> None:
    """alice talks to bob, consults carol (bob on hold), then joins bob and carol and drops out."""
    b, a1 = trio.connect(trio.bob, trio.alice, "alice")
    a2, c = trio.connect(trio.alice, trio.carol, "carol")
    seen = {x["call_id"] for e in trio.all for x in e.call_events()}
    assert trio.alice.status()["calls"][0]["state"] == "HELD"  # dialling the consultation held bob
    trio.alice.ctl("transfer", target=a2, call_id=a1)
    trio.alice.wait_state(a1, "TERMINATED")
    trio.alice.wait_state(a2, "TERMINATED")
    replaced = trio.carol.wait_call(lambda x: x["call_id"] not in seen and x["state"] == "ESTABLISHED",
                                    what="carol new")
    assert "bob" in replaced["remote"]
    bob_new = trio.bob.wait_call(lambda x: x["call_id"] not in seen and x["state"] == "ESTABLISHED",
                                 what="bob new")
    assert bob_new["remote"].startswith("sip:carol")


def test_call_waiting_answer_holds_first(trio: Trio) -> None:
    b, a1 = trio.connect(trio.bob, trio.alice, "alice")
    seen = {c["call_id"] for c in trio.alice.call_events()}
    out = trio.carol.ctl("dial", number=trio.uri("alice"))
    a2 = trio.alice.wait_call(lambda c: c["state"] == "INCOMING" and c["call_id"] not in seen,
                              what="second call")["call_id"]
    assert trio.alice.status()["calls"][0]["state"] == "ESTABLISHED"  # still talking while it rings
    trio.alice.ctl("answer", call_id=a2)
    trio.alice.wait_state(a1, "HELD")
    trio.alice.wait_state(a2, "ESTABLISHED")
    trio.carol.wait_state(out["call_id"], "ESTABLISHED")
    trio.bob.wait_call(lambda c: c["call_id"] == b and c["remote_hold"], what="bob hears hold")
    trio.alice.ctl("swap")
    trio.alice.wait_state(a1, "ESTABLISHED")
    trio.alice.wait_state(a2, "HELD")


def test_do_not_disturb_refuses_and_records_the_call(trio: Trio) -> None:
    """Under do-not-disturb nothing rings: the caller hears busy, the rep's history shows who called."""
    trio.alice.ctl("set_available", available=False)
    try:
        seen = {c["call_id"] for c in trio.alice.call_events()}
        out = trio.bob.ctl("dial", number=trio.uri("alice"))
        done = trio.bob.wait_state(out["call_id"], "TERMINATED")
        assert done["end_status"] == "BUSY" and done["sip_code"] == 486
        inc = trio.alice.wait_call(lambda c: c["call_id"] not in seen and c["state"] == "TERMINATED", what="DND")
        assert inc["end_status"] == "MISSED" and inc["reason"] == "Do not disturb"
        assert not any(c["call_id"] == inc["call_id"] and c["state"] == "INCOMING" and c.get("answered_at")
                       for c in trio.alice.call_events())
        row = next(r for r in trio.alice.history() if r["call_id"] == inc["call_id"])
        assert row["end_status"] == "MISSED" and "bob" in row["remote"]
    finally:
        trio.alice.ctl("set_available", available=True)
    trio.idle()
