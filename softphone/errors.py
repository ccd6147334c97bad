"""Exception tree. Everything the user can cause derives from ``SoftphoneError`` and carries a message
that is safe and useful to show as-is (CLI, window, HubSpot ``sendError``).

    SoftphoneError
    ├── ConfigError            broken or missing configuration (names file and field)
    ├── SecretError            keyring unavailable / password missing
    ├── PhoneError             a call command that cannot be carried out
    │   ├── InvalidNumber      not a phone number, extension or SIP URI: never reaches the wire
    │   ├── NotRegistered      the account cannot place calls right now
    │   ├── UnknownAccount
    │   └── NoSuchCall         no call in a state the command applies to
    └── EngineNotRunning       ctl/window could not reach a running engine
"""

from __future__ import annotations


class SoftphoneError(Exception):
    """Base of every user-facing error; ``code`` is a stable machine-readable tag."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(SoftphoneError):
    code = "config"


class SecretError(SoftphoneError):
    code = "secret"


class PhoneError(SoftphoneError):
    code = "phone"


class InvalidNumber(PhoneError):
    code = "invalid_number"


class NotRegistered(PhoneError):
    code = "not_registered"


class UnknownAccount(PhoneError):
    code = "unknown_account"


class NoSuchCall(PhoneError):
    code = "no_such_call"


class EngineNotRunning(SoftphoneError):
    code = "not_running"


ERRORS_BY_CODE: dict[str, type[SoftphoneError]] = {
    cls.code: cls
    for cls in (
        SoftphoneError, ConfigError, SecretError, PhoneError, InvalidNumber,
        NotRegistered, UnknownAccount, NoSuchCall, EngineNotRunning,
    )
}
