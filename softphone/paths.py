"""Where things live. Deliberately light (no pydantic, no phonenumbers) so ``softphone ctl`` starts fast.

``SOFTPHONE_CONFIG`` overrides the config file, ``SOFTPHONE_DATA_DIR`` the data directory (history, logs,
certificates, control socket and token)."""

from __future__ import annotations

import contextlib
import os
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
    """The data directory, created private to the user (0700)."""
    p = data_path()
    p.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        p.chmod(0o700)
    return p
