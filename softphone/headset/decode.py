"""HID telephony decoding: report descriptors in, clean headset events and LED output reports out. PURE.

No I/O, no clocks (every time-dependent call takes ``now`` in seconds), no hidapi. The adapter
(``softphone.headset.service``) feeds raw bytes in and writes the bytes this module builds.

Three layers:

1. ``parse_descriptor(bytes) -> ReportDescriptor``: a HID 1.11 report descriptor parser (short and long items,
   push/pop, usage ranges, report IDs, nested collections) giving every Input/Output/Feature field with its
   report ID, bit offset, size, flags and usages. Vendor pages (0xFF00, Teams 0xFF99, Plantronics 0xFFA0, …)
   parse like anything else and are simply never mapped.
2. ``TelephonyLayout.from_descriptor``: where the telephony controls we act on live (Hook Switch 0x0B:0x20,
   Phone Mute 0x0B:0x2F, Flash 0x0B:0x21, Redial 0x0B:0x24) and where the LEDs we drive live (LED page 0x08:
   Off-Hook 0x17, Ring 0x18, Mute 0x09, Hold 0x20, Microphone 0x21; Telephony Ringer 0x0B:0x9E).
   ``build_output_reports`` turns an ``LedState`` into the output reports to write.
3. ``HeadsetDecoder``: turns input reports into ``HookSwitch`` / ``MuteSwitch`` / ``FlashPressed`` /
   ``RedialPressed`` requests, resolving each on/off control against the state the host last showed on the
   LEDs (``set_host``).

Per-usage absolute vs toggle learning (hook switch and phone mute). Descriptors are not reliable here: most
headsets declare both as absolute, yet some report a state they keep (Jabra, Poly and EPOS hook switches: the
device holds "off hook" and follows the host's Off-Hook LED) and others send a 1-then-0 press for every toggle.
A usage the descriptor marks Relative is a toggle from the start. Otherwise its mode is UNKNOWN and resolved
from what the device does:

- a rising edge while the host shows "off" means "on" under both readings: act at once;
- a rising edge while the host shows "on" is a toggle press *or* an absolute device agreeing with the host:
  wait for the release;
- a falling edge that comes back quickly (``momentary_s``) after the rising edge is a button release: the usage
  is a TOGGLE (and a press we waited on now acts as a toggle);
- a falling edge long after, or any edge that follows a host LED change it agrees with (an echo), means the
  device keeps state: ABSOLUTE.

Known device habits handled here: identical reports repeated within ``debounce_s`` are dropped (some Plantronics
repeat reports within ~50 ms); absolute devices echo LED changes, which are never mistaken for presses; constant
flags on fields that carry real telephony usages are ignored (seen on speakerphones whose telephony inputs are
all flagged Constant); usage pages declared after their usages are applied like the Linux kernel does. Habits
handled by the adapter/machine: echo the LED state after every input report (some headsets reset mute or hook
otherwise); never clear Off-Hook while a call is held.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "LED",
    "PAGE_BUTTON",
    "PAGE_CONSUMER",
    "PAGE_GENERIC_DESKTOP",
    "PAGE_LED",
    "PAGE_TELEPHONY",
    "TEL",
    "Control",
    "DescriptorError",
    "Field",
    "FlashPressed",
    "HeadsetDecoder",
    "HeadsetEvent",
    "HookSwitch",
    "Indicator",
    "LedState",
    "MuteSwitch",
    "RedialPressed",
    "ReportDescriptor",
    "ReportKind",
    "TelephonyLayout",
    "UsageMode",
    "build_output_reports",
    "describe_capabilities",
    "iter_hex",
    "parse_descriptor",
    "usage",
]

PAGE_GENERIC_DESKTOP = 0x01
PAGE_LED = 0x08
PAGE_BUTTON = 0x09
PAGE_TELEPHONY = 0x0B
PAGE_CONSUMER = 0x0C


class TEL:
    """Telephony page (0x0B) usage IDs we know by name."""

    PHONE = 0x01
    HEADSET = 0x05
    HOOK_SWITCH = 0x20
    FLASH = 0x21
    HOLD = 0x23
    REDIAL = 0x24
    DROP = 0x26
    PHONE_MUTE = 0x2F
    LINE_BUSY_TONE = 0x97
    RINGER = 0x9E


class LED:
    """LED page (0x08) usage IDs we drive."""

    MUTE = 0x09
    OFF_HOOK = 0x17
    RING = 0x18
    HOLD = 0x20
    MICROPHONE = 0x21


def usage(page: int, usage_id: int) -> int:
    """A full 32-bit usage: page in the high half (how descriptors and hidapi spell it)."""
    return (page << 16) | usage_id


class DescriptorError(ValueError):
    """The descriptor is malformed beyond what real devices get away with."""


class ReportKind(str, Enum):
    INPUT = "input"
    OUTPUT = "output"
    FEATURE = "feature"


# Main item data bits
_CONSTANT = 0x01
_VARIABLE = 0x02
_RELATIVE = 0x04

_MAX_RANGE = 4096          # usage min/max expanded at most this far (vendor pages declare 0..0xFFFF)
_MAX_REPORT_BITS = 8 * 4096


@dataclass(frozen=True)
class Field:
    """One Input/Output/Feature main item: ``count`` elements of ``size`` bits at ``bit_offset``.

    ``bit_offset`` counts from the first data byte, after the report ID byte when the device numbers its
    reports. For a variable field ``usages[i]`` names element ``i``; for an array field ``usages`` is the list
    the element values index (value ``logical_min`` selects ``usages[0]``).
    """

    kind: ReportKind
    report_id: int
    bit_offset: int
    size: int
    count: int
    flags: int
    logical_min: int
    logical_max: int
    usages: tuple[int, ...]
    application: int            # usage of the innermost enclosing Application collection (0 if none)

    @property
    def constant(self) -> bool:
        return bool(self.flags & _CONSTANT)

    @property
    def variable(self) -> bool:
        return bool(self.flags & _VARIABLE)

    @property
    def relative(self) -> bool:
        return bool(self.flags & _RELATIVE)

    @property
    def bits(self) -> int:
        return self.size * self.count

    def element_usage(self, i: int) -> int:
        if not self.usages:
            return 0
        return self.usages[min(i, len(self.usages) - 1)]

    def values(self, data: bytes) -> list[int]:
        """Element values from report data (without the report ID byte); elements past the end read as 0."""
        out = []
        for i in range(self.count):
            out.append(_get_bits(data, self.bit_offset + i * self.size, self.size, signed=self.logical_min < 0))
        return out

    def active_usages(self, data: bytes) -> dict[int, int]:
        """usage -> value for this field in ``data``: variable elements by position, array elements by index."""
        vals = self.values(data)
        if self.variable:
            return {self.element_usage(i): v for i, v in enumerate(vals)}
        active: dict[int, int] = {u: 0 for u in self.usages}
        for v in vals:
            idx = v - self.logical_min
            if 0 <= idx < len(self.usages) and self.logical_min <= v <= self.logical_max:
                active[self.usages[idx]] = 1
        return active


@dataclass(frozen=True)
class ReportDescriptor:
    fields: tuple[Field, ...]
    applications: tuple[int, ...]       # top-level Application collection usages, in order
    numbered: bool                      # the device prefixes reports with a report ID byte
    raw: bytes = field(default=b"", repr=False, compare=False)

    def report_bits(self, kind: ReportKind, report_id: int) -> int:
        return max((f.bit_offset + f.bits for f in self.fields if f.kind is kind and f.report_id == report_id),
                   default=0)

    def report_size(self, kind: ReportKind, report_id: int) -> int:
        """Payload bytes of one report, without the report ID byte."""
        return (self.report_bits(kind, report_id) + 7) // 8

    def report_ids(self, kind: ReportKind) -> list[int]:
        return sorted({f.report_id for f in self.fields if f.kind is kind})

    def has_page(self, page: int) -> bool:
        return any(a >> 16 == page for a in self.applications) or any(
            u >> 16 == page for f in self.fields for u in f.usages)

    @property
    def max_input_size(self) -> int:
        """Bytes a read must allow for the longest input report, report ID included."""
        ids = self.report_ids(ReportKind.INPUT) or [0]
        return max(self.report_size(ReportKind.INPUT, r) for r in ids) + (1 if self.numbered else 0)


# ------------------------------------------------------------------------------------------- descriptor parser


def _get_bits(data: bytes, offset: int, size: int, signed: bool = False) -> int:
    value = 0
    for i in range(size):
        pos = offset + i
        byte = pos >> 3
        if byte >= len(data):
            break
        if data[byte] >> (pos & 7) & 1:
            value |= 1 << i
    if signed and size > 0 and value & (1 << (size - 1)):
        value -= 1 << size
    return value


def _set_bits(buf: bytearray, offset: int, size: int, value: int) -> None:
    value &= (1 << size) - 1
    for i in range(size):
        pos = offset + i
        byte = pos >> 3
        if byte >= len(buf):
            return
        if value >> i & 1:
            buf[byte] |= 1 << (pos & 7)
        else:
            buf[byte] &= ~(1 << (pos & 7)) & 0xFF


@dataclass
class _Globals:
    usage_page: int = 0
    logical_min: int = 0
    logical_max: int = 0
    report_size: int = 0
    report_id: int = 0
    report_count: int = 0


@dataclass
class _Locals:
    usages: list[tuple[int, bool]] = field(default_factory=list)   # (usage, extended: page given in the item)
    usage_min: tuple[int, bool] | None = None
    usage_max: tuple[int, bool] | None = None


def _unsigned(data: bytes) -> int:
    return int.from_bytes(data, "little") if data else 0


def _signed(data: bytes) -> int:
    return int.from_bytes(data, "little", signed=True) if data else 0


def parse_descriptor(raw: bytes | Sequence[int]) -> ReportDescriptor:
    """Parse a HID report descriptor. Tolerates what real devices ship; raises ``DescriptorError`` otherwise."""
    desc = bytes(raw)
    g = _Globals()
    stack: list[_Globals] = []
    loc = _Locals()
    collections: list[tuple[int, int]] = []      # (collection type, usage)
    applications: list[int] = []
    fields: list[Field] = []
    offsets: dict[tuple[ReportKind, int], int] = {}
    numbered = False
    pos = 0
    n = len(desc)
    while pos < n:
        prefix = desc[pos]
        if prefix == 0xFE:                        # long item: skip
            if pos + 2 >= n:
                break
            pos += 3 + desc[pos + 1]
            continue
        size = (0, 1, 2, 4)[prefix & 0x03]
        kind = (prefix >> 2) & 0x03
        tag = prefix >> 4
        data = desc[pos + 1: pos + 1 + size]
        if len(data) < size:
            break                                 # truncated trailing item: keep what we have
        pos += 1 + size
        if kind == 0:                             # main
            if tag in (0x8, 0x9, 0xB):
                rkind = {0x8: ReportKind.INPUT, 0x9: ReportKind.OUTPUT, 0xB: ReportKind.FEATURE}[tag]
                _concatenate_last_usage_page(loc, g.usage_page)
                flags = _unsigned(data)
                key = (rkind, g.report_id)
                start = offsets.get(key, 0)
                bits = g.report_size * g.report_count
                if start + bits > _MAX_REPORT_BITS:
                    raise DescriptorError(f"report {g.report_id} longer than {_MAX_REPORT_BITS} bits")
                offsets[key] = start + bits
                if bits:
                    fields.append(Field(
                        kind=rkind,
                        report_id=g.report_id,
                        bit_offset=start,
                        size=g.report_size,
                        count=g.report_count,
                        flags=flags,
                        logical_min=g.logical_min,
                        logical_max=g.logical_max,
                        usages=tuple(_local_usages(loc, g.usage_page)),
                        application=next((u for t, u in reversed(collections) if t == 0x01), 0),
                    ))
                loc = _Locals()
            elif tag == 0xA:                      # collection
                _concatenate_last_usage_page(loc, g.usage_page)
                us = _local_usages(loc, g.usage_page)
                ctype = _unsigned(data)
                cusage = us[0] if us else 0
                if ctype == 0x01 and not collections:
                    applications.append(cusage)
                collections.append((ctype, cusage))
                loc = _Locals()
            elif tag == 0xC:                      # end collection
                if collections:
                    collections.pop()
                loc = _Locals()
            else:
                loc = _Locals()
        elif kind == 1:                           # global
            if tag == 0x0:
                g.usage_page = _unsigned(data)
            elif tag == 0x1:
                g.logical_min = _signed(data)
            elif tag == 0x2:
                # Signed per the spec, but devices write 0x25 0xFF meaning 255: read unsigned unless the
                # minimum is negative (the Linux kernel's rule).
                g.logical_max = _signed(data) if g.logical_min < 0 else _unsigned(data)
            elif tag == 0x7:
                g.report_size = _unsigned(data)
            elif tag == 0x8:
                g.report_id = _unsigned(data)
                if g.report_id == 0 or g.report_id > 255:
                    raise DescriptorError(f"invalid report ID {g.report_id}")
                numbered = True
            elif tag == 0x9:
                g.report_count = _unsigned(data)
            elif tag == 0xA:
                stack.append(dataclasses.replace(g))
            elif tag == 0xB and stack:
                g = stack.pop()
        elif kind == 2:                           # local
            value = _unsigned(data)
            extended = size == 4
            if tag == 0x0:
                loc.usages.append((value if extended else (g.usage_page << 16) | value, extended))
            elif tag == 0x1:
                loc.usage_min = (value if extended else (g.usage_page << 16) | value, extended)
            elif tag == 0x2:
                loc.usage_max = (value if extended else (g.usage_page << 16) | value, extended)
        # kind 3 (reserved) ignored
    if not fields and not applications:
        raise DescriptorError("no collections or fields in descriptor")
    return ReportDescriptor(fields=tuple(fields), applications=tuple(applications), numbered=numbered, raw=desc)


def _concatenate_last_usage_page(loc: _Locals, page: int) -> None:
    """Apply a Usage Page declared after its (16-bit) usages, walking back until one already has it (Linux)."""
    for i in range(len(loc.usages) - 1, -1, -1):
        u, ext = loc.usages[i]
        if ext:
            continue
        if u >> 16 == page:
            break
        loc.usages[i] = ((page << 16) | (u & 0xFFFF), ext)
    for attr in ("usage_min", "usage_max"):
        item = getattr(loc, attr)
        if item is not None and not item[1] and item[0] >> 16 != page and not loc.usages:
            setattr(loc, attr, ((page << 16) | (item[0] & 0xFFFF), False))


def _local_usages(loc: _Locals, page: int) -> list[int]:
    out = [u for u, _ in loc.usages]
    if loc.usage_min is not None and loc.usage_max is not None:
        lo, hi = loc.usage_min[0], loc.usage_max[0]
        if hi >= lo:
            out.extend(range(lo, min(hi, lo + _MAX_RANGE - 1) + 1))
    elif loc.usage_min is not None:
        out.append(loc.usage_min[0])
    return out


# ------------------------------------------------------------------------------------------- telephony layout


class Control(str, Enum):
    """Telephony inputs we act on."""

    HOOK_SWITCH = "hook_switch"
    PHONE_MUTE = "phone_mute"
    FLASH = "flash"
    REDIAL = "redial"


class Indicator(str, Enum):
    """Outputs we drive."""

    OFF_HOOK = "off_hook"
    RING = "ring"
    MUTE = "mute"
    HOLD = "hold"
    MICROPHONE = "microphone"
    RINGER = "ringer"


_CONTROL_USAGES: dict[int, Control] = {
    usage(PAGE_TELEPHONY, TEL.HOOK_SWITCH): Control.HOOK_SWITCH,
    usage(PAGE_TELEPHONY, TEL.PHONE_MUTE): Control.PHONE_MUTE,
    usage(PAGE_TELEPHONY, TEL.FLASH): Control.FLASH,
    usage(PAGE_TELEPHONY, TEL.REDIAL): Control.REDIAL,
}

_INDICATOR_USAGES: dict[int, Indicator] = {
    usage(PAGE_LED, LED.OFF_HOOK): Indicator.OFF_HOOK,
    usage(PAGE_LED, LED.RING): Indicator.RING,
    usage(PAGE_LED, LED.MUTE): Indicator.MUTE,
    usage(PAGE_LED, LED.HOLD): Indicator.HOLD,
    usage(PAGE_LED, LED.MICROPHONE): Indicator.MICROPHONE,
    usage(PAGE_TELEPHONY, TEL.RINGER): Indicator.RINGER,
}

_KEYBOARD_APPS = frozenset({usage(PAGE_GENERIC_DESKTOP, 0x06), usage(PAGE_GENERIC_DESKTOP, 0x07)})


@dataclass(frozen=True)
class _InputRef:
    field: Field
    usage: int


@dataclass(frozen=True)
class _OutputRef:
    report_id: int
    bit_offset: int
    size: int
    on_value: int
    off_value: int


@dataclass(frozen=True)
class TelephonyLayout:
    """Where a device's telephony controls and LEDs are. Empty when the device has no telephony page."""

    descriptor: ReportDescriptor
    inputs: dict[Control, tuple[_InputRef, ...]]
    outputs: dict[Indicator, tuple[_OutputRef, ...]]
    output_sizes: dict[int, int]          # report ID -> payload bytes, for reports holding our indicators

    @property
    def numbered(self) -> bool:
        return self.descriptor.numbered

    @property
    def is_telephony(self) -> bool:
        return self.descriptor.has_page(PAGE_TELEPHONY)

    def declared_relative(self, control: Control) -> bool:
        refs = self.inputs.get(control, ())
        return bool(refs) and all(r.field.relative and r.field.variable for r in refs)

    @classmethod
    def from_descriptor(cls, desc: ReportDescriptor) -> TelephonyLayout:
        inputs: dict[Control, list[_InputRef]] = {}
        for f in desc.fields:
            if f.kind is not ReportKind.INPUT:
                continue
            for u in dict.fromkeys(f.usages):
                control = _CONTROL_USAGES.get(u)
                if control is None:
                    continue
                # A Constant field carrying a named telephony usage is data on some devices: keep it.
                inputs.setdefault(control, []).append(_InputRef(f, u))
        out_fields = [f for f in desc.fields if f.kind is ReportKind.OUTPUT and f.variable and not f.constant]
        tel_fields = [f for f in out_fields if f.application >> 16 == PAGE_TELEPHONY]
        candidates = tel_fields or [f for f in out_fields if f.application not in _KEYBOARD_APPS]
        outputs: dict[Indicator, list[_OutputRef]] = {}
        for f in candidates:
            for i in range(min(f.count, len(f.usages))):
                # elements past the usage list (Linux repeats the last usage there) are left alone
                ind = _INDICATOR_USAGES.get(f.usages[i])
                if ind is None:
                    continue
                on = f.logical_max if f.logical_max > 0 else 1
                off = f.logical_min if f.logical_min >= 0 else 0
                outputs.setdefault(ind, []).append(
                    _OutputRef(f.report_id, f.bit_offset + i * f.size, f.size, on, off))
        sizes = {ref.report_id: desc.report_size(ReportKind.OUTPUT, ref.report_id)
                 for refs in outputs.values() for ref in refs}
        return cls(
            descriptor=desc,
            inputs={k: tuple(v) for k, v in inputs.items()},
            outputs={k: tuple(v) for k, v in outputs.items()},
            output_sizes=sizes,
        )


