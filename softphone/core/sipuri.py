"""The one SIP-URI rule, shared by the config (account URIs) and the dialler (numbers.py).

user@host[:port][;params] with RFC 3261 unreserved-ish characters only: no headers (``?``), no brackets, no
spaces, no quotes, so nothing validated here can inject into a SIP message. Kept apart from numbers.py so that
reading the config does not load phonenumbers' metadata.
"""

from __future__ import annotations

import re

SIP_URI = re.compile(
    r"^(?P<scheme>sips?):(?:(?P<user>[A-Za-z0-9\-_.!~*'()&=+$,%]+)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<params>(?:;[A-Za-z0-9\-_.!~*'%]+(?:=[A-Za-z0-9\-_.!~*'%]+)?)*)$"
)
