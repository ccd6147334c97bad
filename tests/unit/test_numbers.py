import pytest

from softphone.core.numbers import display_name, display_remote, normalize
from softphone.errors import InvalidNumber


@pytest.mark.parametrize(
    ("text", "country", "display"),
    [
        ("+1 (415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("(415) 555-2671", None, None),  # no country: refused below
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 20 7946 0018", "US", "+442079460018"),
        ("030 901820", "DE", "+4930901820"),
        ("tel:+14155552671", "US", "+14155552671"),
        ("101", "US", "101"),
        ("*97", "US", "*97"),
        ("sip:bob@example.com", "US", "sip:bob@example.com"),
        ("sips:bob@example.com:5061;transport=tls", "US", "sips:bob@example.com:5061;transport=tls"),
        ("SIP:bob@127.0.0.1:5070", "US", "sip:bob@127.0.0.1:5070"),
    ],
)
def test_valid(text: str, country: str | None, display: str | None) -> None:
    if display is None:
        with pytest.raises(InvalidNumber):
            normalize(text, country)
        return
    assert normalize(text, country).display == display


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "abc", "call me", "+1 23", "12345678901234567890123",
        "sip:bob@example.com\r\nX-Evil: 1", "sip:bob@evil.com>;tag=1", "<sip:bob@example.com>",
        "sip:bob@example.com?Subject=hi", "sip:bob smith@example.com", "sip:@", "sip:bob@exa mple.com",
        "+1 415 555 2671\nVia: x", "sip:bob@host:99999", "\"x\" <sip:a@b>", "javascript:alert(1)",
        "1" * 300, 5551234, None,
    ],
)
def test_refused(text: object) -> None:
    with pytest.raises(InvalidNumber) as exc:
        normalize(text, "US")
    assert exc.value.message  # a human message


def test_request_uri() -> None:
    t = normalize("+1 415 555 2671", "US")
    assert t.request_uri("pbx.example.com") == "sip:+14155552671@pbx.example.com"
    assert normalize("sip:x@y", "US").request_uri("ignored") == "sip:x@y"


def test_display_helpers() -> None:
    assert display_remote('"Bob" <sip:+14155552671@pbx;user=phone>') == "+14155552671"
    assert display_remote("sip:alice@pbx.example.com") == "sip:alice@pbx.example.com"
    assert display_name('"Bob Smith" <sip:1@x>') == "Bob Smith"
    assert display_name("Bob <sip:1@x>") == "Bob"
    assert display_name("<sip:1@x>") == ""
