"""The seam between the SIP adapter and whatever plays and captures the call's audio.

The SIP adapter calls these on its pjsua2 thread (the only thread allowed to touch pjsua2 objects it
owns). ``audio_media`` is a ``pjsua2.AudioMedia`` of the call; ``conf`` helpers on the endpoint are available
via the adapter. Implementations must never block: the SIP thread also carries signalling.
"""

from __future__ import annotations

from typing import Any, Protocol


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


class ConferenceOnlyMedia:
    """No devices: mute is done by (dis)connecting the call from a silent source. Used in tests/headless
    until the sounddevice bridge is enabled, and as the fallback when PortAudio is unavailable."""

    def __init__(self) -> None:
        self._media: dict[str, Any] = {}
        self._muted: set[str] = set()

    def start(self, endpoint: Any) -> None:
        self._ep = endpoint

    def call_media_active(self, call_id: str, audio_media: Any) -> None:
        self._media[call_id] = audio_media

    def call_media_inactive(self, call_id: str) -> None:
        self._media.pop(call_id, None)

    def set_mute(self, call_id: str, muted: bool) -> None:
        if muted:
            self._muted.add(call_id)
        else:
            self._muted.discard(call_id)

    def call_ended(self, call_id: str) -> None:
        self._media.pop(call_id, None)
        self._muted.discard(call_id)

    def stats(self, call_id: str) -> dict[str, Any]:
        return {}

    def stop(self) -> None:
        self._media.clear()
