"""The decoder against real headset report descriptors published by other projects (not copied here).

Sources, read at test time:

- gonicus/gonnect ``tests/resources/hid/<vid>-<pid>.bin``: raw sysfs dumps of Jabra, Poly/Plantronics,
  Sennheiser/EPOS, Yealink and Logitech devices (commit d482116097e2cd990f4a3ae184a51207e44b4ddc).
- libusb/hidapi ``windows/test/data/047F_C056_0005_000B_real.rpt_desc``: Plantronics Blackwire 3220
  telephony collection as read by macOS USB Prober (commit 49578246d9604dd5014e22446d831c0cefb753c7).

Point ``SOFTPHONE_HID_CORPUS`` at a directory holding those files (flat, same names), or keep git snapshots of
the two repositories under ``SOFTPHONE_HID_MIRRORS`` (default ``/work/.mirror``: ``gonicus+gonnect/repo``,
``libusb+hidapi/repo``). Without either the tests skip and say so.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from softphone.headset.decode import (
    Control,
    HeadsetDecoder,
    HookSwitch,
    Indicator,
    LedState,
    ReportKind,
    build_output_reports,
    iter_hex,
)
from tests.headset.hidfixtures import layout_of

MIRRORS = Path(os.environ.get("SOFTPHONE_HID_MIRRORS", "/work/.mirror"))
CORPUS = os.environ.get("SOFTPHONE_HID_CORPUS")

GONNECT = ("gonicus+gonnect/repo", "tests/resources/hid/")
HIDAPI = ("libusb+hidapi/repo", "windows/test/data/")


def _read(source: tuple[str, str], name: str) -> bytes | None:
    if CORPUS:
        p = Path(CORPUS) / name
        return p.read_bytes() if p.exists() else None
    git_dir = MIRRORS / source[0]
    if not git_dir.exists():
        return None
    r = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{source[1]}{name}"],
                       check=False, capture_output=True, timeout=30)
    return r.stdout if r.returncode == 0 else None


def descriptor(source: tuple[str, str], name: str) -> bytes:
    raw = _read(source, name)
    if raw is None:
        pytest.skip(f"{name} not available: set SOFTPHONE_HID_CORPUS or provide a snapshot of "
                    f"{source[0].replace('+', '/').removesuffix('/repo')} under {MIRRORS}")
    if name.endswith(".rpt_desc"):
        text = raw.decode(errors="replace").split("\n\n", 1)[0].splitlines()[1:]   # hex lines after the title
        raw = bytes(iter_hex("\n".join(text)))
    return raw


# (file, model, hook input report id, LED bytes for LedState(off_hook=True, ring=True) per output report id)
HEADSETS = [
    ("0b0e-0307.bin", "Jabra EVOLVE LINK MS", 2, {2: b"\x25\x00"}),
    ("0b0e-2453.bin", "Jabra BIZ 2400 II", 2, {2: b"\x25\x00"}),
    ("0b0e-2456.bin", "Jabra SPEAK 810", 2, {2: b"\x25\x00"}),
    ("047f-02e6.bin", "Poly BT700", 32, {33: b"\x01", 35: b"\x00", 36: b"\x01", 37: b"\x00"}),
    ("047f-02ec.bin", "Poly Voyager Base CD", 1, {1: b"\x01", 3: b"\x00", 4: b"\x01", 5: b"\x00"}),
    ("047f-c053.bin", "Plantronics Blackwire C5220", 8, {9: b"\x00", 23: b"\x01", 24: b"\x01", 32: b"\x00"}),
    ("1395-0082.bin", "Sennheiser SC 660 ANC USB", 8, {9: b"\x06"}),
    ("1395-009c.bin", "EPOS IMPACT D1", 2, {3: b"\x05"}),
    ("1395-00a2.bin", "EPOS IMPACT DW", 2, {3: b"\x0b"}),
    ("1395-00a9.bin", "EPOS IMPACT D", 2, {3: b"\x0b"}),
    ("6993-b02b.bin", "Yealink WH66", 2, {2: b"\x25\x00"}),
]


@pytest.mark.parametrize(("name", "model", "hook_report", "leds"), HEADSETS, ids=[h[1] for h in HEADSETS])
def test_real_headset(name: str, model: str, hook_report: int, leds: dict[int, bytes]) -> None:
    lay = layout_of(descriptor(GONNECT, name))
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
    lay = layout_of(descriptor(GONNECT, "046d-0ac4.bin"))
    assert not lay.is_telephony and lay.inputs == {} and lay.outputs == {}


def test_plantronics_blackwire_3220_as_read_by_macos_matches_windows_reconstruction() -> None:
    from tests.headset.hidfixtures import PLANTRONICS, load_hex

    real = layout_of(descriptor(HIDAPI, "047F_C056_0005_000B_real.rpt_desc"))
    rebuilt = layout_of(load_hex(PLANTRONICS))
    for control in (Control.HOOK_SWITCH, Control.PHONE_MUTE, Control.FLASH):
        a, b = real.inputs[control][0], rebuilt.inputs[control][0]
        assert (a.field.report_id, a.field.bit_offset, a.field.flags) == \
               (b.field.report_id, b.field.bit_offset, b.field.flags)
    leds = LedState(off_hook=True, mute=True)
    assert build_output_reports(real, leds) == build_output_reports(rebuilt, leds)
