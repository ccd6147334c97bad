"""Turn whatever a rep pasted (or HubSpot sent) into a SIP request URI, or refuse it.

Accepted: phone numbers in any national/international format (normalised to E.164 with the account's or the
payload's country), short PBX extensions (digits, ``*``, ``#``), and ``sip:``/``sips:``/``tel:`` URIs with a
conservative character set. Everything else raises ``InvalidNumber`` before anything reaches the wire: no
header or URI injection through ``<>``, quotes, whitespace, CR/LF or ``?headers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from softphone.core.callerid import caller_number, clean_text, parse_name_addr
from softphone.core.sipuri import SIP_URI
from softphone.errors import InvalidNumber

MAX_INPUT = 256
_URI_PARAMS = frozenset({"user", "transport"})
_TRANSPORTS = frozenset({"udp", "tcp", "tls"})
_EXTENSION = re.compile(r"^[0-9*#]{1,8}$")
_DIAL_CHARS = re.compile(r"^[0-9+()\-.\s/]+(?:\s*(?:x|ext\.?|#)\s*[0-9]{1,6})?$", re.IGNORECASE)


@dataclass(frozen=True)
class DialTarget:
    """``display`` is what the rep and HubSpot see (E.164 or the URI); ``user`` goes in the request URI."""

    display: str
    user: str | None          # number or extension for the account's domain; None when ``uri`` is absolute
    uri: str | None = None    # an explicit SIP URI (dialled as-is)

    def request_uri(self, domain: str, scheme: str = "sip") -> str:
        if self.uri is not None:
            return self.uri
        return f"{scheme}:{self.user}@{domain}"


def normalize(text: object, default_country: str | None = "US") -> DialTarget:
    """Validate and normalise a dial string. Raises ``InvalidNumber`` with a message fit for the rep."""
    if not isinstance(text, str):
        raise InvalidNumber("The number must be text.")
    raw = text.strip()
    if not raw:
        raise InvalidNumber("No number given.")
    if len(raw) > MAX_INPUT or any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise InvalidNumber("That is not a phone number or SIP address.")
    lower = raw.lower()
    if lower.startswith(("sip:", "sips:")):
        return _sip_uri(raw)
    if lower.startswith("tel:"):
        raw = raw[4:].split(";", 1)[0]
    elif lower.startswith("callto:"):
        raw = raw[7:].lstrip("/")
        if "@" in raw:
            return _sip_uri("sip:" + raw)
    compact = re.sub(r"[\s\-.()/]", "", raw)
    if _EXTENSION.match(compact) and not compact.startswith("+") and len(compact) <= 6:
        return DialTarget(display=compact, user=compact)
    if not _DIAL_CHARS.match(raw):
        raise InvalidNumber(f"“{_preview(raw)}” is not a phone number or SIP address.")
    region = (default_country or "").upper() or None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(
            f"“{_preview(raw)}” is not a phone number"
            + ("" if raw.startswith("+") else " (add the country code, e.g. +44…)")
            + "."
        ) from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(f"“{_preview(raw)}” has the wrong number of digits for a phone number.")
    # An extension ("x123") is not dialled: PBX-style "number;ext" is not universal, so the main number is
    # called and the rep keys the extension as DTMF.
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return DialTarget(display=e164, user=e164)


def _sip_uri(raw: str) -> DialTarget:
    scheme, _, rest = raw.partition(":")
    raw = scheme.lower() + ":" + rest
    m = SIP_URI.match(raw)
    if not m:
        raise InvalidNumber(f"“{_preview(raw)}” is not a valid SIP address.")
    port = m.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise InvalidNumber(f"“{_preview(raw)}” has an invalid port.")
    for param in filter(None, (m.group("params") or "").split(";")):
        name, _, value = param.partition("=")
        if name.lower() not in _URI_PARAMS or (name.lower() == "transport" and value.lower() not in _TRANSPORTS):
            # maddr= and friends would send the call somewhere the address does not say
            raise InvalidNumber(f"“{_preview(raw)}”: the URI parameter “{name[:20]}” is not allowed.")
    scheme = m.group("scheme").lower()
    uri = scheme + raw[len(scheme):]
    return DialTarget(display=uri, user=None, uri=uri)


def _preview(raw: str) -> str:
    return raw if len(raw) <= 40 else raw[:37] + "…"


def display_remote(uri_or_user: str) -> str:
    """What the rep sees for a URI from the wire (``"Bob" <sip:+1555@host>`` → ``+1555``): the number when the
    user part is one, else the URI. Parsed as a name-addr, so text inside a quoted display name never counts."""
    na = parse_name_addr(uri_or_user)
    return caller_number(na.uri) if na is not None else clean_text(uri_or_user, 128)


def display_name(header: str) -> str:
    """The (cleaned) display name of a From/To header, or ''."""
    na = parse_name_addr(header)
    return na.display if na is not None else ""
