"""One account service for every surface that changes accounts: the CLI (``softphone account …``) and the
window's settings page.

Accounts live in the config file (validated by the same pydantic models) and their passwords only in the
keyring. When an engine is running, the change is made *by the engine* (the CLI sends the command over the
control API), so the engine re-registers the account at once; with no engine running, the CLI uses this same
service directly. Either way the rules — unique names, passwords never in the file, a renamed account keeps
its password, removing an account removes its password — are written once, here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from softphone import config as cfg
from softphone import secrets
from softphone.errors import ConfigError, SoftphoneError

log = logging.getLogger(__name__)

# Re-register a changed account in the running engine (``None`` = removed); ``old_name`` = its previous name.
Apply = Callable[[cfg.AccountConfig | None, str | None], None]


def validation_message(exc: ValidationError) -> str:
    """pydantic's errors as one line a rep can act on: ``field: problem; field: problem``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors())


def turn_key(account: str) -> str:
    """Keyring key of an account's TURN password (the SIP password's key is the account name)."""
    return f"{account}:turn"


class AccountService:
    def __init__(self, apply: Apply | None = None) -> None:
        self._apply = apply

    @staticmethod
    def _load() -> cfg.Settings:
        try:
            return cfg.load(env_origins=False)
        except ConfigError as exc:
            raise SoftphoneError(exc.message) from None

    def get(self, name: str) -> cfg.AccountConfig:
        acc = self._load().account(name)
        if acc is None:
            raise SoftphoneError(f"No account named “{name}”.")
        return acc

    def list(self) -> list[dict[str, Any]]:
        """Accounts as JSON, with whether their passwords are in the keyring (never the passwords)."""
        out = []
        for a in self._load().accounts:
            d = a.model_dump(mode="json")
            d["has_password"] = secrets.get_password(a.name) is not None if a.auth_username else None
            d["has_turn_password"] = secrets.get_password(turn_key(a.name)) is not None if a.turn_username else None
            out.append(d)
        return out

    def save(self, data: object, original_name: str | None = None) -> cfg.AccountConfig:
        """Add (``original_name`` None) or change an account; validated, written, applied live."""
        if not isinstance(data, dict):
            raise SoftphoneError("“account” must be an object.")
        clean = {k: v for k, v in data.items() if v not in ("", None) or k == "name"}
        for derived in ("has_password", "has_turn_password", "password"):
            clean.pop(derived, None)   # a password never goes into the config file: use set_password
        try:
            acc = cfg.AccountConfig.model_validate(clean)
        except ValidationError as exc:
            raise SoftphoneError(f"Account not saved: {validation_message(exc)}") from None
        settings = self._load()
        if original_name is None and settings.account(acc.name) is not None:
            raise SoftphoneError(f"An account named “{acc.name}” already exists.")
        if original_name is not None and settings.account(original_name) is None:
            raise SoftphoneError(f"No account named “{original_name}”.")
        others = [a for a in settings.accounts if a.name not in {original_name, acc.name}]
        position = next((i for i, a in enumerate(settings.accounts) if a.name in {original_name, acc.name}),
                        len(others))
        others.insert(position, acc)
        try:
            settings.accounts = others
        except ValidationError as exc:
            raise SoftphoneError(f"Account not saved: {validation_message(exc)}") from None
        cfg.save(settings)
        if original_name and original_name != acc.name:
            for old, new in ((original_name, acc.name), (turn_key(original_name), turn_key(acc.name))):
                pw = secrets.get_password(old)
                if pw is not None:
                    secrets.set_password(new, pw)
                    secrets.delete_password(old)
        self._applied(acc, original_name)
        return acc

    def remove(self, name: object) -> str:
        settings = self._load()
        if not isinstance(name, str) or settings.account(name) is None:
            raise SoftphoneError(f"No account named “{name}”.")
        settings.accounts = [a for a in settings.accounts if a.name != name]
        cfg.save(settings)
        secrets.delete_password(name)
        secrets.delete_password(turn_key(name))
        self._applied(None, name)
        return name

    def set_password(self, name: object, password: object, *, turn: bool = False) -> str:
        """Store the SIP (or TURN) password in the keyring and re-register with it."""
        acc = self.get(name) if isinstance(name, str) else None
        if acc is None:
            raise SoftphoneError(f"No account named “{name}”.")
        if not isinstance(password, str) or not password:
            raise SoftphoneError("Empty password refused.")
        if any(ord(c) < 0x20 for c in password):
            raise SoftphoneError("A password cannot contain control characters (a line break was pasted?).")
        secrets.set_password(turn_key(acc.name) if turn else acc.name, password)
        self._applied(acc, acc.name)
        return acc.name

    def _applied(self, acc: cfg.AccountConfig | None, old_name: str | None) -> None:
        if self._apply is not None:
            self._apply(acc, old_name)
