"""Input reports -> requests: absolute vs toggle learning, echoes, debounce (pure, times passed in).

Report sequences are written out per device behaviour; where a behaviour comes from a public report it is named.
"""

from __future__ import annotations

from softphone.headset.decode import (
    Control,
    FlashPressed,
    HeadsetDecoder,
    HookSwitch,
    LedState,
    MuteSwitch,
    RedialPressed,
    UsageMode,
)
from tests.headset.hidfixtures import PACKED_HEADSET, PLANTRONICS, UNNUMBERED_ABS, layout_of, load_hex

HOOK = 0b01
MUTE = 0b10


def unnumbered() -> HeadsetDecoder:
    return HeadsetDecoder(layout_of(UNNUMBERED_ABS))


def test_initial_modes_follow_descriptor_flags() -> None:
    d = HeadsetDecoder(layout_of(load_hex(PLANTRONICS)))
    assert d.mode(Control.HOOK_SWITCH) is UsageMode.UNKNOWN      # declared Abs: to be learned
    assert d.mode(Control.PHONE_MUTE) is UsageMode.TOGGLE        # declared Rel
    assert d.mode(Control.FLASH) is None                         # a plain button, not an on/off control


def test_absolute_hook_device_keeps_state() -> None:
    """Jabra/Poly/EPOS style: the device holds off-hook until pressed again (long after)."""
    d = unnumbered()
    assert d.feed(bytes([HOOK]), 0.0) == [HookSwitch(True)]           # answer
    d.set_host(LedState(off_hook=True), 0.01)
    assert d.feed(bytes([HOOK]), 0.5) == []                            # repeat of the same state
    assert d.feed(bytes([0]), 30.0) == [HookSwitch(False)]            # hang up
    assert d.mode(Control.HOOK_SWITCH) is UsageMode.ABSOLUTE
    d.set_host(LedState(), 30.01)
    # now learned: a quick on/off pair is a real answer then hang up (double press = decline)
    assert d.feed(bytes([HOOK]), 40.0) == [HookSwitch(True)]
    d.set_host(LedState(off_hook=True), 40.01)
    assert d.feed(bytes([0]), 40.2) == [HookSwitch(False)]


def test_momentary_hook_button_learned_as_toggle() -> None:
    """A hook button declared absolute that sends 1 on press and 0 on release."""
    d = unnumbered()
    assert d.feed(bytes([HOOK]), 0.0) == [HookSwitch(True)]           # press: answer
    d.set_host(LedState(off_hook=True), 0.01)
    assert d.feed(bytes([0]), 0.15) == []                              # release: nothing
    assert d.mode(Control.HOOK_SWITCH) is UsageMode.TOGGLE
    assert d.feed(bytes([HOOK]), 20.0) == [HookSwitch(False)]         # next press: hang up
    d.set_host(LedState(), 20.01)
    assert d.feed(bytes([0]), 20.1) == []


def test_unknown_press_while_off_hook_waits_for_release() -> None:
    """In a call (host off hook) a press is either a toggle or an absolute device agreeing: decided on release."""
    d = unnumbered()
    d.set_host(LedState(off_hook=True), 0.0)                          # call answered from the app
    assert d.feed(bytes([HOOK]), 5.0) == []                            # ambiguous
    assert d.feed(bytes([0]), 5.2) == [HookSwitch(False)]             # quick release: it was a toggle press
    assert d.mode(Control.HOOK_SWITCH) is UsageMode.TOGGLE


def test_led_echo_is_not_a_press_and_teaches_absolute() -> None:
    """Devices that follow the Off-Hook LED report the new hook state right after the host sets it."""
    d = unnumbered()
    d.set_host(LedState(off_hook=True), 10.0)                         # answered in the app
    assert d.feed(bytes([HOOK]), 10.05) == []                          # echo
    assert d.mode(Control.HOOK_SWITCH) is UsageMode.ABSOLUTE
    d.set_host(LedState(), 60.0)                                       # remote hung up
    assert d.feed(bytes([0]), 60.05) == []                             # echo again: nothing to end
    d.set_host(LedState(off_hook=True), 70.0)
    assert d.feed(bytes([HOOK]), 70.05) == []


