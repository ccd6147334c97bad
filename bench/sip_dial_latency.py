"""Dial latency: a dial command issued → INVITE received by sipp, ours vs baresip, same sipp, same run.

Ours is measured twice: through the control API (what the window, tel: links and the widget use: one HTTP
request over the Unix socket) and through the full ``softphone ctl dial`` CLI (includes starting Python).
baresip 1.0 (Debian) is driven through its ctrl_tcp module (one netstring JSON command over TCP).
The INVITE arrival time is sipp's own message-log timestamp. Prints a table; never asserts on timing, and
exits non-zero, saying why, when a dial never reached sipp (no INVITE) or baresip is missing.

    .venv/bin/python bench/sip_dial_latency.py [--calls 50]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from peers_bench import fail, require  # noqa: E402

from tests.peers import EngineProcess, Sipp, account_toml, engine_config, free_port, wait_for  # noqa: E402

_STAMP = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n\w+ message received \[\d+\] bytes :\n\nINVITE ",
                    re.M)


def invite_times(sipp: Sipp) -> list[float]:
    return [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp() for m in _STAMP.finditer(sipp.messages())]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def measure(who: str, sipp: Sipp, calls: int, dial: callable, settle: callable) -> list[float]:  # type: ignore[valid-type]
    out: list[float] = []
    for i in range(calls):
        before = len(invite_times(sipp))
        t0 = time.time()
        dial(i)
        try:
            wait_for(lambda n=before: len(invite_times(sipp)) > n, 10, interval=0.002, what="INVITE at sipp")
        except AssertionError:
            raise fail("sip_dial_latency", f"{who}: dial {i + 1} of {calls} never reached sipp (no INVITE in "
                                           "10 s)") from None
        out.append((invite_times(sipp)[before] - t0) * 1000)
        settle()
        time.sleep(0.1)  # pace: closed RTP sockets are freed ~0.5 s later (verified pitfall)
    return out


def ours(work: Path, calls: int, cli_calls: int) -> tuple[list[float], list[float]]:
    sipp = Sipp("uas_486", workdir=work, calls=100000).start()
    eng = EngineProcess(work / "engine", engine_config(
        account_toml("trunk", "rep", None, auth=False, proxy=f"sip:127.0.0.1:{sipp.port}")))
    eng.start(watch_events=False)
    client = eng.client()
    try:
        def idle() -> None:
            wait_for(lambda: client.command("status")["calls"] == [], 10, interval=0.01, what="call ended")

        api = measure("softphone, control API", sipp, calls,
                      lambda i: client.command("dial", number=f"+1415555{i:04d}"), idle)
        cli = measure("softphone, ctl CLI", sipp, cli_calls, lambda i: subprocess.run(
            [sys.executable, "-m", "softphone", "ctl", "dial", f"+1415556{i:04d}"], env=eng.env,
            capture_output=True, check=True), idle)
    finally:
        eng.stop()
        sipp.stop()
    return api, cli


def _netstring(obj: dict[str, str]) -> bytes:
    data = json.dumps(obj).encode()
    return str(len(data)).encode() + b":" + data + b","


def baresip(work: Path, calls: int) -> list[float]:
    sipp = Sipp("uas_486", workdir=work, calls=100000).start()
    conf = work / "baresip"
    conf.mkdir(exist_ok=True)
    sip_port = free_port()
    ctrl = free_port()
    while ctrl in (sip_port, sip_port + 1):  # baresip also listens for TLS on sip port + 1
        ctrl = free_port()
    (conf / "config").write_text(
        f"poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nmodule_path /usr/lib/baresip/modules\n"
        "module g711.so\nmodule ausine.so\nmodule aufile.so\nmodule menu.so\nmodule ctrl_tcp.so\nmodule account.so\n"
        "audio_player aufile,/dev/null\naudio_source ausine,440\n"
        f"ctrl_tcp_listen 127.0.0.1:{ctrl}\n")
    (conf / "accounts").write_text("<sip:bench@127.0.0.1>;regint=0\n")
    proc = subprocess.Popen(["baresip", "-f", str(conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        sock = wait_for(lambda: _connect(ctrl), 10, what="baresip ctrl_tcp")

        def dial(i: int) -> None:
            sock.sendall(_netstring({"command": "dial", "params": f"sip:+1415557{i:04d}@127.0.0.1:{sipp.port}",
                                     "token": str(i)}))

        def settle() -> None:
            time.sleep(0.25)  # the 486 arrives ~100 ms after the INVITE; baresip frees the call at once

        return measure("baresip", sipp, calls, dial, settle)
    finally:
        proc.terminate()
        proc.wait(5)
        sipp.stop()


def _connect(port: int) -> socket.socket | None:
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return None


def row(name: str, v: list[float]) -> str:
    return f"| {name} | {statistics.median(v):.2f} | {pct(v, 99):.2f} | {max(v):.2f} | n={len(v)} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--cli-calls", type=int, default=10)
    args = ap.parse_args()
    require("sip_dial_latency", "sipp", "baresip")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        api, cli = ours(work, args.calls, args.cli_calls)
        base = baresip(work, args.calls)
    print("dial command → INVITE at sipp (ms)")
    print("| client | median | p99 | max | note |\n|---|---|---|---|---|")
    print(row("softphone, control API", api))
    print(row("softphone, `softphone ctl dial` CLI (incl. Python start-up)", cli))
    print(row("baresip 1.0, ctrl_tcp", base))
    print(f"ratio (control API median / baresip median): {statistics.median(api) / statistics.median(base):.2f}×")


if __name__ == "__main__":
    main()
