"""The desktop single-instance protocol over both transports (the TCP one is what Windows uses)."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from softphone.desktop.instance import InstanceLock, WindowServer, forward, socket_path


def _echo(seen: list[dict[str, Any]]) -> Any:
    def handler(req: dict[str, Any]) -> dict[str, Any]:
        seen.append(req)
        return {"ok": True, "result": {"echo": req.get("target")}}
    return handler


def test_forward_reaches_the_window_and_is_private(transport: str, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    assert forward(tmp_path, {"op": "focus"}) is None          # nothing published yet
    socket_path(tmp_path).write_text("stale")                   # a leftover from a crash: replaced on start
    assert forward(tmp_path, {"op": "focus"}) is None
    lock = InstanceLock.try_acquire(tmp_path)
    assert lock is not None and InstanceLock.try_acquire(tmp_path) is None
    server = WindowServer(tmp_path, _echo(seen))
    server.start()
    try:
        published = socket_path(tmp_path)
        assert published.name == ("window.sock" if transport == "unix" else "window.port")
        assert stat.S_IMODE(published.stat().st_mode) == 0o600
        assert forward(tmp_path, {"op": "dial", "target": "tel:+1"}) == {"ok": True, "result": {"echo": "tel:+1"}}
        assert seen == [{"op": "dial", "target": "tel:+1"}]       # the secret never reaches the handler
    finally:
        server.stop()
        lock.release()
    assert not socket_path(tmp_path).exists()
    assert forward(tmp_path, {"op": "focus"}) is None


def test_tcp_window_refuses_requests_without_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any local user can reach a loopback port: without the secret from the user-only file, nothing happens."""
    monkeypatch.setenv("SOFTPHONE_CONTROL_TRANSPORT", "tcp")
    seen: list[dict[str, Any]] = []
    server = WindowServer(tmp_path, _echo(seen))
    server.start()
    try:
        info = json.loads(socket_path(tmp_path).read_text())
        for extra in ({}, {"secret": "guess"}):
            with socket.create_connection(("127.0.0.1", info["port"]), timeout=10) as s:
                s.sendall(json.dumps({"op": "dial", "target": "tel:+1", **extra}).encode() + b"\n")
                assert s.recv(4096) == b""                       # closed without an answer
        assert seen == []
        assert forward(tmp_path, {"op": "focus"}) == {"ok": True, "result": {"echo": None}}
        assert seen == [{"op": "focus"}]
    finally:
        server.stop()
