"""End to end: a call answered, muted and ended from a headset, seen in SIP (the calling engine), the control API
event stream (what the window and the widget bridge consume) and history.

Two headsets:

- ``test_virtual_headset_over_socket_*``: the engine runs with a ``HeadsetService`` whose hidapi boundary is a
  Unix socket (``tests/headset/socket_hid.py``); the test is the headset. Runs wherever pjsua2 runs.
- ``test_uhid_virtual_headset``: a kernel-level virtual HID device created through /dev/uhid, found by the
  unmodified engine (``softphone serve``) through hidapi. Skipped, with the reason, where the kernel has no UHID
  or binds no HID driver to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.headset.hidfixtures import FIXTURES, PLANTRONICS
from tests.headset.socket_hid import VirtualHeadset
from tests.peers import EngineProcess, account_toml, engine_config, free_port, wait_for

pytestmark = pytest.mark.integration

MUTE_LED, OFF_HOOK_LED, RING_LED = 0x09, 0x17, 0x18
HOOK_UP, HOOK_UP_MUTE, HOOK_DOWN = bytes([8, 0b010]), bytes([8, 0b011]), bytes([8, 0b000])


class HeadsetEngineProcess(EngineProcess):
    """The real engine, started through tests/headset/socket_hid.py so its headset is the test's socket."""

    def start(self, timeout: float = 30, watch_events: bool = True) -> EngineProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.headset.socket_hid"], env=self.env,
                                     stdout=subprocess.PIPE, stderr=self.stderr_path.open("ab"), text=True,
                                     start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
        assert self.proc.stdout is not None
        box: dict[str, str] = {}

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            box["line"] = self.proc.stdout.readline()

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not box.get("line"):
            self.stop()
            raise RuntimeError(f"engine did not become ready: {self.stderr_path.read_text()[-3000:]}")
        self.ready = json.loads(box["line"])
        if watch_events:
            self._start_event_thread()
        return self


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[HeadsetEngineProcess, VirtualHeadset, int]]:
    sock = Path(f"/tmp/sp-hs-{os.getpid()}-{time.monotonic_ns()}.sock")   # short: AF_UNIX path limit
    headset = VirtualHeadset(sock)
    port = free_port()
    config = engine_config(account_toml("desk", "desk", None, auth=False, extra='accept_calls_from = ["host"]'),
                           extra=f"sip_port = {port}\n")
    eng = HeadsetEngineProcess(tmp_path / "desk", config, env={
        "SOFTPHONE_TEST_HID_SOCKET": str(sock),
        "SOFTPHONE_TEST_HID_DESCRIPTOR": str(FIXTURES / f"{PLANTRONICS}.hex"),
    })
    try:
        eng.start()
        yield eng, headset, port
    finally:
        eng.stop()
        headset.close()


@pytest.fixture
def caller(tmp_path: Path) -> Iterator[EngineProcess]:
    eng = EngineProcess(tmp_path / "caller", engine_config(account_toml("out", "alice", None, auth=False)))
    try:
        eng.start()
        yield eng
    finally:
        eng.stop()


def ring_desk(caller: EngineProcess, desk: EngineProcess, headset: VirtualHeadset, port: int) -> tuple[str, str]:
    headset.wait(lambda h: h.led(RING_LED) == 0, what="headset opened, LEDs initialised")
    out = caller.ctl("dial", number=f"sip:desk@127.0.0.1:{port}")
    inc = desk.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="incoming")
    headset.wait(lambda h: h.led(RING_LED) == 1, what="ring LED")
    return out["call_id"], inc["call_id"]


def test_virtual_headset_over_socket_answer_mute_hangup(desk: Any, caller: EngineProcess) -> None:
    eng, headset, port = desk
    out_id, in_id = ring_desk(caller, eng, headset, port)

    headset.send(HOOK_UP)                                          # pick up
    picked_up = time.monotonic()
    caller.wait_state(out_id, "ESTABLISHED")
    eng.wait_state(in_id, "ESTABLISHED")
    headset.wait(lambda h: h.led(OFF_HOOK_LED) == 1 and h.led(RING_LED) == 0, what="off-hook LED")

    headset.send(HOOK_UP_MUTE)                                     # mute button press + release
    headset.send(HOOK_UP)
    eng.wait_call(lambda c: c["call_id"] == in_id and c["muted"], what="call muted from the headset")
    headset.wait(lambda h: h.led(MUTE_LED) == 1, what="mute LED")
    eng.ctl("unmute", call_id=in_id)                               # app side: the headset follows
    headset.wait(lambda h: h.led(MUTE_LED) == 0, what="mute LED off after app unmute")

    # an absolute hook switch stays up for the call; put it down well after the press
    time.sleep(max(0.0, 1.2 - (time.monotonic() - picked_up)))
    headset.send(HOOK_DOWN)
    ended = caller.wait_state(out_id, "TERMINATED")
    assert ended["end_status"] == "COMPLETED" and ended["answered_at"]
    mine = eng.wait_state(in_id, "TERMINATED")
    assert mine["end_status"] == "COMPLETED" and mine["answered_at"] and mine["direction"] == "inbound"
    headset.wait(lambda h: h.led(OFF_HOOK_LED) == 0, what="off-hook LED cleared")

    states = [c["state"] for c in eng.call_events(in_id)]
    assert states[0] == "INCOMING" and "ESTABLISHED" in states and states[-1] == "TERMINATED"
    row = next(r for r in eng.history() if r["call_id"] == in_id)
    assert (row["direction"], row["end_status"]) == ("inbound", "COMPLETED")
    assert row["answered_at"] and row["duration_s"] is not None
    assert any(r["end_status"] == "COMPLETED" and r["direction"] == "outbound" for r in caller.history())


