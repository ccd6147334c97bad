"""Single-instance lock seam: an exclusive lock on a file, released by the OS when the process dies.

POSIX uses ``flock``; Windows ``msvcrt.locking`` on the first byte. The OS modules are imported inside the
functions so importing this module never needs them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import IO


def _lock(fh: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    else:
        import fcntl

        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def _unlock(fh: IO[str]) -> None:
    if sys.platform == "win32":
        import msvcrt

        with contextlib.suppress(OSError):
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class FileLock:
    """Held for the life of the process; ``try_acquire`` returns None when another process holds it."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh

    @classmethod
    def try_acquire(cls, path: Path) -> FileLock | None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+", encoding="utf-8")
        if not _lock(fh):
            fh.close()
            return None
        if sys.platform != "win32":   # Windows: the locked byte cannot be rewritten through another handle
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
        return cls(fh)

    def release(self) -> None:
        _unlock(self._fh)
        self._fh.close()
