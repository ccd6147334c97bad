"""Who is calling, read from SIP headers the way RFC 3261 parses them — never from text a caller chose.

A From header is ``[display-name] <uri>`` or a bare URI. The display name is free text under the caller's
control: ``"<sip:+14155550132@pbx>" <sip:+19995550000@pbx>`` must identify +19995550000, not the number written
inside the quotes. ``parse_name_addr`` walks the quoted string (with its backslash escapes) before looking for
the ``<``. Display names are cleaned before they reach history, the window, HubSpot or a log: invalid UTF-8
replaced, control and bidi-override characters removed, length bounded.

Pure functions, no I/O: table-tested with hostile headers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_DISPLAY_NAME = 64
MAX_HEADER = 2048
# Unicode format characters that reorder or hide text (bidi overrides/isolates, zero-width joiners …)
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


@dataclass(frozen=True)
class NameAddr:
    display: str      # cleaned display name ('' when none)
    uri: str          # the URI between < > (or the bare URI), without header parameters


def clean_text(value: str, limit: int = MAX_DISPLAY_NAME) -> str:
    """Text from the wire made safe to show and store: valid UTF-8, no control/format characters, bounded."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    out = "".join(" " if ch in "\t\r\n" else ch for ch in text if unicodedata.category(ch) not in _INVISIBLE
                  or ch in "\t\r\n")
    out = re.sub(r"\s+", " ", out).strip()
    if len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def _quoted(s: str, i: int) -> tuple[str, int] | None:
    """Parse a quoted-string starting at ``s[i] == '"'``; returns (content, index after the closing quote)."""
    out: list[str] = []
    j = i + 1
    while j < len(s):
        ch = s[j]
        if ch == "\\" and j + 1 < len(s):
            out.append(s[j + 1])
            j += 2
            continue
        if ch == '"':
            return "".join(out), j + 1
        out.append(ch)
        j += 1
    return None   # unterminated: not a valid name-addr


def parse_name_addr(header: str) -> NameAddr | None:
    """Parse a From / To / P-Asserted-Identity value. None when it is not a name-addr or addr-spec."""
    s = header[:MAX_HEADER].strip()
    if not s:
        return None
    display = ""
    i = 0
    if s[0] == '"':
        q = _quoted(s, 0)
        if q is None:
            return None
        display, i = q
        rest = s[i:].lstrip()
        if not rest.startswith("<"):
            return None
        i = len(s) - len(rest)
    lt = s.find("<", i)
    if lt >= 0:
        if not display:
            display = s[i:lt].strip()
        gt = s.find(">", lt + 1)
        if gt < 0:
            return None
        uri = s[lt + 1: gt].strip()
    else:
        # addr-spec: the URI runs to the first ';' (header parameters such as ;tag= are not part of it)
        uri = s[i:].split(";", 1)[0].strip()
    if not re.match(r"^(sips?|tel):", uri, re.IGNORECASE) or any(c in uri for c in ' "<>'):
        return None
    return NameAddr(clean_text(display), uri)


def uri_user(uri: str) -> str:
    """The user part of a sip:/sips:/tel: URI ('' when there is none)."""
    scheme, _, body = uri.partition(":")
    if scheme.lower() == "tel":
        return body.split(";", 1)[0]
    body = body.split(";", 1)[0].split("?", 1)[0]
    return body.split("@", 1)[0] if "@" in body else ""


def caller_number(uri: str) -> str:
    """What the rep should see for a caller's URI: the phone number when the user part is one, else the URI."""
    user = uri_user(uri)
    compact = re.sub(r"[\s\-.()]", "", user)
    if compact and re.fullmatch(r"\+?[0-9]{3,16}", compact):
        return compact
    return uri.split(";", 1)[0].split("?", 1)[0]


def identify(from_header: str, asserted: str | None = None) -> tuple[str, str]:
    """(number or URI, display name) of a caller. A P-Asserted-Identity (set by the PBX, which the front door
    only lets through from the registrar/proxy) wins over the caller-supplied From."""
    for value in (asserted, from_header):
        if value:
            na = parse_name_addr(value)
            if na is not None:
                fallback = parse_name_addr(from_header) if value is asserted else None
                name = na.display or (fallback.display if fallback else "")
                return caller_number(na.uri), name
    return clean_text(from_header, 128), ""
