"""Platform notes for ``softphone doctor``: what the OS itself may be blocking, and where to fix it."""

from __future__ import annotations

from softphone.platform import OSName, current


def headset_hints(os_name: OSName | None = None) -> list[str]:
    """Why a connected headset's buttons may do nothing, per platform."""
    os_name = os_name or current()
    if os_name == "darwin":
        return ["macOS: headset buttons need Input Monitoring. Open System Settings > Privacy & Security > "
                "Input Monitoring and switch on Softphone (macOS asks the first time the app opens the headset; "
                "after a denial it never asks again), then quit and reopen Softphone."]
    if os_name == "win32":
        return ["Windows: if another calling app (Teams, Zoom) holds the headset open exclusively, its buttons "
                "reach only that app; quit it and unplug/replug the headset."]
    return ["Linux: hidraw devices must be readable by you (a udev rule with TAG+=\"uaccess\" for the headset)."]


def microphone_hints(os_name: OSName | None = None) -> list[str]:
    os_name = os_name or current()
    if os_name == "darwin":
        return ["macOS: allow Softphone under System Settings > Privacy & Security > Microphone, or calls are "
                "silent for the other side."]
    if os_name == "win32":
        return ["Windows: Settings > Privacy & security > Microphone > \"Let desktop apps access your "
                "microphone\" must be on."]
    return []
