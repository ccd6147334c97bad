"""DeviceWatcher without a sound server: PortAudio re-scans ALSA only when the kernel's sound devices change
(a scan costs tens of ms; once a second it was ~3 % of a core while idle), and the server is looked for again
only every few seconds. The probes are replaced by counters: this is the watcher's own logic, not audio."""

from __future__ import annotations

from typing import Any

import pytest

from softphone.audio import devices as dev


class Probes:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pulse_calls = 0
        self.scans = 0
        self.rescans = 0
        self.sig: tuple[str, ...] | None = ("controlC0", "pcmC0D0p", "0 [PCH ]")
        self.pa: list[dev.Device] = [dev.Device("HDA Intel", "HDA Intel", "output", True, "portaudio", 0)]
        self.now = 1000.0
        monkeypatch.setattr(dev, "_pulse_list", self._pulse)
        monkeypatch.setattr(dev, "_portaudio_list", self._portaudio)
        monkeypatch.setattr(dev, "_hw_signature", lambda: self.sig)
        monkeypatch.setattr(dev.time, "monotonic", lambda: self.now)

    def _pulse(self) -> None:
        self.pulse_calls += 1
        return None

    def _portaudio(self, rescan: bool = False) -> list[dev.Device]:
        self.scans += 1
        self.rescans += rescan
        return list(self.pa)


def test_no_rescan_while_the_kernel_devices_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Probes(monkeypatch)
    changes: list[Any] = []
    w = dev.DeviceWatcher(lambda a, r, n: changes.append((a, r)), can_rescan=lambda: True)
    assert p.scans == 1
    for _ in range(30):                         # 30 one-second polls
        p.now += 1.0
        w.poll()
    assert p.scans == 1 and changes == []
    assert p.pulse_calls <= 1 + 30 // dev.PULSE_RETRY_S + 1   # the server is looked for every few seconds


def test_a_plugged_headset_is_seen_on_the_next_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Probes(monkeypatch)
    changes: list[Any] = []
    w = dev.DeviceWatcher(lambda a, r, n: changes.append(([d.name for d in a], [d.name for d in r])),
                          can_rescan=lambda: True)
    p.now += 1.0
    w.poll()
    headset = dev.Device("Jabra Evolve2", "Jabra Evolve2", "output", False, "portaudio", 1)
    p.sig = (*p.sig[:-1], "pcmC1D0p", "0 [PCH ]\n 1 [Jabra ]")      # the kernel added a card
    p.pa.append(headset)
    p.now += 1.0
    w.poll()
    assert changes == [(["Jabra Evolve2"], [])]
    assert p.rescans >= 1


def test_a_scan_portaudio_cannot_redo_during_a_call_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Probes(monkeypatch)
    streams_open = [True]
    w = dev.DeviceWatcher(lambda a, r, n: None, can_rescan=lambda: not streams_open[0])
    p.sig = ("controlC0", "controlC1")
    p.now += 1.0
    w.poll()                                     # streams open: PortAudio cannot re-scan yet
    streams_open[0] = False
    p.now += 1.0
    w.poll()                                     # ... so it is done now that they are closed
    assert p.rescans == 1
    p.now += 1.0
    w.poll()
    assert p.rescans == 1


def test_without_a_kernel_device_list_scans_are_spaced(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Probes(monkeypatch)
    p.sig = None                                 # not Linux, or no /dev/snd
    w = dev.DeviceWatcher(lambda a, r, n: None, can_rescan=lambda: True)
    for _ in range(20):
        p.now += 1.0
        w.poll()
    assert 1 + 20 // dev.PULSE_RETRY_S - 1 <= p.scans <= 1 + 20 // dev.PULSE_RETRY_S + 1


def test_a_sound_server_that_appears_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    p = Probes(monkeypatch)
    w = dev.DeviceWatcher(lambda a, r, n: None, can_rescan=lambda: True)
    server = [dev.Device("alsa_output.pci", "Built-in Audio", "output", True, "pulse")]
    monkeypatch.setattr(dev, "_pulse_list", lambda: server)
    p.now += dev.PULSE_RETRY_S + 0.1
    w.poll()
    assert w.devices == server
