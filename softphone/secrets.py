"""Passwords live only in the OS keyring (service ``softphone``, key = account name).

Never written to config, logs, history or process arguments. Tests point ``PYTHON_KEYRING_BACKEND`` at a
file backend in a temp dir.
"""

from __future__ import annotations

import logging

import keyring
import keyring.errors

from softphone.errors import SecretError

SERVICE = "softphone"
HUBSPOT_KEY = "hubspot:developer-api-key"

log = logging.getLogger(__name__)


def get_password(account: str) -> str | None:
    try:
        return keyring.get_password(SERVICE, account)
    except keyring.errors.KeyringError as exc:
        log.error("keyring unavailable while reading the password of %r: %s", account, type(exc).__name__)
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
