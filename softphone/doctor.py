"""``softphone doctor``: one readable report of what works and what does not, with the fix for each."""

from __future__ import annotations

import importlib
import socket
import sys
from typing import Any

from softphone import __version__
from softphone import config as cfg
from softphone.errors import ConfigError, SoftphoneError

OK, WARN, BAD = "ok  ", "warn", "FAIL"


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def report() -> tuple[str, bool]:
    lines: list[str] = [f"softphone {__version__} on Python {sys.version.split()[0]}"]
    healthy = True

    def add(level: str, text: str) -> None:
        nonlocal healthy
        if level == BAD:
            healthy = False
        lines.append(f"[{level}] {text}")

    env = cfg.environment()
    lines.append(f"config file: {env.config_path}{'' if env.config_path.exists() else ' (absent: defaults)'}")
    lines.append(f"data dir:    {env.data_path}")
    settings: cfg.Settings | None = None
    try:
        settings = cfg.load()
        add(OK, "configuration is valid")
    except ConfigError as exc:
        add(BAD, exc.message)

    try:
        import pjsua2  # noqa: F401

        add(OK, "pjsua2 SIP stack importable")
    except ImportError as exc:
        add(BAD, f"pjsua2 cannot be imported ({exc}); reinstall with `make run`")

    from softphone import secrets

    try:
        add(OK, f"keyring backend: {secrets.backend_name()}")
    except Exception as exc:
        add(WARN, f"keyring unavailable: {exc}")

    status: dict[str, Any] | None = None
    from softphone.control.client import ControlClient

    client = ControlClient(env.data_path)
    try:
        status = client.command("status")
        add(OK, "engine is running (control socket answers)")
    except SoftphoneError as exc:
        add(WARN, f"engine not running: {exc.message}")

    if settings is not None:
        if not settings.accounts:
            add(WARN, "no SIP account configured: the demo line is offered (softphone account add ...)")
        for a in settings.accounts:
            try:
                pw = secrets.read_password(a.name) if a.auth_username else None
            except SoftphoneError as exc:
                add(BAD, f"account {a.name}: {exc.message}")
                pw = ""
            if a.auth_username and pw is None:
                add(BAD, f"account {a.name}: no password in the keyring (softphone account set-password {a.name!r})")
            reg = None
            if status:
                reg = next((x for x in status.get("accounts", []) if x["name"] == a.name), None)
            if reg:
                level = OK if reg["registration"] in ("REGISTERED", "NONE") else BAD
                why = f" ({reg['reason'] or reg['sip_code']})" if reg.get("reason") or reg.get("sip_code") else ""
                add(level, f"account {a.name}: {reg['registration']}{why} via {a.transport.upper()}"
                    f" to {a.registrar or 'no registrar'}")
            else:
                add(OK, f"account {a.name}: {a.sip_uri} [{a.transport}] registrar {a.registrar or '-'}")
        port = settings.widget.port
        in_use = _port_in_use(port)
        if status and "widget" in status.get("services", []):
            add(OK, f"widget server listening on https://localhost:{port}/")
        elif in_use:
            add(BAD, f"port {port} (widget) is used by another program; set [widget] port in the config")
        else:
            add(OK, f"port {port} (widget) is free")
        lines.append(f"allowed widget origins: {', '.join(settings.widget.allowed_origins)}")
    if settings is not None:
        from softphone.hubspot.cli import doctor_checks

        for level, text in doctor_checks(settings, env.data_path):
            add({"ok": OK, "warn": WARN, "fail": BAD}[level], text)
    if settings is not None:
        from softphone.nat_probe import doctor_checks as nat_checks

        for level, text in nat_checks(settings, status):
            add({"ok": OK, "warn": WARN, "fail": BAD}[level], text)
    from softphone.platform.hints import headset_hints, microphone_hints

    for hint in headset_hints() + microphone_hints():
        lines.append(f"note: {hint}")
    if status and isinstance(status.get("inbound"), dict):
        door = status["inbound"]
        refused = int(door.get("rejected", 0)) + int(door.get("dropped", 0))
        add(OK if door.get("active") else WARN, f"SIP front door: {door.get('state')}")
        if refused:
            methods = ", ".join(f"{m} {n}" for m, n in sorted(door.get("by_method", {}).items()))
            add(WARN, f"unsolicited SIP requests refused: {refused} ({methods}); last from {door.get('last_source')}"
                " — someone is scanning this computer's SIP port")

    try:
        audio = importlib.import_module("softphone.audio.devices")
        devs = audio.list_devices()
        if not devs:
            add(WARN, "no audio devices found (PortAudio sees none)")
        for d in devs:
            lines.append(f"  audio: {d}")
    except Exception as exc:
        add(WARN, f"audio devices not listed: {exc}")

    try:
        hs = importlib.import_module("softphone.headset.service")
        heads = hs.list_headsets()
        lines.append(f"headsets (HID telephony): {len(heads)}")
        for h in heads:
            lines.append(f"  headset: {h}")
    except Exception as exc:
        add(WARN, f"headsets not listed: {exc}")
    return "\n".join(lines), healthy