def describe_capabilities(layout: TelephonyLayout) -> dict[str, list[str]]:
    """For ``softphone doctor`` and the settings page: which buttons and lights we can use."""
    return {
        "inputs": [c.value for c in Control if c in layout.inputs],
        "outputs": [i.value for i in Indicator if i in layout.outputs],
    }


# ------------------------------------------------------------------------------------------- LED output


@dataclass(frozen=True)
class LedState:
    """What the host shows on the headset. ``mute`` drives both LED Mute and LED Microphone."""

    off_hook: bool = False
    ring: bool = False
    mute: bool = False
    hold: bool = False

    def indicator(self, ind: Indicator) -> bool:
        if ind is Indicator.OFF_HOOK:
            return self.off_hook
        if ind in (Indicator.RING, Indicator.RINGER):
            return self.ring
        if ind in (Indicator.MUTE, Indicator.MICROPHONE):
            return self.mute
        return self.hold


def build_output_reports(layout: TelephonyLayout, leds: LedState) -> list[bytes]:
    """One output report per report ID that carries our indicators, each prefixed with its report ID byte
    (0 for devices without report IDs, as hidapi's ``write`` expects). Other bits of those reports are 0."""
    bufs: dict[int, bytearray] = {rid: bytearray(size) for rid, size in sorted(layout.output_sizes.items())}
    for ind, refs in layout.outputs.items():
        on = leds.indicator(ind)
        for ref in refs:
            _set_bits(bufs[ref.report_id], ref.bit_offset, ref.size, ref.on_value if on else ref.off_value)
    return [bytes([rid]) + bytes(buf) for rid, buf in bufs.items()]


