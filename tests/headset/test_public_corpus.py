"""The decoder against real headset report descriptors published by other projects.

The captures live in tests/fixtures/hid/corpus/ (source, commit and licence of each file in its header and in
the README there): sysfs dumps of Jabra, Poly/Plantronics, Sennheiser/EPOS, Yealink and Logitech devices from
gonicus/gonnect, and the Plantronics Blackwire 3220 telephony collection as read by macOS from libusb/hidapi.
"""

from __future__ import annotations

import pytest

from softphone.headset.decode import (
    Control,
    HeadsetDecoder,
    HookSwitch,
    Indicator,
    LedState,
    ReportKind,
    build_output_reports,
)
from tests.headset.hidfixtures import FIXTURES, layout_of, load_hex

CORPUS = FIXTURES / "corpus"


def descriptor(prefix: str) -> bytes:
    """The one capture whose file name starts with ``<vid>-<pid>``: a missing file is an error, never a skip."""
    found = sorted(CORPUS.glob(f"{prefix}-*.hex"))
    assert len(found) == 1, f"expected one capture {prefix}-*.hex in {CORPUS.relative_to(FIXTURES.parents[1])}, " \
                            f"found {[f.name for f in found]}"
    return load_hex(f"corpus/{found[0].stem}")


# (file, model, hook input report id, LED bytes for LedState(off_hook=True, ring=True) per output report id)
HEADSETS = [
    ("0b0e-0307", "Jabra EVOLVE LINK MS", 2, {2: b"\x25\x00"}),
    ("0b0e-2453", "Jabra BIZ 2400 II", 2, {2: b"\x25\x00"}),
    ("0b0e-2456", "Jabra SPEAK 810", 2, {2: b"\x25\x00"}),
    ("047f-02e6", "Poly BT700", 32, {33: b"\x01", 35: b"\x00", 36: b"\x01", 37: b"\x00"}),
    ("047f-02ec", "Poly Voyager Base CD", 1, {1: b"\x01", 3: b"\x00", 4: b"\x01", 5: b"\x00"}),
    ("047f-c053", "Plantronics Blackwire C5220", 8, {9: b"\x00", 23: b"\x01", 24: b"\x01", 32: b"\x00"}),
    ("1395-0082", "Sennheiser SC 660 ANC USB", 8, {9: b"\x06"}),
    ("1395-009c", "EPOS IMPACT D1", 2, {3: b"\x05"}),
    ("1395-00a2", "EPOS IMPACT DW", 2, {3: b"\x0b"}),
    ("1395-00a9", "EPOS IMPACT D", 2, {3: b"\x0b"}),
    ("6993-b02b", "Yealink WH66", 2, {2: b"\x25\x00"}),
]


@pytest.mark.parametrize(("name", "model", "hook_report", "leds"), HEADSETS, ids=[h[1] for h in HEADSETS])
def test_real_headset(name: str, model: str, hook_report: int, leds: dict[int, bytes]) -> None:
    lay = layout_of(descriptor(name))
    assert lay.is_telephony and lay.numbered
    assert {Control.HOOK_SWITCH, Control.PHONE_MUTE} <= set(lay.inputs), model
    assert {Indicator.OFF_HOOK, Indicator.RING, Indicator.MUTE} <= set(lay.outputs), model
    assert not lay.declared_relative(Control.HOOK_SWITCH)        # every one of them declares it absolute
    assert lay.declared_relative(Control.PHONE_MUTE)              # and mute as a relative toggle
    reports = build_output_reports(lay, LedState(off_hook=True, ring=True))
    assert {r[0]: r[1:] for r in reports} == leds
    out_ids = set(lay.descriptor.report_ids(ReportKind.OUTPUT))
    assert all(r[0] in out_ids for r in reports)

    hook = lay.inputs[Control.HOOK_SWITCH][0]
    assert hook.field.report_id == hook_report
    size = lay.descriptor.report_size(ReportKind.INPUT, hook_report)
    up = bytearray(size)
    bit = hook.field.bit_offset + hook.field.usages.index(hook.usage) * hook.field.size
    up[bit // 8] |= 1 << (bit % 8)
    d = HeadsetDecoder(lay)
    assert d.feed(bytes([hook_report]) + bytes(up), 0.0) == [HookSwitch(True)]
    d.set_host(LedState(off_hook=True), 0.01)
    assert d.feed(bytes([hook_report]) + bytes(size), 20.0) == [HookSwitch(False)]


def test_logitech_g535_is_not_a_telephony_headset() -> None:
    lay = layout_of(descriptor("046d-0ac4"))
    assert not lay.is_telephony and lay.inputs == {} and lay.outputs == {}


def test_plantronics_blackwire_3220_as_read_by_macos_matches_windows_reconstruction() -> None:
    from tests.headset.hidfixtures import PLANTRONICS

    real = layout_of(descriptor("047f-c056"))
    rebuilt = layout_of(load_hex(PLANTRONICS))
    for control in (Control.HOOK_SWITCH, Control.PHONE_MUTE, Control.FLASH):
        a, b = real.inputs[control][0], rebuilt.inputs[control][0]
        assert (a.field.report_id, a.field.bit_offset, a.field.flags) == \
               (b.field.report_id, b.field.bit_offset, b.field.flags)
    leds = LedState(off_hook=True, mute=True)
    assert build_output_reports(real, leds) == build_output_reports(rebuilt, leds)
