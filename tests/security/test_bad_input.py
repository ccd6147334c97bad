"""Odd and hostile input at every door gets a clear 4xx / error — never a 500, a dropped socket or a crash."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from softphone.widget import service as widget_service
from softphone.widget.service import WidgetService
from tests.peers import EngineProcess, Sipp, account_toml, engine_config, free_port, running
from tests.widget.support import make_engine
from tests.widget.test_server import Server, free_tcp_port

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------ the control API of a real engine


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("softphone", timeout=10)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def post(e: EngineProcess, name: str, body: bytes) -> tuple[int, dict]:
    conn = UnixHTTP(e.data_dir / "ctl.sock")
    token = (e.data_dir / "ctl.token").read_text().strip()
    conn.request("POST", f"/v1/command/{name}", body=body,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    data = json.loads(r.read())
    conn.close()
    return r.status, data


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory) -> EngineProcess:
    e = EngineProcess(tmp_path_factory.mktemp("odd"), engine_config(demo="on"))
    with running(e.start(watch_events=False)):
        yield e


def test_oversized_body_is_refused(demo_engine: EngineProcess) -> None:
    conn = UnixHTTP(demo_engine.data_dir / "ctl.sock")
    token = (demo_engine.data_dir / "ctl.token").read_text().strip()
    conn.request("POST", "/v1/command/status", body=b"[" * 200000,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert conn.getresponse().status == 413
    conn.close()
    assert post(demo_engine, "status", b"{}")[0] == 200


@pytest.mark.parametrize(("name", "body", "status", "code"), [
    ("mute", b'{"muted": "false"}', 400, "bad_args"),
    ("dial", b'{"number": 1e400}', 400, "bad_args"),
    ("hangup", b'{"call_id": "' + b"9" * 5000 + b'"}', 400, "bad_args"),
    ("settings_save", b'{"settings": ' + b'{"a": ' * 50 + b"1" + b"}" * 50 + b"}", 400, "bad_args"),
    ("status", b"[" * 5000 + b"]" * 5000, 400, "bad_json"),           # deeper than the parser goes
    ("status", b"\xff\xfe not json", 400, "bad_json"),
    ("history", b'{"limit": 0}', 400, "bad_args"),
    ("nope", b"{}", 404, "unknown_command"),
    ("dial", b'{"number": "sip:bob@203.0.113.9;maddr=198.51.100.1"}', 400, "invalid_number"),
    ("account_save", b'{"account": {"name": "x", "sip_uri": "sip:a@b", "auth_username": "a\\r\\nX-Evil: 1"}}',
     400, "error"),
])
def test_control_api_refuses_odd_values_cleanly(demo_engine: EngineProcess, name: str, body: bytes, status: int,
                                                code: str) -> None:
    got, data = post(demo_engine, name, body)
    assert (got, data["ok"], data["error"]["code"]) == (status, False, code), data
    assert data["error"]["message"]
    assert post(demo_engine, "status", b"{}")[0] == 200          # and the engine is fine


def test_history_search_is_literal_and_limit_checked(demo_engine: EngineProcess) -> None:
    out = demo_engine.ctl("dial", number="+14155550100")
    demo_engine.ctl("hangup", call_id=out["call_id"])
    assert demo_engine.ctl("history", query="%")["calls"] == []            # % is not a wildcard
    assert demo_engine.ctl("history", query="555")["calls"]
    r = demo_engine.cli("history", "--limit", "0")
    assert r.returncode == 2 and "at least 1" in r.stderr


def test_user_agent_carries_no_version(tmp_path: Path) -> None:
    sipp = Sipp("uas_486", workdir=tmp_path).start()
    e = EngineProcess(tmp_path / "ua", engine_config(account_toml("trunk", "rep", None, auth=False,
                                                                  proxy=f"sip:127.0.0.1:{sipp.port}")))
    with running(sipp, e.start(watch_events=False)):
        e.ctl("dial", number="+14155550100")
        from tests.peers import wait_for
        wait_for(lambda: "User-Agent:" in sipp.messages(), 10, what="INVITE at sipp")
        ua = next(line for line in sipp.messages().splitlines() if line.startswith("User-Agent:"))
        assert ua.strip() == "User-Agent: Softphone", ua


# ------------------------------------------------------------------ keyring unavailable


def test_keyring_unavailable_is_said_as_such(tmp_path: Path) -> None:
    cfg = engine_config(account_toml("office", "dave", None, proxy=f"sip:127.0.0.1:{free_port()}"))
    e = EngineProcess(tmp_path / "kr", cfg, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    with running(e.start(watch_events=False)):
        acc = next(a for a in e.status()["accounts"] if a["name"] == "office")
        assert acc["registration"] == "FAILED" and "keyring is unavailable" in acc["reason"], acc
        doctor = e.cli("doctor")
        assert "keyring is unavailable" in doctor.stdout
    listed = e.cli("account", "list")
    assert "keyring is unavailable" in listed.stdout, listed.stdout


def test_non_utf8_config_names_the_file(tmp_path: Path) -> None:
    e = EngineProcess(tmp_path / "bad", "")
    (tmp_path / "bad" / "config.toml").write_bytes(b'demo_line = "on"\nx = "\xff"\n')
    r = subprocess.run([sys.executable, "-m", "softphone", "serve"], env=e.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "config.toml" in r.stderr and "not UTF-8" in r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ the widget server


@pytest.fixture
async def widget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    monkeypatch.setattr(widget_service, "HEADER_TIMEOUT_S", 0.5)
    engine = make_engine(tmp_path, port=free_tcp_port())
    svc = WidgetService()
    await svc.start(engine)
    try:
        yield Server(engine, svc)
    finally:
        await svc.stop()
        engine.history.close()


async def _tls(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx = ssl.create_default_context(cafile=str(server.service.certs.ca))  # type: ignore[union-attr]
    return await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx, server_hostname="localhost")


async def test_slow_client_is_dropped_after_the_header_timeout(widget: Server) -> None:
    reader, writer = await _tls(widget)
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n")         # never finishes its headers
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)                  # the server closes it
    assert data == b""
    assert widget.service._conn_guard is not None and widget.service._conn_guard.timed_out == 1
    status, _, _ = await widget.get("/", {"Sec-Fetch-Dest": "iframe"})
    assert status == 200                                              # everyone else is served


async def test_connections_per_peer_are_capped(widget: Server) -> None:
    guard = widget.service._conn_guard
    assert guard is not None
    conns = [await _tls(widget) for _ in range(guard.per_peer)]
    reader, writer = await _tls(widget)
    assert await asyncio.wait_for(reader.read(), 5) == b""            # the one too many is closed at once
    assert guard.refused == 1
    for _, w in conns:
        w.close()
    writer.close()


async def test_websocket_odd_frames_get_an_error_not_a_drop(widget: Server) -> None:
    status, ws, session = await widget.ws(origin=f"https://localhost:{widget.port}", token=widget.token)
    assert status == 101 and ws is not None
    try:
        await ws.receive_json(timeout=5)                               # hello
        await ws.send_str("[" * 5000 + "]" * 5000)
        err = await ws.receive_json(timeout=5)
        assert err["type"] == "error" and err["error"]["code"] == "bad_frame"
        for frame, code in (({"type": "command", "name": "mute", "args": {"muted": "false"}, "req": 1}, "bad_args"),
                            ({"type": "command", "name": "hangup", "args": {"call_id": "9" * 5000}, "req": 2},
                             "bad_args"),
                            ({"type": "command", "name": "account_save", "args": {"account": {}}, "req": 3},
                             "forbidden"),
                            ({"type": "dial", "payload": {"phoneNumber": 1e308 * 10}, "req": 4}, "bad_sdk_payload")):
            await ws.send_str(json.dumps(frame))
            while True:
                reply = await ws.receive_json(timeout=5)
                if reply.get("type") == "reply" and reply.get("req") == frame["req"]:
                    break
            assert reply["ok"] is False and reply["error"]["code"] == code, reply
        assert not ws.closed
    finally:
        await ws.close()
        await session.close()


def test_links_wait_for_the_rep_unless_told_otherwise(tmp_path: Path) -> None:
    """A tel: link (a web page can open one) never places a call on its own; confirm_link_dial = false does."""
    for confirm, expect_call in ((True, False), (False, True)):
        cfg = engine_config(demo="on", extra="" if confirm else "confirm_link_dial = false\n")
        e = EngineProcess(tmp_path / f"links-{confirm}", cfg, env={"DISPLAY": "", "WAYLAND_DISPLAY": "",
                                                                   "QT_QPA_PLATFORM": ""})
        with running(e.start(watch_events=False)):
            r = e.cli("tel:+1-415-555-0100")
            calls = e.status()["calls"]
            if expect_call:
                assert r.returncode == 0 and len(calls) == 1 and calls[0]["remote"] == "+14155550100", r.stderr
            else:
                assert r.returncode == 1 and "was not dialled" in r.stderr and calls == [], r.stderr
                assert "+14155550100" in r.stderr
