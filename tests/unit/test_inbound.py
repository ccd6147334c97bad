"""The front door's rules, from raw bytes to a verdict."""

from __future__ import annotations

import pytest

from softphone.core.inbound import ANY_USER, Counters, Door, Peer, Policy, Verdict, header_value, parse_request

PBX = Peer("198.51.100.10", 5060)
POLICY = Policy((Door("office", frozenset({"alice"}), frozenset({PBX})),
                 Door("lab", frozenset({"bob"}), frozenset({Peer("203.0.113.5")}), loopback=True)))


def msg(first: str, *headers: str) -> bytes:
    return ("\r\n".join([first, *headers]) + "\r\n\r\n").encode()


def test_parse_request() -> None:
    req = parse_request(msg("INVITE sip:alice@192.0.2.1:5060;transport=udp SIP/2.0", "To: <sip:alice@x>;tag=9",
                            "i: abc@host"))
    assert req is not None and req.method == "INVITE" and req.ruri_user == "alice" and req.to_tag
    assert req.call_id == "abc@host"
    assert parse_request(b"SIP/2.0 200 OK\r\n\r\n") is None                  # a response
    assert parse_request(b"\x00\xff garbage") is None
    assert parse_request(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: " + b"y" * 100000) is not None   # bounded scan


@pytest.mark.parametrize(("first", "src", "verdict"), [
    ("INVITE sip:alice@192.0.2.1 SIP/2.0", ("198.51.100.10", 5060), Verdict.PASS),      # the PBX
    ("INVITE sip:alice@192.0.2.1 SIP/2.0", ("198.51.100.10", 5080), Verdict.REJECT),    # other port
    ("INVITE sip:alice@192.0.2.1 SIP/2.0", ("198.51.100.66", 5060), Verdict.REJECT),    # stranger
    ("INVITE sip:100@192.0.2.1 SIP/2.0", ("198.51.100.10", 5060), Verdict.NOT_FOUND),   # PBX, unknown user
    ("INVITE sip:bob@192.0.2.1 SIP/2.0", ("127.0.0.1", 40000), Verdict.PASS),           # "host"
    ("INVITE sip:bob@192.0.2.1 SIP/2.0", ("203.0.113.5", 1234), Verdict.PASS),          # any port of a host
    ("INVITE sip:bob@192.0.2.1 SIP/2.0", ("::ffff:203.0.113.5", 1234), Verdict.PASS),   # v4-mapped
    ("OPTIONS sip:alice@192.0.2.1 SIP/2.0", ("198.51.100.10", 5060), Verdict.PASS),     # PBX keep-alive
    ("OPTIONS sip:x@192.0.2.1 SIP/2.0", ("198.51.100.99", 5060), Verdict.REJECT),
    ("ACK sip:alice@192.0.2.1 SIP/2.0", ("198.51.100.99", 5060), Verdict.PASS),
])
def test_judge(first: str, src: tuple[str, int], verdict: Verdict) -> None:
    req = parse_request(msg(first, "To: <sip:x@y>"))
    assert req is not None
    assert POLICY.judge(req, *src) is verdict


def test_in_dialog_requests_go_to_the_dialog_layer() -> None:
    req = parse_request(msg("BYE sip:alice@192.0.2.1 SIP/2.0", "t: <sip:alice@x>; tag = 7"))
    assert req is not None and POLICY.judge(req, "198.51.100.66", 9) is Verdict.PASS


def test_drop_mode_and_any_user() -> None:
    quiet = Policy(POLICY.doors, Verdict.DROP)
    req = parse_request(msg("INVITE sip:alice@x SIP/2.0", "To: <sip:alice@x>"))
    assert req is not None and quiet.judge(req, "198.51.100.66", 5060) is Verdict.DROP
    demo = Policy((Door("demo", frozenset({ANY_USER}), frozenset({Peer("127.0.0.1", 6000)})),))
    req = parse_request(msg("INVITE sip:+14155550100@demo.invalid SIP/2.0", "To: <sip:x@y>"))
    assert req is not None and demo.judge(req, "127.0.0.1", 6000) is Verdict.PASS
    assert demo.judge(req, "127.0.0.1", 6001) is Verdict.REJECT


def test_header_value_and_counters() -> None:
    text = "INVITE sip:a@b SIP/2.0\r\nP-Asserted-Identity: <sip:+1415@pbx>\r\n\r\nbody: x"
    assert header_value(text, "p-asserted-identity") == "<sip:+1415@pbx>"
    assert header_value(text, "body") is None
    c = Counters()
    c.count(Verdict.REJECT, "INVITE", "198.51.100.66:5060")
    c.count(Verdict.PASS, "INVITE", "x")
    c.count(Verdict.DROP, "OPTIONS", "198.51.100.67:5060")
    assert c.to_json()["rejected"] == 1 and c.to_json()["dropped"] == 1
    assert c.by_method == {"INVITE": 1, "OPTIONS": 1}
