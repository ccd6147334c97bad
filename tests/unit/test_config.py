from pathlib import Path

import pytest

from softphone import config as cfg
from softphone.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_defaults_offer_demo_line(tmp_path: Path) -> None:
    s = cfg.load(tmp_path / "absent.toml")
    assert s.accounts == [] and s.use_demo_line
    assert s.widget.port == 9025 and "https://app.hubspot.com" in s.widget.allowed_origins


def test_account_keys(tmp_path: Path) -> None:
    p = write(tmp_path, """
[[accounts]]
name = "office"
sip_uri = "sip:alice@pbx.example.com"
registrar = "sip:pbx.example.com"
proxy = "sip:127.0.0.1:5070"
transport = "tcp"
auth_username = "alice"
default_country = "gb"
""")
    s = cfg.load(p)
    a = s.accounts[0]
    assert (a.domain, a.user, a.transport, a.default_country) == ("pbx.example.com", "alice", "tcp", "GB")
    assert not s.use_demo_line


@pytest.mark.parametrize(("body", "needle"), [
    ('[[accounts]]\nname="x"\nsip_uri="alice"\n', "accounts[0] (x).sip_uri"),
    ('[[accounts]]\nname="x"\nsip_uri="sip:a@b"\ntransport="sctp"\n', "transport"),
    ('[[accounts]]\nname="x"\nsip_uri="sip:a@b"\npassword="hunter2"\n', "keyring"),
    ('[[accounts]]\nname="x"\nsip_uri="sip:a@b"\ndefault_country="Narnia"\n', "country"),
    ('[widget]\nallowed_origins=["*"]\n', "wildcards"),
    ('[widget]\nport=0\n', "widget.port"),
    ('[[accounts]]\nname="x"\nsip_uri="sip:a@b"\n[[accounts]]\nname="X"\nsip_uri="sip:c@d"\n', "twice"),
    ("not toml [", "not valid TOML"),
])
def test_errors_name_file_and_field(tmp_path: Path, body: str, needle: str) -> None:
    p = write(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        cfg.load(p)
    assert str(p) in exc.value.message
    assert needle in exc.value.message
    assert "hunter2" not in exc.value.message


def test_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, "")
    monkeypatch.setenv("SOFTPHONE_CONFIG", str(p))
    monkeypatch.setenv("SOFTPHONE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SOFTPHONE_ALLOWED_ORIGINS", "https://localhost:8443, http://127.0.0.1:9999")
    s = cfg.load()
    assert s.widget.allowed_origins[-2:] == ["https://localhost:8443", "http://127.0.0.1:9999"]
    assert cfg.data_dir() == tmp_path / "data"
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700


def test_save_roundtrip_private(tmp_path: Path) -> None:
    s = cfg.Settings(accounts=[cfg.AccountConfig(name="o", sip_uri="sip:a@b")])
    p = cfg.save(s, tmp_path / "c.toml")
    assert p.stat().st_mode & 0o777 == 0o600
    assert cfg.load(p).accounts[0].sip_uri == "sip:a@b"


def test_the_crm_logs_the_reps_number_never_a_login_name() -> None:
    """hs_call_from_number through the CRM API follows the widget's rule: caller_id_number, else an E.164 URI
    user, else nothing."""
    from softphone.hubspot.logging_service import own_number

    s = cfg.Settings(accounts=[cfg.AccountConfig(name="login", sip_uri="sip:rep1001@pbx.example.com"),
                               cfg.AccountConfig(name="e164", sip_uri="sip:+15551230000@pbx.example.com"),
                               cfg.AccountConfig(name="cid", sip_uri="sip:rep@pbx.example.com",
                                                 caller_id_number="+15557654321")])
    assert [own_number(s, n) for n in ("login", "e164", "cid")] == ["", "+15551230000", "+15557654321"]
