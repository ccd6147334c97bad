"""Configuration: one TOML file validated by pydantic, plus environment overrides.

The key names (``[[accounts]]`` name/sip_uri/registrar/proxy/transport/auth_username/default_country and
``[widget]`` port/allowed_origins) are an interface other tools rely on: extend, never rename. A broken file
stops the app with a message naming the file and the field; it never half-starts. Secrets are never here
(see ``secrets``): an unknown key such as ``password`` is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from softphone import paths
from softphone.core.sipuri import SIP_URI as _SIP_ADDR
from softphone.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP_NAME = paths.APP_NAME

HUBSPOT_ORIGINS = [
    "https://app.hubspot.com",
    "https://app-eu1.hubspot.com",
    "https://app-na2.hubspot.com",
    "https://app-na3.hubspot.com",
    "https://app-ap1.hubspot.com",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
_ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(:[0-9]{1,5})?$")
# host or host:port (a name, an IPv4 address or a bracketed IPv6 address): STUN/TURN servers, trusted peers
_HOSTPORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?)"
                       r"(?::(?P<port>[0-9]{1,5}))?$")
# characters that would end a SIP header or a quoted string if they reached one (CRLF injection, quotes)
_HEADER_UNSAFE = re.compile(r'[\x00-\x1f\x7f"<>\\]')
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _check_hostport(value: str) -> str:
    v = value.strip()
    m = _HOSTPORT.match(v)
    if not m or (m.group("port") is not None and not 0 < int(m.group("port")) < 65536):
        raise ValueError(f"{value!r} must be host or host:port, like stun.example.com:3478")
    return v


def _check_sip(value: str, *, need_user: bool) -> str:
    m = _SIP_ADDR.match(value.strip())
    if not m:
        raise ValueError("must be a SIP URI like sip:alice@pbx.example.com")
    if need_user and not m.group("user"):
        raise ValueError("must include a user part, like sip:alice@pbx.example.com")
    return value.strip()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, str_strip_whitespace=True)


class AccountConfig(_Strict):
    name: str = Field(description="Unique account name; also the keyring key for its password.")
    sip_uri: str
    registrar: str | None = None
    proxy: str | None = None
    transport: Literal["udp", "tcp", "tls"] = "udp"
    auth_username: str | None = None
    default_country: str = "US"
    display_name: str | None = None
    dtmf_method: Literal["rfc4733", "info"] = "rfc4733"
    register_expires: int = Field(default=300, ge=10, le=86400)
    srtp: Literal["off", "optional", "mandatory"] = "off"
    tls_ca_file: str | None = None
    tls_verify_server: bool = True
    enabled: bool = True
    # Who may ring this account when it has neither registrar nor proxy (with one, only that flow may):
    # hosts or host:port; "host" alone means this machine. The demo line only ever accepts itself.
    accept_calls_from: list[str] = Field(default_factory=list)
    # The rep's own number as HubSpot should log it (hs_call_from_number), E.164.
    caller_id_number: str | None = None
    # NAT traversal (all optional): STUN for the public address, ICE for media, TURN as the relay of last resort
    # (its password lives in the keyring: softphone account set-password NAME --turn).
    stun_servers: list[str] = Field(default_factory=list)
    ice: bool = False
    turn_server: str | None = None
    turn_transport: Literal["udp", "tcp", "tls"] = "udp"
    turn_username: str | None = None
    keepalive_s: int = Field(default=15, ge=0, le=3600)   # UDP / CRLF keep-alives; 0 = off

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be 1-64 letters, digits, spaces, '.', '_' or '-'")
        return v

    @field_validator("auth_username", "display_name", "turn_username")
    @classmethod
    def _header_safe(cls, v: str | None) -> str | None:
        if v is not None and _HEADER_UNSAFE.search(v):
            raise ValueError("must not contain quotes, angle brackets, backslashes or control characters")
        return v

    @field_validator("accept_calls_from", "stun_servers")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        return [_check_hostport(h) for h in v]

    @field_validator("turn_server")
    @classmethod
    def _turn(cls, v: str | None) -> str | None:
        return None if v is None or v == "" else _check_hostport(v)

    @field_validator("caller_id_number")
    @classmethod
    def _caller_id(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        compact = re.sub(r"[\s\-.()]", "", v)
        if not _E164.match(compact):
            raise ValueError("must be a phone number in E.164 form, like +14155550100")
        return compact

    @field_validator("sip_uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        return _check_sip(v, need_user=True)

    @field_validator("registrar", "proxy")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        return None if v is None or v == "" else _check_sip(v, need_user=False)

    @field_validator("default_country")
    @classmethod
    def _country(cls, v: str) -> str:
        import phonenumbers  # heavy: only when a config is actually validated

        v = v.upper()
        if v not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter country code such as US, GB or DE")
        return v

    @field_validator("tls_ca_file")
    @classmethod
    def _ca(cls, v: str | None) -> str | None:
        if v and not Path(v).expanduser().is_file():
            raise ValueError(f"file {v} does not exist")
        return v

    @property
    def user(self) -> str:
        m = _SIP_ADDR.match(self.sip_uri)
        assert m is not None
        return m.group("user") or ""

    @property
    def domain(self) -> str:
        m = _SIP_ADDR.match(self.sip_uri)
        assert m is not None
        host = m.group("host")
        return host + (f":{m.group('port')}" if m.group("port") else "")

    @property
    def scheme(self) -> str:
        return "sips" if self.sip_uri.lower().startswith("sips:") else "sip"


class WidgetConfig(_Strict):
    port: int = Field(default=9025, ge=1, le=65535)
    allowed_origins: list[str] = Field(default_factory=lambda: list(HUBSPOT_ORIGINS))
    hide_widget_after_call: bool = False
    enabled: bool = True

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        out = []
        for raw in v:
            o = raw.strip().rstrip("/")
            if o == "*" or not _ORIGIN.match(o):
                raise ValueError(f"{o!r} is not an origin like https://app.hubspot.com (no wildcards, no paths)")
            out.append(o.lower())
        return out


class AudioConfig(_Strict):
    input_device: str | None = None
    output_device: str | None = None
    ringer_device: str | None = None
    record_calls: bool = False
    echo_cancellation: bool = True
    noise_suppression: bool = True


class HeadsetConfig(_Strict):
    enabled: bool = True
    device: str | None = None


HUBSPOT_API = "https://api.hubapi.com"


class HubSpotConfig(_Strict):
    """CRM logging outside the widget (the private-app token lives in the keyring: softphone hubspot connect)."""

    api_base_url: str = HUBSPOT_API
    log_calls: bool = True
    lookup_callers: bool = True

    @field_validator("api_base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$", v):
            raise ValueError("must be an http(s) URL like https://api.hubapi.com")
        return v


class Settings(_Strict):
    accounts: list[AccountConfig] = Field(default_factory=list)
    widget: WidgetConfig = Field(default_factory=WidgetConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    headset: HeadsetConfig = Field(default_factory=HeadsetConfig)
    hubspot: HubSpotConfig = Field(default_factory=HubSpotConfig)
    demo_line: Literal["auto", "on", "off"] = "auto"
    no_answer_timeout_s: int = Field(default=60, ge=5, le=600)
    # an inbound call nobody answers ends as MISSED after this long (strangers cannot keep the phone ringing)
    inbound_ring_timeout_s: int = Field(default=60, ge=5, le=600)
    sip_port: int = Field(default=0, ge=0, le=65535)
    sip_bind_address: str | None = None
    # INVITEs from anyone but the account's registrar/proxy (or accept_calls_from): "reject" = 403, "ignore" = no answer
    stranger_calls: Literal["reject", "ignore"] = "reject"
    # the User-Agent / Server header; no version by default (scanners fingerprint versions)
    user_agent: str = Field(default="Softphone", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 ._/()+\-]+$")
    # tel:/sip:/callto: links fill the dialer and wait for the rep to press Call
    confirm_link_dial: bool = True

    @model_validator(mode="after")
    def _unique(self) -> Settings:
        seen: set[str] = set()
        for a in self.accounts:
            if a.name.lower() in seen:
                raise ValueError(f"account name {a.name!r} is used twice")
            seen.add(a.name.lower())
        return self

    def account(self, name: str) -> AccountConfig | None:
        return next((a for a in self.accounts if a.name == name), None)

    @property
    def use_demo_line(self) -> bool:
        if self.demo_line == "on":
            return True
        if self.demo_line == "off":
            return False
        return not any(a.enabled for a in self.accounts)


@dataclass(frozen=True)
class Environment:
    """Process-level overrides: file locations and development origins (``SOFTPHONE_CONFIG``,
    ``SOFTPHONE_DATA_DIR``, ``SOFTPHONE_ALLOWED_ORIGINS``). Read straight from the environment: three strings
    do not need a settings framework loaded into every process."""

    config: Path | None = None
    data_dir: Path | None = None
    allowed_origins: str = ""

    @classmethod
    def from_environ(cls) -> Environment:
        def path(name: str) -> Path | None:
            value = os.environ.get(name, "").strip()
            return Path(value).expanduser() if value else None

        return cls(path("SOFTPHONE_CONFIG"), path("SOFTPHONE_DATA_DIR"),
                   os.environ.get("SOFTPHONE_ALLOWED_ORIGINS", ""))

    @property
    def config_path(self) -> Path:
        return self.config or paths.config_path()

    @property
    def data_path(self) -> Path:
        return self.data_dir or paths.data_path()

    @property
    def extra_origins(self) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in self.allowed_origins.split(",") if o.strip()]


def environment() -> Environment:
    return Environment.from_environ()


def data_dir() -> Path:
    """The data directory (history, logs, certificates, tokens), created private to the user."""
    p = environment().data_path
    p.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        p.chmod(0o700)
    return p


def _format_errors(path: Path, exc: ValidationError, data: dict[str, Any]) -> str:
    lines = [f"Invalid configuration in {path}:"]
    for err in exc.errors():
        loc_parts: list[str] = []
        cur: Any = data
        for part in err["loc"]:
            if isinstance(part, int):
                name = None
                if isinstance(cur, list) and part < len(cur) and isinstance(cur[part], dict):
                    name = cur[part].get("name")
                loc_parts[-1:] = [f"{loc_parts[-1] if loc_parts else ''}[{part}]" + (f" ({name})" if name else "")]
                cur = cur[part] if isinstance(cur, list) and part < len(cur) else None
            else:
                loc_parts.append(str(part))
                cur = cur.get(part) if isinstance(cur, dict) else None
        where = ".".join(loc_parts) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + (" (passwords belong in the keyring: softphone account set-password)"
                                   if "pass" in where.lower() else "")
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def load(path: Path | None = None, *, env_origins: bool = True) -> Settings:
    """Read and validate the config file; a missing file means defaults (demo line).

    ``env_origins=False`` when the result will be written back: SOFTPHONE_ALLOWED_ORIGINS is a
    per-process development override and must never end up in the user's file."""
    env = environment()
    path = path or env.config_path
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"Invalid configuration in {path}: not UTF-8 text (byte {exc.start}).") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Invalid configuration in {path}: not valid TOML ({exc}).") from None
        except RecursionError:
            raise ConfigError(f"Invalid configuration in {path}: nested too deeply.") from None
        except OSError as exc:
            raise ConfigError(f"Cannot read configuration {path}: {exc.strerror}.") from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc, data)) from None
    extra = env.extra_origins if env_origins else []
    if extra:
        try:
            settings.widget.allowed_origins = settings.widget.allowed_origins + [
                o for o in extra if o not in settings.widget.allowed_origins
            ]
        except ValidationError as exc:
            raise ConfigError(f"SOFTPHONE_ALLOWED_ORIGINS: {exc.errors()[0]['msg']}") from None
    return settings


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write the config atomically, readable by the user only."""
    import tomli_w

    path = path or environment().config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = settings.model_dump(mode="json", exclude_none=True)
    text = tomli_w.dumps(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
