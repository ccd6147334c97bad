"""Platform seams: every piece that differs between Linux, macOS and Windows lives here, one module each.

The rest of the package imports only these modules, never a POSIX-only (``fcntl``, ``termios``, ``pwd``,
``grp``, ``resource``) or Windows-only (``winreg``, ``msvcrt``, ``_winapi``) module: a test walks the package to
keep it so, and ``make check`` type-checks the whole package for ``win32`` and ``darwin`` as well. Each seam picks
its variant at start-up from ``sys.platform`` (mypy understands those checks), and every variant that can run on
Linux (TCP control transport, ACL commands, registry and plist writers) is exercised by tests/platform.

- ``files``: user-only protection of files and directories (POSIX modes / a Windows ACL via ``icacls``),
  atomic private writes.
- ``transport``: the control channel and single-instance endpoints (Unix socket / loopback TCP + secret).
- ``lock``: the single-instance file lock (``flock`` / ``msvcrt.locking``).
- ``trust``: the commands that make the OS trust our local CA.
- ``links``: tel:/sip:/callto: handler registration (HKCU registry / Info.plist CFBundleURLTypes).
- ``hints``: platform notes for ``softphone doctor`` (macOS Input Monitoring for headsets).
"""

from __future__ import annotations

import sys
from typing import Literal

OSName = Literal["linux", "darwin", "win32"]


def current() -> OSName:
    """The platform the seams pick for; anything not Windows or macOS gets the Linux (POSIX) variant."""
    if sys.platform == "win32":
        return "win32"
    if sys.platform == "darwin":
        return "darwin"
    return "linux"
