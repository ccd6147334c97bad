"""``softphone headset ...``: see which headsets the phone can use, and what their buttons send.

    softphone headset list [--json]        telephony HID devices: name, vid:pid, path, buttons, lights, sound card
    softphone headset monitor [DEVICE]     print every report and what it means until Ctrl-C (no calls placed)

Wiring: ``softphone.headset.cli`` is in ``softphone.cli.PLUGINS``; ``register(subparsers)`` adds the tree and each
leaf sets ``func(args) -> exit code``. Exit codes: 0 ok, 1 no headset / cannot open it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from softphone.headset.decode import HeadsetDecoder, HookSwitch, LedState, MuteSwitch, build_output_reports
from softphone.headset.service import HidapiBackend, HidBackend, candidates, list_headsets, read_layout


def cmd_list(args: argparse.Namespace) -> int:
    heads = list_headsets()
    if args.json:
        print(json.dumps([h.to_json() for h in heads], indent=2))
        return 0
    if not heads:
        print("No telephony headset found (a HID device with the Telephony usage page).")
        return 0
    for h in heads:
        print(h)
    return 0


def cmd_monitor(args: argparse.Namespace, backend: HidBackend | None = None) -> int:
    backend = backend or HidapiBackend()
    groups = candidates(backend.enumerate(), args.device)
    path = next(iter(groups), None)
    if path is None:
        print("No matching telephony headset.", file=sys.stderr)
        return 1
    try:
        dev = backend.open(path)
    except Exception as exc:
        print(f"Cannot open {path.decode(errors='replace')}: {exc}", file=sys.stderr)
        return 1
    layout = read_layout(dev, path)
    if layout is None:
        print("Cannot read the report descriptor.", file=sys.stderr)
        dev.close()
        return 1
    decoder = HeadsetDecoder(layout)
    leds = LedState()
    print(f"Listening to {groups[path][0].product or path.decode()} — press its buttons, Ctrl-C to stop.")
    try:
        while True:
            data = dev.read(max(64, layout.descriptor.max_input_size), 250)
            if not data:
                continue
            now = time.monotonic()
            events = decoder.feed(data, now)
            # mirror what the phone would show, so devices that follow the host LEDs behave as in a call
            for ev in events:
                if isinstance(ev, HookSwitch):
                    leds = LedState(off_hook=ev.off_hook, mute=leds.mute and ev.off_hook)
                elif isinstance(ev, MuteSwitch):
                    leds = LedState(off_hook=leds.off_hook, mute=ev.muted)
            decoder.set_host(leds, now)
            for report in build_output_reports(layout, leds):
                dev.write(report)
            modes: dict[str, Any] = {c.value: m.value for c in layout.inputs
                                     if (m := decoder.mode(c)) is not None}
            said = ", ".join(repr(e) for e in events) or "-"
            print(f"{data.hex(' ')}  ->  {said}  {modes}")
    except KeyboardInterrupt:
        return 0
    finally:
        dev.close()


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("headset", help="USB/Bluetooth HID headsets (call buttons and lights)")
    sub = p.add_subparsers(dest="headset", metavar="ACTION")
    sub.required = True
    ls = sub.add_parser("list", help="telephony headsets found now")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    mon = sub.add_parser("monitor", help="show what a headset's buttons send (Ctrl-C to stop)")
    mon.add_argument("device", nargs="?", help="path, vid:pid or part of the product name")
    mon.set_defaults(func=cmd_monitor)
