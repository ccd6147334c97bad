"""``softphone headset list|monitor`` and the hidapi wrapper, with fakes at the hidapi boundary."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from softphone.headset import cli
from softphone.headset.service import HidapiBackend, HidInfo
from tests.headset.fakehid import FakeHeadset, FakeHidBackend, FakeHidDevice
from tests.headset.hidfixtures import PLANTRONICS, load_hex


class ScriptedDevice(FakeHidDevice):
    def __init__(self, h: FakeHeadset, backend: FakeHidBackend, reports: list[bytes]) -> None:
        super().__init__(h, backend)
        self.reports = reports

    def read(self, size: int, timeout_ms: int) -> bytes:
        if not self.reports:
            raise KeyboardInterrupt
        return self.reports.pop(0)


class ScriptedBackend(FakeHidBackend):
    """Reads return the scripted reports, then Ctrl-C."""

    def __init__(self, h: FakeHeadset, reports: list[bytes]) -> None:
        super().__init__(h)
        self.reports = list(reports)

    def open(self, path: bytes) -> FakeHidDevice:
        super().open(path)
        return ScriptedDevice(self.plugged[path], self, self.reports)


def test_monitor_prints_reports_events_and_echoes_leds(capsys: pytest.CaptureFixture[str]) -> None:
    h = FakeHeadset(load_hex(PLANTRONICS))
    backend = ScriptedBackend(h, [bytes([8, 0b010]), bytes([8, 0b011]), bytes([8, 0b010])])
    assert cli.cmd_monitor(argparse.Namespace(device=None), backend) == 0
    out = capsys.readouterr().out
    assert "08 02  ->  HookSwitch(off_hook=True)" in out
    assert "08 03  ->  MuteSwitch(muted=True)" in out
    assert h.last_report(0x17) == bytes([0x17, 1]) and h.last_report(0x09) == bytes([0x09, 1])
    assert h.closed == 1


def test_monitor_without_headset() -> None:
    assert cli.cmd_monitor(argparse.Namespace(device="nothing"), FakeHidBackend()) == 1
    denied = FakeHeadset(load_hex(PLANTRONICS), fail_open=True)
    assert cli.cmd_monitor(argparse.Namespace(device=None), FakeHidBackend(denied)) == 1


def test_list_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    h = FakeHeadset(load_hex(PLANTRONICS))
    monkeypatch.setattr(cli, "list_headsets", lambda: __import__(
        "softphone.headset.service", fromlist=["x"]).list_headsets(FakeHidBackend(h)))
    assert cli.cmd_list(argparse.Namespace(json=True)) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["id"] == "047f:c056" and rows[0]["capabilities"]["inputs"][0] == "hook_switch"
    assert cli.cmd_list(argparse.Namespace(json=False)) == 0
    line = capsys.readouterr().out
    assert "Fake Blackwire (047f:c056) /dev/hidraw-fake0 — buttons: hook_switch, phone_mute, flash" in line


def test_register_adds_the_tree() -> None:
    p = argparse.ArgumentParser()
    cli.register(p.add_subparsers(dest="command"))
    args = p.parse_args(["headset", "monitor", "0b0e:0307"])
    assert args.func is cli.cmd_monitor and args.device == "0b0e:0307"


class FakeHidapiModule:
    """The shape of hidapi's ``hid``/``hidraw`` modules: enumerate() dicts and device() objects."""

    def __init__(self) -> None:
        self.devices: list[FakeHidapiDevice] = []

    def enumerate(self) -> list[dict[str, Any]]:
        return [{"path": b"/dev/hidraw3", "vendor_id": 0x0B0E, "product_id": 0x0307, "serial_number": "X1",
                 "manufacturer_string": "GN", "product_string": "Jabra EVOLVE LINK MS", "usage_page": 0x0B,
                 "usage": 5, "interface_number": 3, "release_number": 0x100}]

    def device(self) -> FakeHidapiDevice:
        d = FakeHidapiDevice()
        self.devices.append(d)
        return d


class FakeHidapiDevice:
    def __init__(self) -> None:
        self.path: bytes | None = None
        self.writes: list[bytes] = []
        self.fail_write = False

    def open_path(self, path: bytes) -> None:
        self.path = path

    def read(self, size: int, timeout_ms: int) -> list[int]:
        return [2, 1]

    def write(self, data: bytes) -> int:
        if self.fail_write:
            return -1
        self.writes.append(bytes(data))
        return len(data)

    def get_report_descriptor(self) -> list[int]:
        return list(load_hex(PLANTRONICS))

    def error(self) -> str:
        return "broken pipe"

    def close(self) -> None:
        pass


def test_hidapi_backend_maps_the_module() -> None:
    mod = FakeHidapiModule()
    b = HidapiBackend(mod)
    assert b.enumerate() == [HidInfo(path=b"/dev/hidraw3", vendor_id=0x0B0E, product_id=0x0307,
                                     product="Jabra EVOLVE LINK MS", manufacturer="GN", serial="X1",
                                     usage_page=0x0B, usage=5, interface=3)]
    dev = b.open(b"/dev/hidraw3")
    assert mod.devices[0].path == b"/dev/hidraw3"
    assert dev.read(64, 10) == bytes([2, 1])
    dev.write(bytes([0x17, 1]))
    assert mod.devices[0].writes == [bytes([0x17, 1])]
    assert dev.report_descriptor() == load_hex(PLANTRONICS)
    mod.devices[0].fail_write = True
    with pytest.raises(OSError, match="broken pipe"):
        dev.write(bytes([0x17, 0]))
    dev.close()


def test_real_hidapi_imports() -> None:
    b = HidapiBackend()                 # hidraw backend on Linux; enumeration works without devices
    assert isinstance(b.enumerate(), list)
