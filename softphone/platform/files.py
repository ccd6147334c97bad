"""File protection seam: "only this user may read it" on every platform.

POSIX: modes 0600/0700. Windows ignores modes, so there the file gets an explicit ACL through ``icacls``
(inheritance removed, full control for the current user only). The command runner is injectable so the
Windows variant runs, and is tested, on Linux with a fake that records what would have been run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from softphone.platform import OSName, current

Runner = Callable[[Sequence[str]], int]


class Protection(Protocol):
    def protect_file(self, path: Path) -> None: ...

    def protect_dir(self, path: Path) -> None: ...


class PosixProtection:
    """Linux and macOS: the classic modes."""

    def protect_file(self, path: Path) -> None:
        os.chmod(path, 0o600)

    def protect_dir(self, path: Path) -> None:
        os.chmod(path, 0o700)


def _run(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv), capture_output=True, check=False).returncode


def windows_user() -> str:
    """``DOMAIN\\user`` as icacls wants it (plain ``user`` outside a domain session)."""
    user = os.environ.get("USERNAME") or os.environ.get("USER") or "user"
    domain = os.environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if domain else user


class WindowsAclProtection:
    """Windows: replace the inherited ACL with one entry, full control for the current user."""

    def __init__(self, runner: Runner | None = None, user: str | None = None) -> None:
        self._runner = runner or _run
        self.user = user or windows_user()
        self.commands: list[list[str]] = []   # exactly what was run, for `doctor` and for tests

    def _icacls(self, path: Path, grant: str) -> None:
        argv = ["icacls", str(path), "/inheritance:r", "/grant:r", f"{self.user}:{grant}"]
        self.commands.append(argv)
        rc = self._runner(argv)
        if rc != 0:
            raise PermissionError(f"could not make {path} private to {self.user}: icacls exited {rc}")

    def protect_file(self, path: Path) -> None:
        self._icacls(path, "(F)")

    def protect_dir(self, path: Path) -> None:
        # (OI)(CI): files and folders created inside inherit the user-only entry
        self._icacls(path, "(OI)(CI)(F)")


def protection_for(os_name: OSName | None = None, runner: Runner | None = None) -> Protection:
    if (os_name or current()) == "win32":
        return WindowsAclProtection(runner)
    return PosixProtection()


def write_private(path: Path, text: str, protection: Protection | None = None) -> None:
    """Write ``text`` so that no other user ever sees it, and no reader sees half of it.

    The temporary file is created user-only (mode 0600, then the platform protection) BEFORE the secret is
    written, then renamed over ``path`` (atomic on both NTFS and POSIX file systems).
    """
    prot = protection or protection_for()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.close(fd)
        prot.protect_file(tmp)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
