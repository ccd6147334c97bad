"""The seam between the SIP adapter and whatever plays and captures the call's audio.

The SIP adapter calls these on its pjsua2 thread (the only thread allowed to touch pjsua2 objects it
owns). ``audio_media`` is a ``pjsua2.AudioMedia`` of the call; ``conf`` helpers on the endpoint are available
via the adapter. Implementations must never block: the SIP thread also carries signalling.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from softphone.audio.devices import Device


class MediaBridge(Protocol):
    def start(self, endpoint: Any) -> None:
        """Endpoint is up (null sound device set); create ports here."""

    def call_media_active(self, call_id: str, audio_media: Any) -> None:
        """The call's audio is flowing (after answer, after resume): connect it to the devices."""

    def call_media_inactive(self, call_id: str) -> None:
        """Hold or end: disconnect the call from the devices."""

    def set_mute(self, call_id: str, muted: bool) -> None:
        """Stop (or restart) sending the microphone to this call; no energy on RTP while muted."""

    def call_ended(self, call_id: str) -> None:
        """Release everything held for this call."""

    def stats(self, call_id: str) -> dict[str, Any]:
        """Bridge figures for status/history (underruns, latency); {} when not known."""

    def stop(self) -> None:
        """Before libDestroy: destroy every AudioMediaPort (pjsua2 asserts otherwise)."""

    # The engine calls these unconditionally (no hasattr): implementations without devices make them no-ops.

    def record_quality(self, call_id: str, call: Any, med_idx: int) -> dict[str, Any]:
        """On the SIP thread while the call's stream still exists: keep its RTCP figures for history."""

    def sync_calls(self, states: list[str]) -> None:
        """The states of all calls changed: local sounds follow (ringtone, ringback, call waiting)."""

    def play_dtmf(self, digits: str) -> None:
        """Keypad feedback for the rep."""

    def reconfigure(self, config: Any) -> None:
        """``[audio]`` settings changed: switch devices and processing at once."""

    def set_recording(self, call_id: str, on: bool) -> str | None:
        """Start/stop recording a call (pjsua2 thread); the WAV's path, None when nothing records it."""

    def devices(self) -> list[Device]:
        """The sound devices as last seen (no round trip to the sound server); [] without devices."""

    def bridge_stats(self) -> dict[str, Any]:
        """Figures of the device side independent of any call (devices in use, underruns, latency)."""


class ConferenceOnlyMedia:
    """No sound devices (headless tests, PortAudio missing): the call is wired to pjsua's null device exactly as
    it would be to a sound card — capture → call, call → playback — so the stream is clocked like a real call
    (RFC 4733 digits are sent from the stream's transmit path) and mute disconnects the capture side."""

    def __init__(self) -> None:
        self._media: dict[str, Any] = {}
        self._muted: set[str] = set()
        self._ep: Any = None

    def start(self, endpoint: Any) -> None:
        self._ep = endpoint

    def _devices(self) -> tuple[Any, Any]:
        mgr = self._ep.audDevManager()
        return mgr.getCaptureDevMedia(), mgr.getPlaybackDevMedia()

    def call_media_active(self, call_id: str, audio_media: Any) -> None:
        self._media[call_id] = audio_media
        capture, playback = self._devices()
        if call_id not in self._muted:
            capture.startTransmit(audio_media)
        audio_media.startTransmit(playback)

    def call_media_inactive(self, call_id: str) -> None:
        aud = self._media.pop(call_id, None)
        if aud is not None:
            self._disconnect(aud)

    def _disconnect(self, aud: Any) -> None:
        capture, playback = self._devices()
        for src, dst in ((capture, aud), (aud, playback)):
            with contextlib.suppress(Exception):  # the stream may already be gone (call ended)
                src.stopTransmit(dst)

    def set_mute(self, call_id: str, muted: bool) -> None:
        if muted:
            self._muted.add(call_id)
        else:
            self._muted.discard(call_id)
        aud = self._media.get(call_id)
        if aud is None:
            return
        capture, _ = self._devices()
        if muted:
            capture.stopTransmit(aud)
        else:
            capture.startTransmit(aud)

    def call_ended(self, call_id: str) -> None:
        self._media.pop(call_id, None)
        self._muted.discard(call_id)

    def stats(self, call_id: str) -> dict[str, Any]:
        return {}

    def stop(self) -> None:
        self._media.clear()

    def record_quality(self, call_id: str, call: Any, med_idx: int) -> dict[str, Any]:
        return {}

    def sync_calls(self, states: list[str]) -> None:
        return None

    def play_dtmf(self, digits: str) -> None:
        return None

    def reconfigure(self, config: Any) -> None:
        return None

    def set_recording(self, call_id: str, on: bool) -> str | None:
        return None

    def devices(self) -> list[Device]:
        return []

    def bridge_stats(self) -> dict[str, Any]:
        return {}
