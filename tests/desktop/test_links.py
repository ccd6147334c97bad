from __future__ import annotations

import pytest

from softphone.desktop.links import dial_target, is_link


@pytest.mark.parametrize(("link", "target"), [
    ("tel:+14155552671", "tel:+14155552671"),
    ("tel:+1-415-555-2671;phone-context=example.com", "tel:+1-415-555-2671"),
    ("TEL:%2B1%20415%20555%202671", "tel:+1 415 555 2671"),
    ("callto://+441234567890", "callto:+441234567890"),
    ("callto:alice@pbx.example.com", "callto:alice@pbx.example.com"),
    ("sip:bob@127.0.0.1", "sip:bob@127.0.0.1"),
    ("sips:bob@example.com:5061", "sips:bob@example.com:5061"),
])
def test_links_unwrap(link: str, target: str) -> None:
    assert dial_target(link) == target


@pytest.mark.parametrize("link", ["http://evil", "tel:", "tel:%0d%0aINVITE", "mailto:a@b", "+14155552671",
                                  "tel:" + "1" * 600, "sip:"])
def test_not_ours_or_unsafe(link: str) -> None:
    assert dial_target(link) is None


def test_is_link() -> None:
    assert is_link("tel:1") and is_link("Callto:x") and not is_link("run")
