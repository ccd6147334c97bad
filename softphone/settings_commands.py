"""Settings behind the window's settings page: the non-account sections and the audio device tools.

Validated by the same pydantic models as the config file, written back to the same TOML file, applied live
where they can be (devices switch at once); accounts have their own service (``softphone.accounts``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from softphone import config as cfg
from softphone.accounts import validation_message
from softphone.errors import ConfigError, SoftphoneError

if TYPE_CHECKING:
    from softphone.ports import EngineAPI

log = logging.getLogger(__name__)

RESTART_SECTIONS = {"widget", "sip_port", "sip_bind_address", "demo_line", "user_agent", "stranger_calls"}


def _load() -> cfg.Settings:
    try:
        return cfg.load(env_origins=False)
    except ConfigError as exc:
        raise SoftphoneError(exc.message) from None


def settings_get() -> dict[str, Any]:
    return {"settings": _load().model_dump(mode="json", exclude={"accounts"})}


def settings_save(e: EngineAPI, patch: dict[str, Any]) -> dict[str, Any]:
    if "accounts" in patch:
        raise SoftphoneError("Accounts have their own commands (account_save, account_remove).")
    merged = _load().model_dump(mode="json")
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        new = cfg.Settings.model_validate(merged)
    except ValidationError as exc:
        raise SoftphoneError(f"Settings not saved: {validation_message(exc)}") from None
    cfg.save(new)
    e.settings = new
    if "audio" in patch:
        e.media.reconfigure(new.audio)
    restart = sorted(k for k in patch if k in RESTART_SECTIONS)
    return {"saved": True, "restart_required": restart}


async def audio_devices() -> dict[str, Any]:
    from softphone.audio import devices

    found = await asyncio.get_running_loop().run_in_executor(None, devices.list_devices)

    def pick(direction: str) -> list[dict[str, Any]]:
        return [{"id": d.name, "name": d.description or d.name, "default": d.default}
                for d in found if d.direction == direction]

    return {"inputs": pick("input"), "outputs": pick("output")}


async def audio_test(kind: str, device: str | None) -> dict[str, Any]:
    """``input``: 1 s level measurement (drives the meter); ``output``/``ringer``: a test tone on the device."""
    from softphone.audio import settings as audio_settings

    loop = asyncio.get_running_loop()
    if kind == "input":
        def measure() -> float:
            with audio_settings.LevelMeter(device) as meter:
                time.sleep(1.0)
                return float(meter.peak_dbfs)

        try:
            peak_dbfs = await loop.run_in_executor(None, measure)
        except Exception as exc:
            raise SoftphoneError(f"Cannot open the microphone: {exc}") from None
        return {"peak_dbfs": peak_dbfs, "peak": max(0.0, min(1.0, (peak_dbfs + 60.0) / 60.0))}
    if kind in ("output", "ringer"):
        try:
            await loop.run_in_executor(None, audio_settings.play_test_tone, device)
        except Exception as exc:
            raise SoftphoneError(f"Cannot play on that device: {exc}") from None
        return {"played": True}
    raise SoftphoneError("“kind” must be input, output or ringer.")
