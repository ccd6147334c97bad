"""Passwords live only in the OS keyring (service ``softphone``, key = account name).

Never written to config, logs, history or process arguments. Tests point ``PYTHON_KEYRING_BACKEND`` at a
file backend in a temp dir.

The HubSpot private-app access token (CRM logging, caller lookup) lives under ``hubspot:access-token``;
``SOFTPHONE_HUBSPOT_TOKEN`` in the environment overrides it (headless machines and CI, where no keyring
runs).
"""

from __future__ import annotations

import logging
import os

import keyring
import keyring.errors

from softphone.errors import SecretError

SERVICE = "softphone"
HUBSPOT_KEY = "hubspot:developer-api-key"
HUBSPOT_TOKEN_KEY = "hubspot:access-token"
HUBSPOT_TOKEN_ENV = "SOFTPHONE_HUBSPOT_TOKEN"

log = logging.getLogger(__name__)


def read_password(account: str) -> str | None:
    """The stored password, None when there is none; raises ``SecretError`` when the keyring itself cannot be
    reached (locked, no backend), so that a missing keyring is never mistaken for a wrong password."""
    try:
        return keyring.get_password(SERVICE, account)
    except (keyring.errors.KeyringError, RuntimeError) as exc:
        raise SecretError(f"The keyring is unavailable ({type(exc).__name__}): unlock or install one "
                          "(e.g. gnome-keyring), then restart the softphone.") from None


def get_password(account: str) -> str | None:
    """``read_password``, with an unreachable keyring logged and read as "no password"."""
    try:
        return read_password(account)
    except SecretError as exc:
        log.error("reading the password of %r: %s", account, exc.message)
        return None


def set_password(account: str, password: str) -> None:
    if not password:
        raise SecretError("Empty password refused.")
    try:
        keyring.set_password(SERVICE, account, password)
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"Could not store the password in the keyring ({type(exc).__name__}). "
                          "Install/unlock a keyring (e.g. gnome-keyring) and try again.") from None


def delete_password(account: str) -> bool:
    try:
        keyring.delete_password(SERVICE, account)
        return True
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"Could not reach the keyring ({type(exc).__name__}).") from None


def backend_name() -> str:
    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"


def hubspot_token_source() -> str | None:
    """Where the HubSpot access token comes from: "env", "keyring" or None (not connected)."""
    if os.environ.get(HUBSPOT_TOKEN_ENV, "").strip():
        return "env"
    return "keyring" if get_password(HUBSPOT_TOKEN_KEY) else None


def get_hubspot_token() -> str | None:
    """The private-app access token: ``SOFTPHONE_HUBSPOT_TOKEN`` if set, else the keyring; None if neither."""
    env = os.environ.get(HUBSPOT_TOKEN_ENV, "").strip()
    if env:
        return env
    return get_password(HUBSPOT_TOKEN_KEY) or None


def set_hubspot_token(token: str) -> None:
    if not token.strip():
        raise SecretError("Empty access token refused.")
    try:
        keyring.set_password(SERVICE, HUBSPOT_TOKEN_KEY, token.strip())
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"Could not store the HubSpot token in the keyring ({type(exc).__name__}). Unlock a "
                          f"keyring, or set {HUBSPOT_TOKEN_ENV} in the environment instead.") from None


def delete_hubspot_token() -> bool:
    """Forget the stored token; False when there was none."""
    return delete_password(HUBSPOT_TOKEN_KEY)
