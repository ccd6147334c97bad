"""Settings commands for the window's settings page: accounts (password to the keyring), audio devices and
test, headset, widget. Everything is validated by the same pydantic models as the config file, written back
to the same TOML file, and applied live where it can be (accounts re-register; devices switch at once)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from softphone import config as cfg
from softphone import secrets
from softphone.core.phone import AccountInfo
from softphone.errors import ConfigError, SoftphoneError

if TYPE_CHECKING:
    from softphone.app import Engine

log = logging.getLogger(__name__)

LIVE_SECTIONS = {"audio", "headset"}
RESTART_SECTIONS = {"widget", "sip_port", "sip_bind_address", "demo_line"}


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors())


def _load() -> cfg.Settings:
    try:
        return cfg.load(env_origins=False)
    except ConfigError as exc:
        raise SoftphoneError(exc.message) from None


def _info(a: cfg.AccountConfig) -> AccountInfo:
    return AccountInfo(name=a.name, domain=a.domain, scheme=a.scheme, default_country=a.default_country,
                       has_registrar=a.registrar is not None, dtmf_method=a.dtmf_method)


def _apply_account(e: Engine, a: cfg.AccountConfig | None, old_name: str | None) -> None:
    """Re-register a changed account in the running engine (or drop a removed one)."""
    assert e.phone is not None
    for name in {n for n in (old_name, a.name if a else None) if n}:
        e.sip.remove_account(name)
        e.phone.remove_account(name)
    if a is not None and a.enabled:
        e.phone.upsert_account(_info(a))
        e.sip.add_account(a, secrets.get_password(a.name) if a.auth_username else None)


async def account_list(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    settings = _load()
    out = []
    for a in settings.accounts:
        d = a.model_dump(mode="json")
        d["has_password"] = secrets.get_password(a.name) is not None if a.auth_username else None
        out.append(d)
    return {"accounts": out}


async def account_save(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    data = args.get("account")
    if not isinstance(data, dict):
        raise SoftphoneError("“account” must be an object.")
    original = args.get("original_name")
    clean = {k: v for k, v in data.items() if v not in ("", None) or k == "name"}
    clean.pop("has_password", None)
    clean.pop("password", None)  # never into the config file: use set_password
    try:
        acc = cfg.AccountConfig.model_validate(clean)
    except ValidationError as exc:
        raise SoftphoneError(f"Account not saved: {_validation_message(exc)}") from None
    settings = _load()
    others = [a for a in settings.accounts if a.name not in {original, acc.name}]
    if original is None and settings.account(acc.name) is not None:
        raise SoftphoneError(f"An account named “{acc.name}” already exists.")
    position = next((i for i, a in enumerate(settings.accounts) if a.name in {original, acc.name}), len(others))
    others.insert(position, acc)
    try:
        settings.accounts = others
    except ValidationError as exc:
        raise SoftphoneError(f"Account not saved: {_validation_message(exc)}") from None
    cfg.save(settings)
    if original and original != acc.name:
        pw = secrets.get_password(original)
        if pw is not None:
            secrets.set_password(acc.name, pw)
            secrets.delete_password(original)
    _apply_account(e, acc, original)
    return {"account": acc.model_dump(mode="json"), "applied": True}


async def account_remove(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name")
    settings = _load()
    if not isinstance(name, str) or settings.account(name) is None:
        raise SoftphoneError(f"No account named “{name}”.")
    settings.accounts = [a for a in settings.accounts if a.name != name]
    cfg.save(settings)
    secrets.delete_password(name)
    _apply_account(e, None, name)
    return {"removed": name}


async def set_password(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    name, password = args.get("account"), args.get("password")
    settings = _load()
    acc = settings.account(name) if isinstance(name, str) else None
    if acc is None:
        raise SoftphoneError(f"No account named “{name}”.")
    if not isinstance(password, str) or not password:
        raise SoftphoneError("Empty password refused.")
    secrets.set_password(acc.name, password)
    _apply_account(e, acc, acc.name)  # re-register with the new credentials
    return {"account": acc.name, "stored": True}


async def settings_get(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    s = _load()
    return {"settings": s.model_dump(mode="json", exclude={"accounts"})}


async def settings_save(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    patch = args.get("settings")
    if not isinstance(patch, dict) or "accounts" in patch:
        raise SoftphoneError("“settings” must be an object of sections (accounts have their own commands).")
    current = _load()
    merged = current.model_dump(mode="json")
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        new = cfg.Settings.model_validate(merged)
    except ValidationError as exc:
        raise SoftphoneError(f"Settings not saved: {_validation_message(exc)}") from None
    cfg.save(new)
    e.settings = new
    media = getattr(e, "_media", None)
    if "audio" in patch and media is not None and hasattr(media, "reconfigure"):
        media.reconfigure(new.audio)
    restart = sorted(k for k in patch if k in RESTART_SECTIONS)
    return {"saved": True, "restart_required": restart}


async def audio_devices(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    from softphone.audio import devices

    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, devices.list_devices)

    def pick(direction: str) -> list[dict[str, Any]]:
        return [{"id": d.name, "name": d.description or d.name, "default": d.default}
                for d in found if d.direction == direction]

    return {"inputs": pick("input"), "outputs": pick("output")}


async def audio_test(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    """``kind`` input: 1 s level measurement (drives the meter); output/ringer: a test tone on the device."""
    from softphone.audio import settings as audio_settings

    kind = args.get("kind")
    device = args.get("device") if isinstance(args.get("device"), str) else None
    loop = asyncio.get_running_loop()
    if kind == "input":
        def measure() -> float:
            import time

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


async def cert_status(e: Engine, args: dict[str, Any]) -> dict[str, Any]:
    from softphone.widget import certs

    p = certs.cert_paths(e.data_dir)
    return {"ca": str(p.ca), "exists": p.ca.exists(), "install": "softphone cert install"}


COMMANDS = {
    "account_list": account_list,
    "account_save": account_save,
    "account_remove": account_remove,
    "set_password": set_password,
    "settings_get": settings_get,
    "settings_save": settings_save,
    "audio_devices": audio_devices,
    "audio_test": audio_test,
    "cert_status": cert_status,
}
