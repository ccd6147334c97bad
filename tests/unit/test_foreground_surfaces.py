"""Two calls, one foreground call: a bare hang-up from ctl, the widget or the headset ends the same call."""

from __future__ import annotations

from pathlib import Path

from softphone.core.events import SipLegState
from softphone.headset.decode import HookSwitch
from softphone.headset.machine import HeadsetMachine
from softphone.widget.hub import WidgetHub
from tests.widget.support import FakeEngine, Widget, make_engine, sip


def two_calls(tmp_path: Path) -> tuple[FakeEngine, str, str]:
    """An older call put on hold by a newer, established one (the newer is the foreground call)."""
    engine = make_engine(tmp_path)
    phone = engine.phone
    assert phone is not None
    first = phone.dial("+14155550101").call_id
    sip(engine, first, SipLegState.CONFIRMED, 200)
    second = phone.dial("+14155550102").call_id      # holds the first
    sip(engine, second, SipLegState.CONFIRMED, 200)
    fg = phone.foreground()
    assert fg is not None and fg.call_id == second
    return engine, first, second


def hung_up(engine: FakeEngine) -> str:
    last = [s for s in engine.sip.sent if s[0] == "hangup"]
    assert last, engine.sip.sent
    return last[-1][1]


async def test_ctl_hangup_ends_the_foreground_call(tmp_path: Path) -> None:
    engine, _, second = two_calls(tmp_path)
    await engine.command("hangup", {}, surface="ctl")
    assert hung_up(engine) == second


async def test_widget_end_call_ends_the_foreground_call(tmp_path: Path) -> None:
    engine, _, second = two_calls(tmp_path)
    hub = WidgetHub(engine)
    w = Widget(hub)
    await w.ready()
    reply = await w.send({"type": "end_call"})
    assert reply is not None and reply["ok"], reply
    assert hung_up(engine) == second
    hub.close()


async def test_headset_hook_ends_the_foreground_call(tmp_path: Path) -> None:
    engine, first, second = two_calls(tmp_path)
    assert engine.phone is not None
    machine = HeadsetMachine()
    for snap in engine.phone.calls():          # what the headset service learns from CallUpdated events
        machine.on_call(snap)
    machine.on_event(HookSwitch(off_hook=True))
    cmds = machine.on_event(HookSwitch(off_hook=False))
    assert [c.name for c in cmds] == ["hangup"]
    assert cmds[0].args["call_id"] == second != first
