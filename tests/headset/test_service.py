"""HeadsetService against a fake hidapi backend and a stand-in engine (bus, commands, history)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from softphone.bus import EventBus
from softphone.config import Settings
from softphone.core.events import CallSnapshot, CallState, CallUpdated, Direction
from softphone.errors import NoSuchCall
from softphone.headset.service import HeadsetService, list_headsets
from tests.headset.fakehid import FakeHeadset, FakeHidBackend
from tests.headset.hidfixtures import PACKED_HEADSET, PLANTRONICS, YEALINK_ADAPTER, load_hex

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

# Plantronics Blackwire 3220 output report IDs
MUTE_LED, OFF_HOOK_LED, RING_LED, HOLD_LED = 0x09, 0x17, 0x18, 0x20


class FakeHistory:
    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.rows = rows or []

    def list(self, limit: int = 50, **kw: Any) -> list[dict[str, Any]]:
        return self.rows[:limit]


class StandInEngine:
    """What HeadsetService uses of Engine: settings, bus, history, phone, loop marshalling, command()."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.bus = EventBus()
        self.history = FakeHistory([{"remote": "+15550009999", "account": "desk"}])
        self.phone = None
        self.loop = asyncio.get_running_loop()
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: Exception | None = None

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    async def command(self, name: str, args: dict[str, Any] | None = None, *,
                      surface: str = "ctl") -> dict[str, Any]:
        self.commands.append((name, dict(args or {})))
        if self.fail_with is not None:
            raise self.fail_with
        return {}

    def publish_call(self, cid: str, state: CallState, muted: bool = False) -> None:
        self.bus.publish(CallUpdated(CallSnapshot(call_id=cid, direction=Direction.INBOUND, account="desk",
                                                  remote="+15551230000", state=state, started_at=T0,
                                                  muted=muted, held=state is CallState.HELD)))


