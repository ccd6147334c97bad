"""Report descriptor parsing, telephony layout and LED output reports (pure)."""

from __future__ import annotations

import pytest

from softphone.headset.decode import (
    PAGE_LED,
    PAGE_TELEPHONY,
    TEL,
    Control,
    DescriptorError,
    Indicator,
    LedState,
    ReportKind,
    TelephonyLayout,
    build_output_reports,
    describe_capabilities,
    iter_hex,
    parse_descriptor,
    usage,
)
from tests.headset.hidfixtures import PACKED_HEADSET, PLANTRONICS, UNNUMBERED_ABS, YEALINK_ADAPTER, layout_of, load_hex


def test_plantronics_blackwire_3220_layout() -> None:
    desc = parse_descriptor(load_hex(PLANTRONICS))
    assert desc.numbered
    assert desc.applications == (usage(PAGE_TELEPHONY, TEL.HEADSET),)
    lay = TelephonyLayout.from_descriptor(desc)
    hook = lay.inputs[Control.HOOK_SWITCH][0]
    mute = lay.inputs[Control.PHONE_MUTE][0]
    assert (hook.field.report_id, mute.field.report_id) == (8, 8)
    assert mute.field.relative and not hook.field.relative
    assert lay.declared_relative(Control.PHONE_MUTE) and not lay.declared_relative(Control.HOOK_SWITCH)
    assert describe_capabilities(lay) == {
        "inputs": ["hook_switch", "phone_mute", "flash"],
        "outputs": ["off_hook", "ring", "mute", "hold"],
    }
    # one LED per output report, as the device declares them
    assert build_output_reports(lay, LedState(off_hook=True, mute=True)) == [
        bytes([0x09, 1]), bytes([0x17, 1]), bytes([0x18, 0]), bytes([0x20, 0])]
    assert build_output_reports(lay, LedState(ring=True, hold=True)) == [
        bytes([0x09, 0]), bytes([0x17, 0]), bytes([0x18, 1]), bytes([0x20, 1])]


def test_plantronics_input_report_bits() -> None:
    lay = layout_of(load_hex(PLANTRONICS))
    field = lay.inputs[Control.HOOK_SWITCH][0].field
    assert field.active_usages(bytes([0b010])) == {usage(PAGE_TELEPHONY, TEL.HOOK_SWITCH): 1,
                                                   usage(PAGE_TELEPHONY, TEL.FLASH): 0}


def test_yealink_adapter_has_telephony_page_but_nothing_we_drive() -> None:
    desc = parse_descriptor(load_hex(YEALINK_ADAPTER))
    assert desc.has_page(PAGE_TELEPHONY) and not desc.numbered
    lay = TelephonyLayout.from_descriptor(desc)
    assert lay.is_telephony
    assert lay.inputs == {} and lay.outputs == {}
    assert desc.report_size(ReportKind.INPUT, 0) == 16


def test_packed_report_leds_share_one_report() -> None:
    lay = layout_of(PACKED_HEADSET)
    assert lay.output_sizes == {2: 1}
    assert build_output_reports(lay, LedState(off_hook=True, ring=True, mute=True)) == [bytes([2, 0b10111])]
    assert build_output_reports(lay, LedState()) == [bytes([2, 0])]
    assert set(lay.outputs) == {Indicator.OFF_HOOK, Indicator.MUTE, Indicator.RING, Indicator.HOLD,
                                Indicator.MICROPHONE}


def test_unnumbered_output_report_is_prefixed_with_zero() -> None:
    lay = layout_of(UNNUMBERED_ABS)
    assert not lay.numbered
    assert build_output_reports(lay, LedState(off_hook=True, mute=True)) == [bytes([0, 0b101])]


def test_long_items_push_pop_and_ranges() -> None:
    raw = bytes([
        0x05, 0x0B, 0x09, 0x05, 0xA1, 0x01,
        0xFE, 0x02, 0x10, 0xAA, 0xBB,                 # long item: skipped
        0x75, 0x01, 0x15, 0x00, 0x25, 0x01,
        0xA4,                                         # push (size 1)
        0x75, 0x08, 0x95, 0x01, 0x81, 0x03,           # 8 constant bits
        0xB4,                                         # pop: size back to 1
        0x19, 0x20, 0x29, 0x21, 0x95, 0x02, 0x81, 0x02,   # usage range: hook switch, flash
        0x95, 0x06, 0x81, 0x03,
        0xC0,
    ])
    desc = parse_descriptor(raw)
    data_fields = [f for f in desc.fields if not f.constant]
    assert len(data_fields) == 1
    f = data_fields[0]
    assert (f.bit_offset, f.size, f.count) == (8, 1, 2)
    assert f.usages == (usage(PAGE_TELEPHONY, 0x20), usage(PAGE_TELEPHONY, 0x21))
    assert desc.report_size(ReportKind.INPUT, 0) == 2