# ------------------------------------------------------------------------------------------- input decoding


@dataclass(frozen=True)
class HookSwitch:
    """The user asks the phone to go off hook (answer) or on hook (end)."""

    off_hook: bool


@dataclass(frozen=True)
class MuteSwitch:
    """The user asks for the microphone to be muted or unmuted."""

    muted: bool


@dataclass(frozen=True)
class FlashPressed:
    """Flash: hold/resume, swap, or take a waiting call."""


@dataclass(frozen=True)
class RedialPressed:
    """Redial the last number."""


HeadsetEvent = HookSwitch | MuteSwitch | FlashPressed | RedialPressed


class UsageMode(str, Enum):
    UNKNOWN = "unknown"
    ABSOLUTE = "absolute"
    TOGGLE = "toggle"


@dataclass
class _Switch:
    """Learning state of one on/off control (hook switch or phone mute)."""

    mode: UsageMode
    value: bool = False
    seen: bool = False
    pressed_at: float | None = None
    deferred: bool = False
    host: bool = False
    host_changed_at: float | None = None


class HeadsetDecoder:
    """Input reports -> requests, for one device. Feed every report read; tell it what the LEDs show."""

    def __init__(self, layout: TelephonyLayout, *, momentary_s: float = 1.0, debounce_s: float = 0.06,
                 echo_s: float = 1.0) -> None:
        self.layout = layout
        self.momentary_s = momentary_s
        self.debounce_s = debounce_s
        self.echo_s = echo_s
        self._switches: dict[Control, _Switch] = {}
        for c in (Control.HOOK_SWITCH, Control.PHONE_MUTE):
            if c in layout.inputs:
                mode = UsageMode.TOGGLE if layout.declared_relative(c) else UsageMode.UNKNOWN
                self._switches[c] = _Switch(mode)
        self._buttons: dict[Control, bool] = {c: False for c in (Control.FLASH, Control.REDIAL)
                                              if c in layout.inputs}
        self._last: dict[int, tuple[bytes, float]] = {}

    # ------------------------------------------------------------------ state

    def mode(self, control: Control) -> UsageMode | None:
        sw = self._switches.get(control)
        return sw.mode if sw else None

    def set_host(self, leds: LedState, now: float) -> None:
        """What the host now shows: Off-Hook LED for the hook switch, Mute LED for phone mute."""
        for control, value in ((Control.HOOK_SWITCH, leds.off_hook), (Control.PHONE_MUTE, leds.mute)):
            sw = self._switches.get(control)
            if sw is not None and sw.host != value:
                sw.host = value
                sw.host_changed_at = now

    # ------------------------------------------------------------------ input

    def feed(self, report: bytes, now: float) -> list[HeadsetEvent]:
        """Decode one input report as read from the device (report ID first if the device numbers reports)."""
        if not report:
            return []
        if self.layout.numbered:
            rid, data = report[0], bytes(report[1:])
        else:
            rid, data = 0, bytes(report)
        prev = self._last.get(rid)
        self._last[rid] = (data, now)
        if prev is not None and prev[0] == data and now - prev[1] < self.debounce_s:
            return []                              # duplicated report
        events: list[HeadsetEvent] = []
        for control, refs in self.layout.inputs.items():
            mine = [r for r in refs if r.field.report_id == rid]
            if not mine:
                continue
            values = [r.field.active_usages(data).get(r.usage, 0) for r in mine]
            relative = all(r.field.relative and r.field.variable for r in mine)
            active = any(v != 0 for v in values)
            if control in self._switches:
                events.extend(self._switch(control, active, relative, now))
            else:
                was = self._buttons[control]
                self._buttons[control] = active
                if active and (relative or not was):
                    events.append(FlashPressed() if control is Control.FLASH else RedialPressed())
        return events

    def _switch(self, control: Control, active: bool, relative: bool, now: float) -> list[HeadsetEvent]:
        sw = self._switches[control]

        def request(on: bool) -> list[HeadsetEvent]:
            return [HookSwitch(on) if control is Control.HOOK_SWITCH else MuteSwitch(on)]

        if relative:
            # Declared relative: every non-zero report is one press of a toggle.
            sw.value = active
            return request(not sw.host) if active else []
        first = not sw.seen
        sw.seen = True
        if active == sw.value and not first:
            return []
        sw.value = active
        if first and not active:
            return []
        echo = (sw.host_changed_at is not None and now - sw.host_changed_at <= self.echo_s
                and active == sw.host)
        if sw.mode is UsageMode.TOGGLE:
            return request(not sw.host) if active else []
        if sw.mode is UsageMode.ABSOLUTE:
            return request(active) if active != sw.host else []
        # UNKNOWN
        if echo:
            sw.mode = UsageMode.ABSOLUTE
            sw.pressed_at, sw.deferred = None, False
            return []
        if active:
            sw.pressed_at = now
            if not sw.host:
                sw.deferred = False
                return request(True)
            sw.deferred = True
            return []
        pressed_at, deferred = sw.pressed_at, sw.deferred
        sw.pressed_at, sw.deferred = None, False
        if pressed_at is not None and now - pressed_at <= self.momentary_s:
            sw.mode = UsageMode.TOGGLE
            return request(not sw.host) if deferred else []
        sw.mode = UsageMode.ABSOLUTE
        return request(False) if sw.host else []


def iter_hex(text: str) -> Iterable[int]:
    """Bytes from a hex dump: ``0x05, 0x0b``, ``05 0B`` or ``050b``; ``#`` starts a comment."""
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].replace(",", " ").replace("0x", " ").replace("0X", " ")
        for tok in line.split():
            if len(tok) % 2:
                raise ValueError(f"odd hex token {tok!r}")
            for i in range(0, len(tok), 2):
                yield int(tok[i:i + 2], 16)
