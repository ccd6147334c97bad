"""The SAME control-API tests over both transports, plus what is particular to the TCP (Windows) variant."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import httpx

from softphone.control.client import ControlClient
from tests.integration import test_engine_lifecycle as lifecycle
from tests.peers import engine_env

# --- the integration suite's control-API tests, run unchanged over the transport under test


def test_demo_line_over_transport(engine_factory) -> None:
    lifecycle.test_demo_line_with_no_config(engine_factory)


def test_ctl_cli_over_transport(engine_factory) -> None:
    lifecycle.test_ctl_cli_end_to_end(engine_factory)


def test_single_instance_over_transport(engine_factory) -> None:
    lifecycle.test_single_instance(engine_factory)


def test_ctl_without_engine_over_transport(transport, tmp_path) -> None:
    lifecycle.test_ctl_without_engine_says_so(tmp_path)


# --- what each transport publishes, and that it really is the transport asked for


def test_engine_publishes_the_chosen_transport(engine_factory, transport) -> None:
    eng = engine_factory("")
    sock, port = eng.data_dir / "ctl.sock", eng.data_dir / "ctl.port"
    token = (eng.data_dir / "ctl.token").read_text().strip()
    assert stat.S_IMODE((eng.data_dir / "ctl.token").stat().st_mode) == 0o600
    if transport == "unix":
        assert sock.exists() and not port.exists()
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        client = httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://x")
    else:
        assert port.exists() and not sock.exists()
        assert stat.S_IMODE(port.stat().st_mode) == 0o600     # the user-only file (an ACL on Windows)
        info = json.loads(port.read_text())
        assert info["host"] == "127.0.0.1" and info["pid"] == eng.proc.pid and len(info["secret"]) >= 32
        client = httpx.Client(base_url=f"http://127.0.0.1:{info['port']}")
    with client as c:
        # a reachable endpoint is not enough: the per-install token is required on both transports
        assert c.post("/v1/command/dial", json={"number": "+14155552671"},
                      headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/v1/ping").status_code == 401
        ok = c.get("/v1/ping", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["pid"] == eng.proc.pid
    assert eng.status()["calls"] == []
    eng.stop()
    # a clean stop unpublishes the endpoint, so the next client says "not running" instead of hanging
    assert not sock.exists() and not port.exists()
    assert not ControlClient(eng.data_dir).is_running()


def test_stale_port_file_means_not_running(tmp_path, monkeypatch) -> None:
    """A port file left by a crashed engine (nobody listens there): `ctl` says not running, exit 3."""
    monkeypatch.setenv("SOFTPHONE_CONTROL_TRANSPORT", "tcp")
    env = engine_env(tmp_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_port = s.getsockname()[1]
    s.close()
    (data / "ctl.port").write_text(json.dumps({"host": "127.0.0.1", "port": dead_port, "pid": 1, "secret": "x"}))
    (data / "ctl.token").write_text("t" * 43)
    os.chmod(data / "ctl.token", 0o600)
    r = subprocess.run([sys.executable, "-m", "softphone", "ctl", "status"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 3 and "not running" in r.stderr
