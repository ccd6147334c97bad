"""Two real engines call each other directly (no registrar, no sipp): the portable SIP test the CI matrix runs
on every OS, driven over each control transport."""

from __future__ import annotations

from tests.peers import account_toml, engine_config, free_port


def test_direct_call_between_two_engines(engine_factory) -> None:
    port = free_port()
    desk = engine_factory(engine_config(
        account_toml("desk", "desk", None, auth=False, extra='accept_calls_from = ["host"]'),
        extra=f"sip_port = {port}\n"), name="desk")
    caller = engine_factory(engine_config(account_toml("out", "alice", None, auth=False)), name="caller")
    out = caller.ctl("dial", number=f"sip:desk@127.0.0.1:{port}")
    inc = desk.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="incoming")
    desk.ctl("answer")
    caller.wait_state(out["call_id"], "ESTABLISHED")
    desk.wait_state(inc["call_id"], "ESTABLISHED")
    desk.ctl("hold")
    desk.wait_state(inc["call_id"], "HELD")
    desk.ctl("resume")
    desk.wait_state(inc["call_id"], "ESTABLISHED")
    caller.ctl("hangup")
    assert caller.wait_state(out["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    assert desk.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
    assert [r["call_id"] for r in desk.history()] == [inc["call_id"]]