def test_absolute_device_reverting_when_host_does_not_confirm() -> None:
    """WICG/webhid#72: a headset whose button is not confirmed by the host LED goes back after a while."""
    d = unnumbered()
    assert d.feed(bytes([HOOK]), 0.0) == [HookSwitch(True)]           # nothing rings: host stays on hook
    d.set_host(LedState(), 0.01)
    assert d.feed(bytes([0]), 2.0) == []                               # reverted: agrees with the host


def test_toggle_mute_from_relative_usage() -> None:
    """Plantronics Blackwire 3220: Phone Mute is declared Relative; each press is one toggle."""
    d = HeadsetDecoder(layout_of(load_hex(PLANTRONICS)))
    assert d.feed(bytes([8, 0b001]), 0.0) == [MuteSwitch(True)]
    d.set_host(LedState(mute=True), 0.01)
    assert d.feed(bytes([8, 0b000]), 0.1) == []
    assert d.feed(bytes([8, 0b001]), 3.0) == [MuteSwitch(False)]


def test_duplicate_reports_debounced() -> None:
    """WICG/webhid#61: Plantronics headsets repeat a report within ~50 ms for one press."""
    d = HeadsetDecoder(layout_of(load_hex(PLANTRONICS)))
    assert d.feed(bytes([8, 0b001]), 1.000) == [MuteSwitch(True)]
    assert d.feed(bytes([8, 0b001]), 1.030) == []                      # duplicate
    d.set_host(LedState(mute=True), 1.05)
    assert d.feed(bytes([8, 0b001]), 4.0) == [MuteSwitch(False)]       # a later press counts


def test_absolute_mute_synchronised_by_led() -> None:
    """Mute declared absolute and kept by the device while the host confirms it with the Mute LED."""
    d = unnumbered()
    d.set_host(LedState(off_hook=True), 0.0)
    assert d.feed(bytes([HOOK]), 0.05) == []                           # hook echo
    assert d.feed(bytes([HOOK | MUTE]), 5.0) == [MuteSwitch(True)]
    d.set_host(LedState(off_hook=True, mute=True), 5.01)
    assert d.feed(bytes([HOOK]), 9.0) == [MuteSwitch(False)]            # held long: absolute
    assert d.mode(Control.PHONE_MUTE) is UsageMode.ABSOLUTE


def test_flash_and_redial_fire_once_per_press() -> None:
    d = HeadsetDecoder(layout_of(load_hex(PLANTRONICS)))
    assert d.feed(bytes([8, 0b100]), 0.0) == [FlashPressed()]          # Flash is Abs: rising edge only
    assert d.feed(bytes([8, 0b100]), 0.5) == []
    assert d.feed(bytes([8, 0b000]), 0.6) == []
    assert d.feed(bytes([8, 0b100]), 1.0) == [FlashPressed()]
    p = HeadsetDecoder(layout_of(PACKED_HEADSET))
    assert p.feed(bytes([2, 0b1000]), 0.0) == [RedialPressed()]        # Redial is Rel: every report with 1


def test_reports_of_other_ids_and_empty_reports_are_ignored() -> None:
    d = HeadsetDecoder(layout_of(load_hex(PLANTRONICS)))
    assert d.feed(b"", 0.0) == []
    assert d.feed(bytes([0x2A, 0xFF]), 0.0) == []                       # padding-only report
    assert d.feed(bytes([0x99, 0x01, 0x02]), 0.0) == []                 # a vendor report


def test_short_report_reads_missing_bits_as_zero() -> None:
    d = HeadsetDecoder(layout_of(load_hex(PLANTRONICS)))
    assert d.feed(bytes([8]), 0.0) == []


def test_first_report_with_hook_up_while_nothing_rings() -> None:
    d = unnumbered()
    assert d.feed(bytes([0]), 0.0) == []                                # baseline: on hook
    assert d.feed(bytes([HOOK]), 1.0) == [HookSwitch(True)]
