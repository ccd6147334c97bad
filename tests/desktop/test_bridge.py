"""The js_api bridge: forwards allowed commands to the engine client and turns errors into page JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from softphone.desktop.bridge import Bridge
from softphone.desktop.prefs import Prefs
from softphone.errors import InvalidNumber


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def command(self, name: str, **args: Any) -> dict[str, Any]:
        self.calls.append((name, args))
        if args.get("number") == "junk":
            raise InvalidNumber("“junk” is not a phone number or SIP address.")
        if name == "status":
            raise ConnectionRefusedError()
        return {"call_id": "c1", **args}

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        yield {"type": "status", "status": {}}

    def is_running(self) -> bool:
        return True


class FakeShell:
    def __init__(self) -> None:
        self.hidden = self.quitted = self.seen = 0

    def hide_window(self) -> None:
        self.hidden += 1

    def quit(self) -> None:
        self.quitted += 1

    def start_engine(self) -> bool:
        return True

    def missed_seen(self) -> None:
        self.seen += 1

    def shell_info(self) -> dict[str, Any]:
        return {"dark": False, "tray": True}


def make(tmp_path: Path) -> tuple[Bridge, FakeClient, FakeShell]:
    client, shell = FakeClient(), FakeShell()
    return Bridge(client, Prefs(tmp_path), shell), client, shell


def test_commands_are_forwarded(tmp_path: Path) -> None:
    bridge, client, _ = make(tmp_path)
    assert bridge.command("dial", {"number": "+14155552671"}) == {
        "ok": True, "result": {"call_id": "c1", "number": "+14155552671"}}
    assert client.calls == [("dial", {"number": "+14155552671"})]


def test_errors_become_page_json(tmp_path: Path) -> None:
    bridge, _, _ = make(tmp_path)
    assert bridge.command("dial", {"number": "junk"}) == {
        "ok": False, "error": {"code": "invalid_number", "message": "“junk” is not a phone number or SIP address."}}
    assert bridge.command("status")["error"]["code"] == "not_running"


def test_unknown_and_malformed_are_refused_before_the_engine(tmp_path: Path) -> None:
    bridge, client, _ = make(tmp_path)
    assert bridge.command("shutdown")["error"]["code"] == "unknown_command"
    assert bridge.command("dial", ["x"])["error"]["code"] == "bad_request"  # type: ignore[arg-type]
    assert client.calls == []


def test_prefs_and_shell(tmp_path: Path) -> None:
    bridge, _, shell = make(tmp_path)
    hello = bridge.hello()
    assert hello["prefs"] == {"first_run_done": False, "theme": "system"} and hello["tray"] is True
    assert bridge.set_pref("theme", "dark")["result"]["theme"] == "dark"
    assert bridge.set_pref("theme", "pink")["ok"] is False
    assert bridge.set_pref("evil", 1)["ok"] is False
    assert Prefs(tmp_path).get("theme") == "dark"
    bridge.hide_window()
    bridge.missed_seen()
    assert (shell.hidden, shell.seen) == (1, 1)
