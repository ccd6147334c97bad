"""Caller identity from hostile headers: the number comes from the URI, never from the display name."""

from __future__ import annotations

import pytest

from softphone.core.callerid import clean_text, identify, parse_name_addr, uri_user


@pytest.mark.parametrize(("header", "number", "name"), [
    ('"<sip:+14155550132@pbx>" <sip:+19995550000@pbx.example>', "+19995550000", "<sip:+14155550132@pbx>"),
    ('"Bob \\"<sip:+1415@x>\\"" <sip:+19995550001@pbx>;tag=abc', "+19995550001", 'Bob "<sip:+1415@x>"'),
    ("Alice <sip:+14155550100@pbx;user=phone>;tag=1", "+14155550100", "Alice"),
    ("sip:+14155550101@pbx;tag=9", "+14155550101", ""),
    ("<sip:alice@pbx.example.com>", "sip:alice@pbx.example.com", ""),
    ("<tel:+14155550102>", "+14155550102", ""),
    ('"\u202eevil\u202c name\x07" <sip:+14155550103@pbx>', "+14155550103", "evil name"),
])
def test_identify_from(header: str, number: str, name: str) -> None:
    assert identify(header) == (number, name)


def test_asserted_identity_wins_and_keeps_the_from_name() -> None:
    assert identify('"Front desk" <sip:100@pbx>', "<sip:+14155550199@pbx>") == ("+14155550199", "Front desk")
    # an unusable P-Asserted-Identity falls back to From
    assert identify('"Bob" <sip:+14155550111@pbx>', "garbage") == ("+14155550111", "Bob")


@pytest.mark.parametrize("header", ['"unterminated <sip:1@x>', "<sip:1@x", '"x" sip:1@x', "nothing here", "",
                                    "<http://evil.example/>", '"a" <sip:1@x y>'])
def test_malformed_headers_are_refused(header: str) -> None:
    assert parse_name_addr(header) is None


def test_clean_text_bounds_and_repairs() -> None:
    bad_utf8 = b"Bj\xf6rn".decode("utf-8", "surrogateescape")      # Latin-1 bytes on the wire
    assert clean_text(bad_utf8) == "Bj\ufffdrn"
    assert clean_text("a\x00b\r\nc\u200bd") == "ab cd"
    assert len(clean_text("x" * 500)) == 64
    assert clean_text("🙂 Émile") == "🙂 Émile"


def test_uri_user() -> None:
    assert uri_user("sip:+1415@pbx;user=phone") == "+1415"
    assert uri_user("sips:bob@[::1]:5061") == "bob"
    assert uri_user("tel:+1415;phone-context=x") == "+1415"
    assert uri_user("sip:pbx.example.com") == ""
