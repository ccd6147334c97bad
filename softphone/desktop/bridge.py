"""The page's only door to Python: pywebview's ``js_api`` (``window.pywebview.api.*`` in ui/app/api.js).

Every public method here is callable from the page, on a fresh thread per call. Phone actions are
forwarded to the engine through the control API; nothing here holds call state. Keep helpers private
(leading underscore): pywebview exposes every public attribute it finds.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from softphone import __version__, commands
from softphone.desktop.engine import EngineClient, error_payload
from softphone.desktop.prefs import Prefs
from softphone.errors import SoftphoneError

log = logging.getLogger(__name__)

class Shell(Protocol):
    """What the bridge may ask of the desktop shell (window, tray), from any thread."""

    def hide_window(self) -> None: ...
    def quit(self) -> None: ...
    def start_engine(self) -> bool: ...
    def missed_seen(self) -> None: ...
    def shell_info(self) -> dict[str, Any]: ...


class Bridge:
    def __init__(self, client: EngineClient, prefs: Prefs, shell: Shell) -> None:
        self._client = client
        self._prefs = prefs
        self._shell = shell

    def command(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run an engine command.

        Returns ``{"ok": true, "result": …}`` or ``{"ok": false, "error": {code, message}}``.
        """
        try:
            commands.lookup(name, "window")     # the registry says what the page may run
        except SoftphoneError as exc:
            return _error(exc.code, exc.message)
        if args is not None and not isinstance(args, dict):
            return _error("bad_request", "Arguments must be an object.")
        try:
            result = self._client.command(name, **(args or {}))
        except Exception as exc:
            err = error_payload(exc)
            if err["code"] not in ("invalid_number", "not_registered", "no_such_call"):
                log.info("command %s failed: %s", name, err["message"])
            return {"ok": False, "error": err}
        return {"ok": True, "result": result}

    def hello(self) -> dict[str, Any]:
        """Everything the page needs on load: version, preferences, shell capabilities."""
        return {"version": __version__, "prefs": self._prefs.all(), **self._shell.shell_info()}

    def set_pref(self, key: str, value: Any) -> dict[str, Any]:
        try:
            self._prefs.set(key, value)
        except ValueError as exc:
            return {"ok": False, "error": {"code": "bad_request", "message": str(exc)}}
        return {"ok": True, "result": self._prefs.all()}

    def hide_window(self) -> None:
        self._shell.hide_window()

    def quit(self) -> None:
        self._shell.quit()

    def start_engine(self) -> dict[str, Any]:
        return {"ok": True, "result": {"started": self._shell.start_engine()}}

    def missed_seen(self) -> None:
        self._shell.missed_seen()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}
