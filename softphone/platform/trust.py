"""Certificate-trust seam: the exact commands that make this user's browsers trust our local CA.

Returned as data (argv tuples) so ``softphone cert install --dry-run`` prints them and the CLI reports exactly
what it ran. Linux keeps its NSS/system-store steps in softphone.widget.certs.
"""

from __future__ import annotations

from pathlib import Path

from softphone.platform import OSName


def login_keychain(home: Path) -> Path:
    return home / "Library" / "Keychains" / "login.keychain-db"


def install_argv(os_name: OSName, ca: Path, home: Path) -> list[tuple[str, ...]]:
    """Commands trusting ``ca`` for the current user (no admin rights); empty on Linux (see certs.py)."""
    if os_name == "win32":
        return [("certutil", "-user", "-addstore", "Root", str(ca))]
    if os_name == "darwin":
        return [("security", "add-trusted-cert", "-r", "trustRoot", "-k", str(login_keychain(home)), str(ca))]
    return []


def uninstall_argv(os_name: OSName, ca: Path, nickname: str) -> list[tuple[str, ...]]:
    if os_name == "win32":
        return [("certutil", "-user", "-delstore", "Root", nickname)]
    if os_name == "darwin":
        return [("security", "remove-trusted-cert", str(ca))]
    return []
