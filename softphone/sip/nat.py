"""NAT traversal settings of one pjsua2 account: keep-alives, rewriting of Contact/Via/SDP, STUN, ICE, TURN.

Kept apart from the engine so the rules for reaching a rep behind a home router live in one place: what the
account's config asks for (``stun_servers``, ``ice``, ``turn_*``, ``keepalive_s``) becomes pjsua2's
``AccountConfig.natConfig`` and media transport settings here, and nowhere else.
"""

from __future__ import annotations

from typing import Any

from softphone.config import AccountConfig


def configure_account(acfg: Any, a: AccountConfig, *, bind_address: str | None = None) -> None:
    """Fill ``acfg`` (a ``pjsua2.AccountConfig``) with the account's NAT settings."""
    acfg.natConfig.udpKaIntervalSec = a.keepalive_s
    # RTP on any free port: the default 4000+ range collides with other SIP apps (and every bind
    # failure is a logged retry on the dial path)
    acfg.mediaConfig.transportConfig.port = 0
    if bind_address:
        # an explicit address is the one the peer must use: never rewrite it from what a server saw
        acfg.mediaConfig.transportConfig.boundAddress = bind_address
        acfg.mediaConfig.transportConfig.publicAddress = bind_address
        acfg.natConfig.contactRewriteUse = 0
        acfg.natConfig.viaRewriteUse = 0
        acfg.natConfig.sdpNatRewriteUse = 0
