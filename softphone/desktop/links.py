"""``tel:``, ``sip:``, ``sips:`` and ``callto:`` links handed to ``softphone`` by the desktop (xdg-open).

Pure. A link is only unwrapped here (percent-decoding, ``//`` after ``callto:``); validation and E.164
normalisation stay in the engine (``softphone.core.numbers``), which refuses anything unsafe before the wire.
"""

from __future__ import annotations

from urllib.parse import unquote

SCHEMES = ("tel", "sip", "sips", "callto")
MAX_LINK = 512


def is_link(arg: str) -> bool:
    scheme, sep, _ = arg.partition(":")
    return bool(sep) and scheme.lower() in SCHEMES


def dial_target(link: str) -> str | None:
    """The dial string for the engine's ``dial`` command, or None when ``link`` is not one of ours."""
    if not isinstance(link, str) or len(link) > MAX_LINK or not is_link(link.strip()):
        return None
    link = link.strip()
    scheme, _, rest = link.partition(":")
    scheme = scheme.lower()
    rest = unquote(rest)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in rest):
        return None
    if scheme in ("tel", "callto"):
        rest = rest.lstrip("/")
        if scheme == "tel":
            rest = rest.split(";", 1)[0]
        rest = rest.strip()
        if not rest:
            return None
        return f"{scheme}:{rest}"
    return f"{scheme}:{rest}" if rest else None
