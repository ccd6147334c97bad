"""The settings page's commands against a running engine: accounts edited live (re-register), passwords only
to the keyring, sections validated by the config models and written back to the same file."""

from __future__ import annotations

import pytest
import tomllib

from softphone.errors import SoftphoneError
from tests.peers import PASSWORD, engine_config, wait_for


def test_account_lifecycle_live(kamailio, engine_factory) -> None:
    eng = engine_factory(engine_config(demo="auto"), env={"SOFTPHONE_ALLOWED_ORIGINS": "https://dev.example:8443"})
    acc = {"name": "office", "sip_uri": f"sip:gina@127.0.0.1:{kamailio.udp}", "registrar": kamailio.uri(),
           "proxy": kamailio.uri(), "transport": "udp", "auth_username": "gina", "default_country": "us",
           "password": "must-not-be-stored"}
    saved = eng.ctl("account_save", account=acc)
    assert saved["account"]["default_country"] == "US"
    text = (eng.dir / "config.toml").read_text()
    assert "must-not-be-stored" not in text and "dev.example" not in text
    eng.wait_registration("office", "FAILED")  # no password yet: the registrar refuses
    eng.ctl("set_password", account="office", password=PASSWORD)
    eng.wait_registration("office", "REGISTERED")
    listed = eng.ctl("account_list")["accounts"]
    assert listed[0]["name"] == "office" and listed[0]["has_password"] is True
    assert PASSWORD not in (eng.dir / "config.toml").read_text()
    # rename keeps the password (moved in the keyring) and re-registers under the new name
    eng.ctl("account_save", account={**acc, "name": "desk"}, original_name="office")
    eng.wait_registration("desk", "REGISTERED")
    assert [a["name"] for a in tomllib.loads((eng.dir / "config.toml").read_text())["accounts"]] == ["desk"]
    eng.ctl("account_remove", name="desk")
    wait_for(lambda: all(a["name"] != "desk" for a in eng.status()["accounts"]), 5, what="account gone")
    assert eng.ctl("account_list")["accounts"] == []


def test_bad_input_is_refused_with_a_reason(engine_factory) -> None:
    eng = engine_factory(engine_config(demo="auto"))
    with pytest.raises(SoftphoneError, match="sip_uri"):
        eng.ctl("account_save", account={"name": "x", "sip_uri": "not a uri"})
    with pytest.raises(SoftphoneError, match="wildcards"):
        eng.ctl("settings_save", settings={"widget": {"allowed_origins": ["*"]}})
    with pytest.raises(SoftphoneError, match="Unknown command"):
        eng.ctl("format_disk")
    before = (eng.dir / "config.toml").read_text()
    assert (eng.dir / "config.toml").read_text() == before


def test_settings_roundtrip(engine_factory) -> None:
    eng = engine_factory(engine_config(demo="auto"))
    got = eng.ctl("settings_get")["settings"]
    assert got["widget"]["port"] and "accounts" not in got
    r = eng.ctl("settings_save", settings={"audio": {"ringer_device": "Laptop speaker"},
                                            "widget": {"allowed_origins": ["https://app.hubspot.com"]}})
    assert r["restart_required"] == ["widget"]
    data = tomllib.loads((eng.dir / "config.toml").read_text())
    assert data["audio"]["ringer_device"] == "Laptop speaker"
    assert data["sip_bind_address"] == "127.0.0.1"  # untouched keys survive
