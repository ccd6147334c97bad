"""Single instance: the lock, the user-only socket and the one-line JSON protocol (no display needed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from softphone.desktop.instance import InstanceLock, WindowServer, forward, socket_path


def test_forward_without_window_is_none(tmp_path: Path) -> None:
    assert forward(tmp_path, {"op": "focus"}) is None
    socket_path(tmp_path).write_text("stale")          # a leftover file, nobody listening
    assert forward(tmp_path, {"op": "focus"}) is None


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first = InstanceLock.try_acquire(tmp_path)
    assert first is not None
    assert InstanceLock.try_acquire(tmp_path) is None
    first.release()
    again = InstanceLock.try_acquire(tmp_path)
    assert again is not None
    again.release()


def test_server_answers_and_is_private(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def handler(req: dict[str, Any]) -> dict[str, Any]:
        seen.append(req)
        if req.get("op") == "boom":
            raise RuntimeError("kaput")
        return {"ok": True, "result": {"echo": req.get("target")}}

    socket_path(tmp_path).write_text("stale")           # replaced on start (we hold the lock)
    server = WindowServer(tmp_path, handler)
    server.start()
    try:
        mode = stat.S_IMODE(os.stat(socket_path(tmp_path)).st_mode)
        assert mode == 0o600
        assert forward(tmp_path, {"op": "dial", "target": "tel:+1"}) == {"ok": True, "result": {"echo": "tel:+1"}}
        bad = forward(tmp_path, {"op": "boom"})
        assert bad is not None and not bad["ok"] and "kaput" in bad["error"]["message"]
        assert seen[0] == {"op": "dial", "target": "tel:+1"}
    finally:
        server.stop()
    assert not socket_path(tmp_path).exists()
    assert forward(tmp_path, {"op": "focus"}) is None
