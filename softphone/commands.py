"""The command registry: every command the engine runs, declared once (baresip's ``cmd.c`` model).

Each ``Command`` names its arguments (with their types and limits) and the surfaces allowed to run it:

- ``ctl``     the control API (``softphone ctl``, scripts, ``tel:`` links, the window's process),
- ``window``  the desktop window's page (checked by its bridge before anything is sent),
- ``widget``  a HubSpot tab: only what HubSpot needs (dial, answer, hang up, mute, DTMF, notes/outcome,
              availability) — never settings, accounts, history or transfers,
- ``headset`` the headset buttons.

``Engine.command(name, args, surface=…)`` looks the command up here, refuses it for a surface that may not run
it, validates the arguments (unknown keys, wrong types, ``"false"`` for a boolean, ``1e400``, a 5000-character
id, deeply nested objects: a clear ``bad_args`` error, never a crash) and only then runs the handler. This module
imports nothing heavy at import time, so the window's process can consult it too.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from softphone.errors import SoftphoneError

if TYPE_CHECKING:
    from softphone.ports import EngineAPI, Surface

log = logging.getLogger(__name__)

LOCAL: frozenset[str] = frozenset({"ctl", "window"})
CALL_CONTROL: frozenset[str] = frozenset({"ctl", "window", "widget", "headset"})
_CALL_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
MAX_DEPTH = 6
MAX_NODES = 2000


class BadArguments(SoftphoneError):
    code = "bad_args"


class UnknownCommand(SoftphoneError):
    code = "unknown_command"


class NotAllowed(SoftphoneError):
    code = "forbidden"


# ---------------------------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Arg:
    """One argument: its JSON type and limits. ``check`` returns the value or raises ``BadArguments``."""

    name: str
    kind: str                      # text | flag | int | object | call_id
    required: bool = False
    max_len: int = 256             # text
    multiline: bool = False        # text: newlines allowed (notes)
    raw: bool = False              # text: checked by its own validator (numbers: the dialler's message)
    lo: int = 0                    # int
    hi: int = 1_000_000            # int
    help: str = ""

    def check(self, value: object) -> object:
        if self.kind == "flag":
            if not isinstance(value, bool):
                raise BadArguments(f"“{self.name}” must be true or false (a JSON boolean).")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
                raise BadArguments(f"“{self.name}” must be a whole number from {self.lo} to {self.hi}.")
            return value
        if self.kind == "object":
            if not isinstance(value, dict):
                raise BadArguments(f"“{self.name}” must be an object.")
            _check_tree(self.name, value)
            return value
        if not isinstance(value, str):
            raise BadArguments(f"“{self.name}” must be text.")
        if self.kind == "call_id":
            if not _CALL_ID.match(value):
                raise BadArguments(f"“{self.name}” is not a call id.")
            return value
        if len(value) > self.max_len:
            raise BadArguments(f"“{self.name}” is too long (at most {self.max_len} characters).")
        allowed = "\n\t" if self.multiline else ""
        if not self.raw and any((ord(c) < 0x20 and c not in allowed) or ord(c) == 0x7F for c in value):
            raise BadArguments(f"“{self.name}” contains control characters.")
        return value


def _check_tree(name: str, value: object) -> None:
    """Reject what no real request carries: deep nesting, huge trees, non-finite numbers (``1e400``)."""
    nodes = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            raise BadArguments(f"“{name}” is nested too deeply or too large.")
        if isinstance(v, float) and not math.isfinite(v):
            raise BadArguments(f"“{name}” contains a number out of range.")
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)


def text(name: str, *, required: bool = False, max_len: int = 256, multiline: bool = False) -> Arg:
    return Arg(name, "text", required, max_len=max_len, multiline=multiline)


def number(name: str, *, required: bool = False) -> Arg:
    """A number, extension or URI as typed: ``core.numbers.normalize`` judges it (with the rep's message)."""
    return Arg(name, "text", required, max_len=1024, raw=True)


def flag(name: str, *, required: bool = False) -> Arg:
    return Arg(name, "flag", required)


def whole(name: str, lo: int, hi: int) -> Arg:
    return Arg(name, "int", lo=lo, hi=hi)


def obj(name: str, *, required: bool = False) -> Arg:
    return Arg(name, "object", required)


def call_id(name: str = "call_id", *, required: bool = False) -> Arg:
    return Arg(name, "call_id", required)


# ---------------------------------------------------------------------------------------------- commands

Handler = Callable[["EngineAPI", dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Command:
    name: str
    run: Handler
    surfaces: frozenset[str]
    args: tuple[Arg, ...] = ()
    help: str = ""
    _by_name: dict[str, Arg] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({a.name: a for a in self.args})

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(raw) - set(self._by_name))
        if unknown:
            raise BadArguments(f"{self.name}: unknown argument “{unknown[0][:40]}”.")
        out: dict[str, Any] = {}
        for a in self.args:
            if raw.get(a.name) is None:
                if a.required:
                    raise BadArguments(f"{self.name}: “{a.name}” is required.")
                continue
            out[a.name] = a.check(raw[a.name])
        return out


REGISTRY: dict[str, Command] = {}


def command(name: str, surfaces: frozenset[str], *args: Arg, help: str = "") -> Callable[[Handler], Handler]:
    """Declare a command (the only place its name, arguments and surfaces are written)."""
    def register(fn: Handler) -> Handler:
        if name in REGISTRY:
            raise RuntimeError(f"command {name} declared twice")
        REGISTRY[name] = Command(name, fn, surfaces, tuple(args), help or (fn.__doc__ or "").strip())
        return fn
    return register


def lookup(name: object, surface: Surface) -> Command:
    """The command ``name`` if ``surface`` may run it; raises ``UnknownCommand`` / ``NotAllowed``."""
    cmd = REGISTRY.get(name) if isinstance(name, str) else None
    if cmd is None:
        raise UnknownCommand(f"Unknown command “{str(name)[:40]}”.")
    if surface not in cmd.surfaces:
        raise NotAllowed(f"“{cmd.name}” is not available from the {surface}.")
    return cmd


async def run(engine: EngineAPI, name: object, args: object, surface: Surface) -> dict[str, Any]:
    """Look up, check the surface, validate, run. Raises ``SoftphoneError`` only (bad input never crashes)."""
    cmd = lookup(name, surface)
    if args is not None and not isinstance(args, dict):
        raise BadArguments("Arguments must be an object.")
    valid = cmd.validate(args or {})
    try:
        return await cmd.run(engine, valid)
    except SoftphoneError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        log.warning("command %s failed on valid arguments: %r", cmd.name, exc)
        raise SoftphoneError(f"{cmd.name} failed: {exc}") from None
    except OSError as exc:
        raise SoftphoneError(f"{cmd.name} failed: {exc.strerror or exc}") from None


def allowed(surface: Surface) -> Iterator[str]:
    return (c.name for c in REGISTRY.values() if surface in c.surfaces)


def _phone(e: EngineAPI) -> Any:
    if e.phone is None:
        raise SoftphoneError("The phone is still starting.")
    return e.phone


# ------------------------------------------------------------------ calls


@command("dial", CALL_CONTROL, number("number", required=True), text("account", max_len=64),
         text("country", max_len=3), obj("dialing_context"))
async def _dial(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Call a number, extension or SIP URI."""
    snap = _phone(e).dial(a["number"], account=a.get("account"), country=a.get("country"),
                          dialing_context=a.get("dialing_context"))
    return dict(snap.to_json())


def _call_op(method: str, help: str) -> Handler:
    async def run(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
        return dict(getattr(_phone(e), method)(call_id=a.get("call_id")).to_json())
    run.__doc__ = help
    return run


for _name, _help in (("answer", "Answer a ringing call."), ("decline", "Decline a ringing call."),
                     ("hangup", "End a call (the foreground call without call_id)."),
                     ("hold", "Put a call on hold."), ("resume", "Take a call off hold.")):
    command(_name, CALL_CONTROL, call_id())(_call_op(_name, _help))


@command("swap", CALL_CONTROL)
async def _swap(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Hold the current call and resume the held one."""
    return dict(_phone(e).swap().to_json())


@command("mute", CALL_CONTROL, call_id(), flag("muted"))
async def _mute(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Mute (or with muted=false unmute) the microphone on a call."""
    return dict(_phone(e).mute(a.get("muted", True), call_id=a.get("call_id")).to_json())


@command("unmute", CALL_CONTROL, call_id())
async def _unmute(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Unmute the microphone on a call."""
    return dict(_phone(e).mute(False, call_id=a.get("call_id")).to_json())


@command("toggle_mute", CALL_CONTROL, call_id())
async def _toggle_mute(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Flip mute on the given call, or on the foreground call."""
    phone = _phone(e)
    target = phone.call(a["call_id"]) if a.get("call_id") else phone.foreground()
    muted = not target.muted if target is not None else True
    return dict(phone.mute(muted, call_id=a.get("call_id")).to_json())


@command("dtmf", CALL_CONTROL, text("digits", required=True, max_len=64), call_id())
async def _dtmf(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Send DTMF digits (0-9, *, #, A-D) and play them to the rep."""
    snap = _phone(e).dtmf(a["digits"], call_id=a.get("call_id"))
    e.media.play_dtmf(a["digits"])
    return dict(snap.to_json())


@command("transfer", LOCAL, number("target", required=True), call_id())
async def _transfer(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Blind transfer to a number/URI, or attended transfer to another call's id."""
    return dict(_phone(e).transfer(a["target"], call_id=a.get("call_id")).to_json())


@command("set_available", frozenset({"ctl", "window", "widget"}), flag("available", required=True))
async def _available(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Do-not-disturb off (true) or on (false)."""
    phone = _phone(e)
    phone.set_available(a["available"])
    return {"available": phone.available}


@command("set_outcome", frozenset({"ctl", "window", "widget"}), call_id(required=True),
         text("notes", max_len=65536, multiline=True), text("disposition", max_len=64))
async def _outcome(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Store the rep's notes and call outcome for a call."""
    return dict(_phone(e).set_outcome(a["call_id"], notes=a.get("notes"),
                                      disposition=a.get("disposition")).to_json())


@command("demo_call_me", LOCAL)
async def _demo_call_me(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Have the demo line ring the rep."""
    e.demo_call_me()
    return {"ok": True}


@command("normalize", LOCAL, number("number", required=True), text("account", max_len=64), text("country", max_len=3))
async def _normalize(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """How a typed number will be dialled (E.164 or the URI)."""
    t = _phone(e).resolve(a["number"], account=a.get("account"), country=a.get("country"))
    return {"display": t.display, "is_uri": t.uri is not None}


# ------------------------------------------------------------------ state


@command("status", LOCAL)
async def _status(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Accounts, registration, calls, availability, devices."""
    return e.status()


@command("history", LOCAL, whole("limit", 1, 10_000), text("query", max_len=200), text("status", max_len=20),
         text("direction", max_len=10))
async def _history(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Recent calls, newest first."""
    return {"calls": e.history.list(limit=a.get("limit", 50), query=a.get("query", ""), status=a.get("status"),
                                    direction=a.get("direction"))}


@command("headsets", LOCAL)
async def _headsets(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Headsets found on the system and the ones the engine drives."""
    from softphone.headset.service import list_headsets

    assert e.loop is not None
    found = await e.loop.run_in_executor(None, list_headsets)
    return {"available": [h.to_json() for h in found], "connected": e.status().get("headsets", [])}


# ------------------------------------------------------------------ accounts and settings (window, ctl)


@command("account_list", LOCAL)
async def _account_list(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Configured accounts (with whether a password is stored, never the password)."""
    return {"accounts": e.accounts.list()}


@command("account_save", LOCAL, obj("account", required=True), text("original_name", max_len=64))
async def _account_save(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Add or change an account; it re-registers at once."""
    acc = e.accounts.save(a["account"], a.get("original_name"))
    return {"account": acc.model_dump(mode="json"), "applied": True}


@command("account_remove", LOCAL, text("name", required=True, max_len=64))
async def _account_remove(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Remove an account and its keyring passwords."""
    return {"removed": e.accounts.remove(a["name"])}


@command("set_password", LOCAL, text("account", required=True, max_len=64), text("password", required=True),
         flag("turn"))
async def _set_password(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Store an account's SIP (or TURN) password in the keyring and re-register."""
    name = e.accounts.set_password(a["account"], a["password"], turn=a.get("turn", False))
    return {"account": name, "stored": True}


@command("settings_get", LOCAL)
async def _settings_get(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Every setting but the accounts."""
    from softphone import settings_commands

    return settings_commands.settings_get()


@command("settings_save", LOCAL, obj("settings", required=True))
async def _settings_save(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Change settings (validated like the config file; audio and headset apply at once)."""
    from softphone import settings_commands

    return settings_commands.settings_save(e, a["settings"])


@command("audio_devices", LOCAL)
async def _audio_devices(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Microphones and speakers, by name."""
    from softphone import settings_commands

    return await settings_commands.audio_devices()


@command("audio_test", LOCAL, text("kind", required=True, max_len=10), text("device"))
async def _audio_test(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """input: one second of level metering; output/ringer: a test tone."""
    from softphone import settings_commands

    return await settings_commands.audio_test(a["kind"], a.get("device"))


@command("cert_status", LOCAL)
async def _cert_status(e: EngineAPI, a: dict[str, Any]) -> dict[str, Any]:
    """Where the local CA is and how to trust it."""
    from softphone.widget import certs

    p = certs.cert_paths(e.data_dir)
    return {"ca": str(p.ca), "exists": p.ca.exists(), "install": "softphone cert install"}