async def until(pred: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = pred()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def led(h: FakeHeadset, report_id: int) -> int | None:
    r = h.last_report(report_id)
    return None if r is None else r[1]


@pytest.fixture
async def rig() -> AsyncIterator[tuple[StandInEngine, FakeHidBackend, FakeHeadset, HeadsetService]]:
    engine = StandInEngine()
    headset = FakeHeadset(load_hex(PLANTRONICS))
    backend = FakeHidBackend(headset)
    svc = HeadsetService(backend, poll_s=0.05, read_timeout_ms=20, retry_s=0.1)
    await svc.start(engine)  # type: ignore[arg-type]
    try:
        yield engine, backend, headset, svc
    finally:
        await svc.stop()


async def test_answer_mute_hangup_from_headset(rig: Any) -> None:
    engine, _, h, svc = rig
    await until(lambda: led(h, RING_LED) == 0, "initial LEDs written on connect")
    assert svc.connected == ["Fake Blackwire"]
    assert svc.status() == [{"name": "Fake Blackwire", "id": "047f:c056", "path": "/dev/hidraw-fake0",
                             "capabilities": {"inputs": ["hook_switch", "phone_mute", "flash"],
                                              "outputs": ["off_hook", "ring", "mute", "hold"]},
                             "modes": {"hook_switch": "unknown", "phone_mute": "toggle"}}]
    assert svc.machine.last_dialed == ("+15550009999", "desk")

    engine.publish_call("c1", CallState.INCOMING)
    await until(lambda: led(h, RING_LED) == 1, "ring LED")

    h.press(bytes([8, 0b010]))                                   # hook switch up
    await until(lambda: ("answer", {"call_id": "c1"}) in engine.commands, "answer command")
    await until(lambda: led(h, OFF_HOOK_LED) == 1 and led(h, RING_LED) == 0, "off-hook LED at once")
    engine.publish_call("c1", CallState.ESTABLISHED)

    n = len(h.written)
    h.press(bytes([8, 0b011]), bytes([8, 0b010]))                # mute press + release (relative usage)
    await until(lambda: ("mute", {"call_id": "c1", "muted": True}) in engine.commands, "mute command")
    await until(lambda: led(h, MUTE_LED) == 1, "mute LED")
    assert len(h.written) > n                                    # LED state echoed after the input reports
    engine.publish_call("c1", CallState.ESTABLISHED, muted=True)

    await asyncio.sleep(1.1)                                     # held longer than a button press
    h.press(bytes([8, 0b000]))                                   # hook switch down
    await until(lambda: ("hangup", {"call_id": "c1"}) in engine.commands, "hangup command")
    await until(lambda: led(h, OFF_HOOK_LED) == 0, "off-hook LED cleared")
    engine.publish_call("c1", CallState.TERMINATED)
    assert [c[0] for c in engine.commands] == ["answer", "mute", "hangup"]
    assert svc.status()[0]["modes"]["hook_switch"] == "absolute"          # learned from what it did


async def test_mute_from_app_is_mirrored_and_hold_keeps_off_hook(rig: Any) -> None:
    engine, _, h, _ = rig
    await until(lambda: led(h, OFF_HOOK_LED) == 0, "connected")
    engine.publish_call("c1", CallState.ESTABLISHED, muted=True)
    await until(lambda: led(h, MUTE_LED) == 1 and led(h, OFF_HOOK_LED) == 1, "mute + off-hook")
    engine.publish_call("c1", CallState.HELD, muted=True)
    await until(lambda: led(h, HOLD_LED) == 1, "hold LED")
    assert led(h, OFF_HOOK_LED) == 1                             # never cleared because of hold
    engine.publish_call("c1", CallState.TERMINATED)
    await until(lambda: led(h, OFF_HOOK_LED) == 0 and led(h, HOLD_LED) == 0 and led(h, MUTE_LED) == 0,
                "all off")
    assert engine.commands == []


def led_history(h: FakeHeadset, report_id: int) -> list[int]:
    """The values one LED report took, in write order, repeats folded (echoes rewrite the same value)."""
    values = h.values(report_id)
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


async def test_refused_command_restores_leds(rig: Any) -> None:
    # The last LED values alone cannot tell a restore from "never changed": the optimistic off-hook write may
    # not have reached the device yet. So check the writes in order: ringing, off-hook at once on the press,
    # then ringing again once the engine refused the answer.
    engine, _, h, _ = rig
    engine.fail_with = NoSuchCall("No incoming call to answer.")
    engine.publish_call("c1", CallState.INCOMING)
    await until(lambda: led(h, RING_LED) == 1, "ring")
    h.press(bytes([8, 0b010]))
    await until(lambda: engine.commands, "answer attempted")
    await until(lambda: led_history(h, RING_LED)[-3:] == [1, 0, 1]
                and led_history(h, OFF_HOOK_LED)[-3:] == [0, 1, 0],
                "ring LED 1 -> 0 -> 1 and off-hook LED 0 -> 1 -> 0")
    assert engine.commands == [("answer", {"call_id": "c1"})]


async def test_command_crash_never_escapes(rig: Any) -> None:
    engine, _, h, svc = rig
    engine.fail_with = RuntimeError("boom")
    engine.publish_call("c1", CallState.INCOMING)
    h.press(bytes([8, 0b010]))
    await until(lambda: engine.commands, "answer attempted")
    engine.fail_with = None
    engine.publish_call("c2", CallState.INCOMING)                # the service still works afterwards
    await asyncio.sleep(1.1)
    h.press(bytes([8, 0b000]))
    h.press(bytes([8, 0b010]))
    await until(lambda: len(engine.commands) >= 2, "second command")
    assert svc.enabled


async def test_unplug_and_replug(rig: Any) -> None:
    engine, backend, h, svc = rig
    await until(lambda: svc.connected, "connected")
    backend.unplug(h)
    await until(lambda: not svc.connected, "disconnected")
    engine.publish_call("c1", CallState.INCOMING)               # calls go on without the headset
    backend.plug(h)
    await until(lambda: svc.connected, "reconnected")
    await until(lambda: led(h, RING_LED) == 1, "current state written on reconnect")
    assert h.opened == 2 and h.closed == 1


async def test_read_fault_reconnects(rig: Any) -> None:
    _, _, h, svc = rig
    await until(lambda: svc.connected, "connected")
    h.break_reads()
    await until(lambda: h.closed == 1, "closed after fault")
    h.broken = False
    await until(lambda: h.opened == 2 and svc.connected, "reopened")


async def test_stop_turns_leds_off() -> None:
    engine = StandInEngine()
    h = FakeHeadset(load_hex(PLANTRONICS))
    svc = HeadsetService(FakeHidBackend(h), poll_s=0.05, read_timeout_ms=20)
    await svc.start(engine)  # type: ignore[arg-type]
    engine.publish_call("c1", CallState.ESTABLISHED)
    await until(lambda: led(h, OFF_HOOK_LED) == 1, "off hook")
    await svc.stop()
    assert led(h, OFF_HOOK_LED) == 0
    assert h.closed == 1
    assert svc.connected == []


async def test_non_telephony_devices_and_selector() -> None:
    settings = Settings.model_validate({"headset": {"device": "0b0e:0307"}})
    engine = StandInEngine(settings)
    plantronics = FakeHeadset(load_hex(PLANTRONICS))
    jabra_like = FakeHeadset(PACKED_HEADSET, path=b"/dev/hidraw-fake1", vendor_id=0x0B0E, product_id=0x0307,
                             product="Packed")
    keyboard = FakeHeadset(bytes([0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0xC0]), path=b"/dev/hidraw-kbd",
                           usage_pages=(0x01,))
    backend = FakeHidBackend(plantronics, jabra_like, keyboard)
    svc = HeadsetService(backend, poll_s=0.05, read_timeout_ms=20)
    await svc.start(engine)  # type: ignore[arg-type]
    try:
        await until(lambda: svc.connected == ["Packed"], "selected headset only")
        await until(lambda: backend.enumerations >= 3, "a few scans")
        assert plantronics.opened == 0 and keyboard.opened == 0
        engine.publish_call("c1", CallState.INCOMING)
        await until(lambda: jabra_like.last_report(2) == bytes([2, 0b100]), "packed ring LED")
    finally:
        await svc.stop()


async def test_telephony_device_without_usable_controls_is_left_alone() -> None:
    engine = StandInEngine()
    adapter = FakeHeadset(load_hex(YEALINK_ADAPTER), path=b"/dev/hidraw-yl")
    backend = FakeHidBackend(adapter)
    svc = HeadsetService(backend, poll_s=0.05, read_timeout_ms=20)
    await svc.start(engine)  # type: ignore[arg-type]
    try:
        await until(lambda: backend.enumerations >= 4, "scans")
        assert adapter.opened == 1 and adapter.closed == 1 and svc.connected == []
    finally:
        await svc.stop()


async def test_open_failure_is_retried_later() -> None:
    engine = StandInEngine()
    h = FakeHeadset(load_hex(PLANTRONICS), fail_open=True)
    backend = FakeHidBackend(h)
    svc = HeadsetService(backend, poll_s=0.02, read_timeout_ms=20, retry_s=0.2)
    await svc.start(engine)  # type: ignore[arg-type]
    try:
        await until(lambda: backend.enumerations >= 3, "open attempted")
        assert not svc.connected
        h.fail_open = False
        await until(lambda: svc.connected, "opened after retry")
    finally:
        await svc.stop()


async def test_disabled_in_settings() -> None:
    engine = StandInEngine(Settings.model_validate({"headset": {"enabled": False}}))
    backend = FakeHidBackend(FakeHeadset(load_hex(PLANTRONICS)))
    svc = HeadsetService(backend)
    await svc.start(engine)  # type: ignore[arg-type]
    await svc.stop()
    assert backend.enumerations == 0 and not svc.enabled


def test_list_headsets_with_fake_backend() -> None:
    ok = FakeHeadset(load_hex(PLANTRONICS))
    denied = FakeHeadset(PACKED_HEADSET, path=b"/dev/hidraw-denied", product="Locked", fail_open=True)
    mouse = FakeHeadset(bytes([0x05, 0x01, 0x09, 0x02, 0xA1, 0x01, 0xC0]), path=b"/dev/hidraw-m",
                        usage_pages=(0x01,))
    found = {i.name: i for i in list_headsets(FakeHidBackend(ok, denied, mouse), sysfs=Path("/nonexistent"))}
    assert set(found) == {"Fake Blackwire", "Locked"}
    bw = found["Fake Blackwire"]
    assert (bw.vendor_id, bw.product_id, bw.id, bw.path) == (0x047F, 0xC056, "047f:c056", "/dev/hidraw-fake0")
    assert bw.capabilities == {"inputs": ["hook_switch", "phone_mute", "flash"],
                               "outputs": ["off_hook", "ring", "mute", "hold"]}
    assert bw.error is None and ok.closed == 1
    assert found["Locked"].error is not None and "Permission denied" in found["Locked"].error
    assert bw.to_json()["capabilities"] == bw.capabilities


def test_list_headsets_reads_sysfs_without_opening(tmp_path: Path) -> None:
    # /sys/class/hidraw/hidraw7/device -> …/usb1/1-2/1-2:1.3/0003:047F:C056.0009, sound card under 1-2:1.0
    usb = tmp_path / "devices" / "usb1" / "1-2"
    hid_dev = usb / "1-2:1.3" / "0003:047F:C056.0009"
    hid_dev.mkdir(parents=True)
    (hid_dev / "report_descriptor").write_bytes(load_hex(PLANTRONICS))
    card = usb / "1-2:1.0" / "sound" / "card3"
    card.mkdir(parents=True)
    (card / "id").write_text("C3220\n")
    sysfs = tmp_path / "class" / "hidraw"
    (sysfs / "hidraw7").mkdir(parents=True)
    (sysfs / "hidraw7" / "device").symlink_to(hid_dev)
    # hidapi's libusb-style entry does not say "telephony": the sysfs descriptor does
    h = FakeHeadset(b"", path=b"/dev/hidraw7", usage_pages=(0x0C,))
    found = list_headsets(FakeHidBackend(h), sysfs=sysfs)
    assert [i.name for i in found] == ["Fake Blackwire"]
    assert found[0].alsa_card == "C3220"
    assert found[0].capabilities["inputs"] == ["hook_switch", "phone_mute", "flash"]
    assert h.opened == 0


def test_list_headsets_never_raises() -> None:
    class Broken:
        def enumerate(self) -> list[Any]:
            raise OSError("no hid")

        def open(self, path: bytes) -> Any:
            raise AssertionError

    assert list_headsets(Broken()) == []


async def test_led_state_echoed_after_every_telephony_input_report(rig: Any) -> None:
    """Some headsets reset mute/hook unless the host answers each input report with the LED state."""
    engine, _, h, _ = rig
    engine.publish_call("c1", CallState.ESTABLISHED, muted=True)
    await until(lambda: led(h, MUTE_LED) == 1, "mute LED")

    def writes(rid: int) -> int:
        return sum(1 for w in list(h.written) if w[0] == rid)

    before = writes(MUTE_LED), writes(OFF_HOOK_LED)
    h.press(bytes([8, 0b010]))                       # hook report that changes nothing for the phone
    await until(lambda: writes(MUTE_LED) > before[0] and writes(OFF_HOOK_LED) > before[1], "echo")
    assert h.last_report(MUTE_LED) == bytes([MUTE_LED, 1])
    n = len(h.written)
    h.press(bytes([0x2A, 0x00]))                     # a report with no telephony controls: no echo
    await asyncio.sleep(0.3)
    assert len(h.written) == n and engine.commands == []