def test_usage_page_after_usage_applies_like_linux() -> None:
    # Usage 0x07 declared under the Telephony page, then Usage Page (Button) before the main item.
    raw = bytes([0x05, 0x0B, 0x09, 0x05, 0xA1, 0x01, 0x09, 0x07, 0x15, 0x00, 0x25, 0x01, 0x05, 0x09,
                 0x75, 0x01, 0x95, 0x01, 0x81, 0x02, 0x95, 0x07, 0x81, 0x01, 0xC0])
    f = parse_descriptor(raw).fields[0]
    assert f.usages == (usage(0x09, 0x07),)


def test_extended_usage_and_unsigned_logical_max() -> None:
    raw = bytes([0x05, 0x0C, 0x09, 0x01, 0xA1, 0x01,
                 0x0B, 0x20, 0x00, 0x0B, 0x00,       # 4-byte usage: Telephony Hook Switch on a consumer app
                 0x15, 0x00, 0x25, 0xFF, 0x75, 0x08, 0x95, 0x01, 0x81, 0x02, 0xC0])
    f = parse_descriptor(raw).fields[0]
    assert f.usages == (usage(PAGE_TELEPHONY, 0x20),)
    assert f.logical_max == 255
    assert f.values(bytes([0xFF])) == [255]


def test_signed_values() -> None:
    raw = bytes([0x05, 0x01, 0x09, 0x02, 0xA1, 0x01, 0x09, 0x30, 0x15, 0x81, 0x25, 0x7F,
                 0x75, 0x08, 0x95, 0x01, 0x81, 0x06, 0xC0])
    f = parse_descriptor(raw).fields[0]
    assert (f.logical_min, f.logical_max) == (-127, 127)
    assert f.values(bytes([0xFF])) == [-1]


def test_array_field() -> None:
    raw = bytes([0x05, 0x0B, 0x09, 0x05, 0xA1, 0x01, 0x15, 0x01, 0x25, 0x02, 0x75, 0x08, 0x95, 0x01,
                 0x09, 0x20, 0x09, 0x2F, 0x81, 0x00, 0xC0])
    lay = layout_of(raw)
    assert set(lay.inputs) == {Control.HOOK_SWITCH, Control.PHONE_MUTE}
    f = lay.inputs[Control.HOOK_SWITCH][0].field
    assert f.active_usages(bytes([1])) == {usage(PAGE_TELEPHONY, 0x20): 1, usage(PAGE_TELEPHONY, 0x2F): 0}
    assert f.active_usages(bytes([0])) == {usage(PAGE_TELEPHONY, 0x20): 0, usage(PAGE_TELEPHONY, 0x2F): 0}


def test_vendor_pages_and_keyboard_leds_are_not_ours() -> None:
    raw = bytes([
        # keyboard with Num/Caps LEDs and a (LED page) Mute usage: never driven by us
        0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x85, 0x01, 0x05, 0x08, 0x09, 0x01, 0x09, 0x09,
        0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x02, 0x91, 0x02, 0x95, 0x06, 0x91, 0x01, 0xC0,
        # Teams vendor page 0xFF99 with usage IDs that collide with telephony IDs
        0x06, 0x99, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x85, 0x9B, 0x09, 0x20, 0x09, 0x2F,
        0x75, 0x01, 0x95, 0x02, 0x81, 0x02, 0x95, 0x06, 0x81, 0x01, 0xC0,
    ])
    desc = parse_descriptor(raw)
    assert not desc.has_page(PAGE_TELEPHONY)
    lay = TelephonyLayout.from_descriptor(desc)
    assert lay.inputs == {} and lay.outputs == {}


def test_leds_outside_telephony_collection_used_when_no_telephony_leds() -> None:
    raw = bytes([
        0x05, 0x0C, 0x09, 0x01, 0xA1, 0x01, 0x85, 0x05, 0x05, 0x08, 0x09, 0x17, 0x09, 0x18,
        0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x02, 0x91, 0x02, 0x95, 0x06, 0x91, 0x01, 0xC0,
    ])
    lay = layout_of(raw)
    assert set(lay.outputs) == {Indicator.OFF_HOOK, Indicator.RING}
    assert build_output_reports(lay, LedState(ring=True)) == [bytes([5, 0b10])]


@pytest.mark.parametrize("raw", [b"", bytes([0x85, 0x00]), bytes([0xA1])])
def test_malformed(raw: bytes) -> None:
    with pytest.raises(DescriptorError):
        parse_descriptor(raw)


def test_truncated_trailing_item_keeps_what_parsed() -> None:
    raw = PACKED_HEADSET[:-1] + bytes([0x26, 0xFF])          # cut inside a 2-byte item
    lay = layout_of(raw)
    assert Control.HOOK_SWITCH in lay.inputs


def test_iter_hex_formats() -> None:
    assert bytes(iter_hex("0x05, 0x0b # comment\n05 0B\n050b")) == bytes([5, 11] * 3)
    with pytest.raises(ValueError):
        list(iter_hex("5"))


def test_page_constants() -> None:
    assert usage(PAGE_LED, 0x17) == 0x00080017
