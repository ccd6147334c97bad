"""`softphone hubspot connect|disconnect|outbox` against the HTTPS stand-in of HubSpot's CRM API."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import keyring.backend
import pytest

from softphone import secrets
from softphone.config import Settings
from softphone.hubspot import cli
from softphone.storage.outbox import FILENAME, REJECTED, RETRY, Outbox

from .conftest import CRM_TOKEN
from .crm_contract import READ, CrmContract

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str,
        stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    for token in (CRM_TOKEN, "pat-na1-bad", "pat-read"):
        assert token not in out and token not in err
    return code, out, err


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secrets.HUBSPOT_TOKEN_ENV, raising=False)


def stored(kr: keyring.backend.KeyringBackend) -> str | None:
    return kr.get_password("softphone", "hubspot:access-token")


def test_connect_checks_the_token_and_stores_it(file_keyring: keyring.backend.KeyringBackend, crm: CrmContract,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url,
                         stdin=CRM_TOKEN + "\n")
    assert code == 0, err
    assert stored(file_keyring) == CRM_TOKEN
    assert f"HubSpot portal {crm.portal_id}" in out
    assert "ok      crm.objects.contacts.write" in out and "MISSING crm.objects.companies.read" in out
    assert err == ""
    assert crm.of("POST", "/oauth/v2/private-apps/get/access-token-info")[0].body == {"tokenKey": CRM_TOKEN}


def test_connect_refuses_a_token_hubspot_refuses(file_keyring: keyring.backend.KeyringBackend, crm: CrmContract,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url,
                         stdin="pat-na1-bad\n")
    assert code == 1 and "HTTP 401" in err and "Nothing stored" in err
    assert stored(file_keyring) is None
    code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url, stdin="two words\n")
    assert code == 2 and stored(file_keyring) is None
    code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url, stdin="")
    assert code == 2 and "No token" in err


def test_connect_warns_about_missing_scopes(file_keyring: keyring.backend.KeyringBackend, crm: CrmContract,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    crm.add_token("pat-read", {READ})
    code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url, "--json",
                         stdin="pat-read\n")
    assert code == 0
    check = json.loads(out)["check"]
    assert check["portal_id"] == crm.portal_id and check["missing_required"] == ["crm.objects.contacts.write"]
    assert "lacks crm.objects.contacts.write" in err


def test_connect_unreachable_stores_nothing_unless_asked(file_keyring: keyring.backend.KeyringBackend,
                                                         crm: CrmContract, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    crm.go_down()
    try:
        code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url,
                             stdin=CRM_TOKEN)
        assert code == 1 and "Cannot reach HubSpot" in err and "--no-check" in err
        assert stored(file_keyring) is None
        code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url, "--no-check",
                             stdin=CRM_TOKEN)
        assert code == 0 and stored(file_keyring) == CRM_TOKEN
    finally:
        crm.come_back()


def test_env_token_and_disconnect(file_keyring: keyring.backend.KeyringBackend, crm: CrmContract,
                                  capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secrets.HUBSPOT_TOKEN_ENV, CRM_TOKEN)
    code, out, err = run(capsys, monkeypatch, "hubspot", "connect", "--base-url", crm.base_url)
    assert code == 0 and stored(file_keyring) == CRM_TOKEN
    assert secrets.get_hubspot_token() == CRM_TOKEN and secrets.hubspot_token_source() == "env"
    code, out, err = run(capsys, monkeypatch, "hubspot", "disconnect")
    assert code == 0 and stored(file_keyring) is None and "still applies" in err
    monkeypatch.delenv(secrets.HUBSPOT_TOKEN_ENV)
    assert secrets.get_hubspot_token() is None and secrets.hubspot_token_source() is None
    code, out, err = run(capsys, monkeypatch, "hubspot", "disconnect")
    assert code == 0 and "No HubSpot access token was stored" in out


def test_outbox_lists_what_waits_and_why(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("SOFTPHONE_DATA_DIR", str(data))
    code, out, err = run(capsys, monkeypatch, "hubspot", "outbox")
    assert code == 0 and "Nothing waiting" in out
    box = Outbox(data / FILENAME)
    box.put("call-a", {"remote": "+14155550132", "direction": "outbound", "properties": {}})
    box.put("call-b", {"remote": "+14155550199", "direction": "inbound", "properties": {}})
    box.put("call-c", {"remote": "+14155550100", "direction": "inbound", "properties": {}})
    box.failed("call-a", "Cannot reach HubSpot at api.hubapi.com to log the call (refused).", RETRY, 9e12)
    box.failed("call-b", "HubSpot refused the access token (HTTP 401).", REJECTED, 9e12)
    box.set_remote_id("call-c", 77, synced_version=1)
    box.close()
    code, out, err = run(capsys, monkeypatch, "hubspot", "outbox")
    assert code == 0 and "2 call(s) waiting" in out
    assert "retrying: Cannot reach HubSpot" in out and "refused by HubSpot: HubSpot refused the access token" in out
    code, out, err = run(capsys, monkeypatch, "hubspot", "outbox", "--json")
    listed = json.loads(out)
    assert [r["call_id"] for r in listed["pending"]] == ["call-a", "call-b"]
    assert listed["counts"] == {"pending": 2, "rejected": 1, "done": 1}


def test_the_real_command_line_reads_the_api_root_from_the_config(tmp_path: Path, crm: CrmContract) -> None:
    """`softphone hubspot connect` as a rep runs it: its own process, config file, file keyring, SSL_CERT_FILE."""
    config = tmp_path / "config.toml"
    config.write_text(f'[hubspot]\napi_base_url = "{crm.base_url}"\n')
    env = {**os.environ, "SOFTPHONE_CONFIG": str(config), "SOFTPHONE_DATA_DIR": str(tmp_path / "data"),
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "SSL_CERT_FILE": str(crm.ca)}
    env.pop(secrets.HUBSPOT_TOKEN_ENV, None)
    r = subprocess.run([sys.executable, "-m", "softphone", "hubspot", "connect"], input=CRM_TOKEN + "\n",
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"HubSpot portal {crm.portal_id}" in r.stdout and CRM_TOKEN not in r.stdout + r.stderr
    saved = (tmp_path / "xdg" / "python_keyring" / "keyring_pass.cfg").read_text()   # PlaintextKeyring: base64
    assert "hubspot_3aaccess_2dtoken" in saved and base64.b64encode(CRM_TOKEN.encode()).decode() in saved


def test_doctor_checks_show_portal_scopes_and_the_outbox(tmp_path: Path, file_keyring: keyring.backend.KeyringBackend,
                                                         crm: CrmContract, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate({"hubspot": {"api_base_url": crm.base_url}})
    data = tmp_path / "data"
    checks = cli.doctor_checks(settings, data)
    assert checks == [("warn", checks[0][1])] and "softphone hubspot connect" in checks[0][1]
    off = Settings.model_validate({"hubspot": {"log_calls": False, "lookup_callers": False}})
    assert cli.doctor_checks(off, data)[0][0] == "ok"

    secrets.set_hubspot_token(CRM_TOKEN)
    checks = dict((text.split(" (")[0], level) for level, text in cli.doctor_checks(settings, data))
    assert checks[f"HubSpot portal {crm.portal_id}"] == "ok"
    assert checks["HubSpot scopes present: crm.objects.contacts.read, crm.objects.contacts.write"] == "ok"
    assert checks["HubSpot token lacks crm.objects.companies.read"] == "warn"

    crm.add_token("pat-read", {READ})
    secrets.set_hubspot_token("pat-read")
    assert ("fail", "HubSpot token lacks crm.objects.contacts.write (needed to log calls (create and update call "
                    "engagements)): add it to the private app, then `softphone hubspot connect`") in \
        cli.doctor_checks(settings, data)
    secrets.set_hubspot_token("pat-na1-bad")
    [(level, text)] = cli.doctor_checks(settings, data)
    assert level == "fail" and "HTTP 401" in text and "pat-na1-bad" not in text

    box = Outbox(data / FILENAME)
    box.put("call-a", {"remote": "+14155550132", "properties": {}})
    box.close()
    crm.go_down()
    try:
        checks = cli.doctor_checks(settings, data)
    finally:
        crm.come_back()
    assert checks[0][0] == "warn" and checks[0][1].startswith("HubSpot unreachable")
    assert checks[1] == ("warn", "1 call(s) waiting to be logged in HubSpot, 0 refused (see `softphone hubspot "
                                 "outbox`)")
