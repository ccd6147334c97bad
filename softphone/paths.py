"""Where things live. Deliberately light (no pydantic, no phonenumbers) so ``softphone ctl`` starts fast.

``SOFTPHONE_CONFIG`` overrides the config file, ``SOFTPHONE_DATA_DIR`` the data directory (history, logs,
certificates, control socket and token)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from platformdirs import user_config_dir, user_data_dir

APP_NAME = "softphone"


def config_path() -> Path:
    env = os.environ.get("SOFTPHONE_CONFIG")
    return Path(env) if env else Path(user_config_dir(APP_NAME)) / "config.toml"


def data_path() -> Path:
    env = os.environ.get("SOFTPHONE_DATA_DIR")
    return Path(env) if env else Path(user_data_dir(APP_NAME))


def data_dir() -> Path:
    """The data directory, created private to the user (0700; on Windows a user-only ACL when created)."""
    p = data_path()
    existed = p.is_dir()
    p.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        if not existed:   # icacls is a process start: once, when the directory is new (children inherit)
            from softphone.platform.files import protection_for

            with contextlib.suppress(OSError):
                protection_for().protect_dir(p)
    else:
        with contextlib.suppress(OSError):
            p.chmod(0o700)
    return p
