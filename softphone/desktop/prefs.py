"""Window-only preferences (first-run guide done, theme override) in ``$DATA_DIR/window.json``.

Phone settings (accounts, audio, widget) belong to the engine's config file and are changed through its
commands; this file only holds what the window itself needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

PREFS_NAME = "window.json"
THEMES = ("system", "light", "dark")
DEFAULTS: dict[str, Any] = {"first_run_done": False, "theme": "system"}


def _valid(key: str, value: Any) -> bool:
    if key == "first_run_done":
        return isinstance(value, bool)
    if key == "theme":
        return value in THEMES
    return False


class Prefs:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PREFS_NAME
        self._values = dict(DEFAULTS)
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._values.update({k: v for k, v in loaded.items() if k in DEFAULTS and _valid(k, v)})

    def get(self, key: str) -> Any:
        return self._values.get(key, DEFAULTS.get(key))

    def all(self) -> dict[str, Any]:
        return dict(self._values)

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS or not _valid(key, value):
            raise ValueError(f"not a window preference: {key}={value!r}")
        self._values[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".window-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._values, fh)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