def test_virtual_headset_over_socket_fault_never_affects_the_call(desk: Any, caller: EngineProcess) -> None:
    eng, headset, port = desk
    out_id, in_id = ring_desk(caller, eng, headset, port)
    headset.send(HOOK_UP)
    caller.wait_state(out_id, "ESTABLISHED")
    first = headset.connections
    headset.drop()                                                 # cable pulled mid-call
    wait_for(lambda: headset.connections > first, 15, what="engine reopens the headset")
    headset.wait(lambda h: h.led(OFF_HOOK_LED) == 1, what="LED state restored after reconnect")
    assert eng.status()["calls"][0]["state"] == "ESTABLISHED"
    caller.ctl("hangup")
    assert eng.wait_state(in_id, "TERMINATED")["end_status"] == "COMPLETED"
    headset.wait(lambda h: h.led(OFF_HOOK_LED) == 0, what="off-hook LED cleared")


# ------------------------------------------------------------------------------------------- /dev/uhid


def _uhid_unavailable() -> str | None:
    """Why this machine cannot create a virtual HID device, when the reason is the platform or the kernel."""
    if not sys.platform.startswith("linux"):
        return "UHID is a Linux kernel interface: no virtual HID device on this platform"
    if not os.path.exists("/dev/uhid"):
        return ("the kernel has no /dev/uhid (CONFIG_UHID unset or the uhid module not loaded), so no virtual "
                "HID device can be created here")
    return None


@pytest.mark.skipif(_uhid_unavailable() is not None, reason=_uhid_unavailable() or "")
def test_uhid_virtual_headset(tmp_path: Path, caller: EngineProcess) -> None:
    from tests.headset.hidfixtures import load_hex
    from tests.headset.uhid import UhidDevice

    if not os.access("/dev/uhid", os.R_OK | os.W_OK):
        pytest.fail("/dev/uhid is not writable by this user: run the tests as root or grant access to /dev/uhid "
                    "(e.g. a udev rule)", pytrace=False)

    name = f"softphone test headset {os.getpid()}"
    with contextlib.ExitStack() as stack:
        dev = stack.enter_context(UhidDevice(name, load_hex(PLANTRONICS), vendor=0x047F, product=0xC056))
        node = dev.wait_hidraw(10)
        if node is None:
            pytest.skip("the kernel created the UHID device but bound no HID driver to it, so there is no hidraw "
                        "node (CONFIG_HIDRAW or hid-generic missing from this kernel)")
        port = free_port()
        config = engine_config(account_toml("desk", "desk", None, auth=False, extra='accept_calls_from = ["host"]'),
                               extra=f'sip_port = {port}\n[headset]\ndevice = "{name}"\n')
        eng = EngineProcess(tmp_path / "uhid-desk", config)
        stack.callback(eng.stop)
        eng.start()
        dev.wait_output(lambda r: r[:1] == bytes([RING_LED]), 15)
        out = caller.ctl("dial", number=f"sip:desk@127.0.0.1:{port}")
        inc = eng.wait_call(lambda c: c["direction"] == "inbound" and c["state"] == "INCOMING", what="incoming")
        dev.wait_output(lambda r: r == bytes([RING_LED, 1]), 15)
        dev.input(HOOK_UP[1:], report_id=8)
        picked_up = time.monotonic()
        caller.wait_state(out["call_id"], "ESTABLISHED")
        dev.wait_output(lambda r: r == bytes([OFF_HOOK_LED, 1]), 15)
        time.sleep(max(0.0, 1.2 - (time.monotonic() - picked_up)))
        dev.input(HOOK_DOWN[1:], report_id=8)
        assert caller.wait_state(out["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
        assert eng.wait_state(inc["call_id"], "TERMINATED")["end_status"] == "COMPLETED"
        row = next(r for r in eng.history() if r["call_id"] == inc["call_id"])
        assert row["end_status"] == "COMPLETED" and row["answered_at"]
