"""`softphone hubspot set-key|settings ...` end to end against a local server that enforces HubSpot's contract."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import keyring.backend
import pytest

from softphone.hubspot import cli

from .conftest import API_KEY, APP_ID, OTHER_APP_ID
from .fake_hubspot import FakeHubSpot

REPO = Path(__file__).resolve().parents[2]
WIDGET_URL = "https://localhost:9025/"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert API_KEY not in out
    assert API_KEY not in err
    return code, out, err


def settings(fake: FakeHubSpot, action: str, *args: str, app_id: int = APP_ID) -> list[str]:
    return ["hubspot", "settings", action, "--app-id", str(app_id), "--base-url", fake.base_url, *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------ the fake itself


def test_the_fake_enforces_the_contract(fake_hubspot: FakeHubSpot) -> None:
    """Guard: the stand-in rejects what HubSpot rejects, so the CLI tests below mean something."""
    base = f"{fake_hubspot.base_url}/crm/v3/extensions/calling/{APP_ID}/settings"
    good = {"name": "n", "url": WIDGET_URL, "width": 1, "height": 1}
    with httpx.Client() as http:
        assert http.get(base).status_code == 401  # no key
        assert http.get(base, params={"hapikey": "wrong"}).status_code == 401
        assert http.get(base, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 401
        auth = {"hapikey": API_KEY}
        assert http.get(base, params={**auth, "x": "1"}).status_code == 400
        assert http.get(base.replace("/v3/", "/v4/"), params=auth).status_code == 404
        assert http.get(base, params=auth).status_code == 404  # nothing created yet
        assert http.put(base, params=auth, json=good).status_code == 405
        assert http.post(base, params=auth, content=json.dumps(good)).status_code == 415  # no content type
        for bad in ({**good, "width": "1"}, {**good, "height": True}, {**good, "isReady": "yes"},
                    {**good, "nme": "typo"}, {"name": "n", "url": WIDGET_URL}, {**good, "width": 0},
                    {**good, "url": "http://x.example/"}):
            assert http.post(base, params=auth, json=bad).status_code == 400, bad
        assert http.post(base, params=auth, json=good).status_code == 200
        assert http.post(base, params=auth, json=good).status_code == 409
        assert http.patch(base, params=auth, json={}).status_code == 400
        unknown = base.replace(str(APP_ID), "999")
        assert http.get(unknown, params=auth).status_code == 404
        assert http.delete(base, params=auth).status_code == 204
    assert fake_hubspot.settings == {}


# ------------------------------------------------------------------------------------------- set-key


def test_set_key_reads_stdin_and_stores_it_in_the_keyring(
        file_keyring: keyring.backend.KeyringBackend, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"  {API_KEY}\n"))
    code, out, _ = run(capsys, "hubspot", "set-key")
    assert code == 0
    assert "Stored" in out
    assert file_keyring.get_password("softphone", "hubspot:developer-api-key") == API_KEY


@pytest.mark.parametrize("stdin", ["", "   \n", "two keys\n", "a\nb\n", "k\x07ey"])
def test_set_key_refuses_junk(file_keyring: keyring.backend.KeyringBackend, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch, stdin: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, _, err = run(capsys, "hubspot", "set-key")
    assert code == 2
    assert "nothing stored" in err
    assert file_keyring.get_password("softphone", "hubspot:developer-api-key") is None


def test_the_key_is_never_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["hubspot", "set-key", API_KEY], ["hubspot", "set-key", "--key", API_KEY],
                 ["hubspot", "settings", "get", "--app-id", "1", "--api-key", API_KEY],
                 ["hubspot", "settings", "get", "--app-id", "1", "--hapikey", API_KEY]):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
    capsys.readouterr()


# ------------------------------------------------------------------------------------------ settings


def test_full_lifecycle(fake_hubspot: FakeHubSpot, stored_key: str, capsys: pytest.CaptureFixture[str],
                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    code, out, err = run(capsys, *settings(fake_hubspot, "create", "--name", "Softphone", "--url", WIDGET_URL,
                                           "--supports-inbound-calling"))
    assert (code, err) == (0, "")
    created = json.loads(out)
    assert created["name"] == "Softphone"
    assert created["url"] == WIDGET_URL
    assert (created["width"], created["height"]) == (400, 600)
    assert created["isReady"] is False  # sent explicitly: HubSpot would default it to true
    assert created["supportsInboundCalling"] is True
    assert "createdAt" in created
    post = fake_hubspot.requests[-1]
    assert post.method == "POST"
    assert json.loads(post.body) == {"name": "Softphone", "url": WIDGET_URL, "width": 400, "height": 600,
                                     "isReady": False, "supportsInboundCalling": True}

    code, out, _ = run(capsys, *settings(fake_hubspot, "get"))
    assert code == 0
    assert json.loads(out) == created

    code, out, _ = run(capsys, *settings(fake_hubspot, "update", "--ready", "--height", "720",
                                         "--no-supports-inbound-calling", "--uses-remote"))
    assert code == 0
    updated = json.loads(out)
    assert (updated["isReady"], updated["height"], updated["supportsInboundCalling"], updated["usesRemote"]) == (
        True, 720, False, True)
    assert updated["name"] == "Softphone"  # PATCH leaves other fields alone
    assert json.loads(fake_hubspot.requests[-1].body) == {
        "height": 720, "isReady": True, "supportsInboundCalling": False, "usesRemote": True}

    code, out, _ = run(capsys, *settings(fake_hubspot, "delete", "--yes"))
    assert code == 0
    assert f"Deleted the calling settings of app {APP_ID}" in out
    assert fake_hubspot.requests[-1].method == "DELETE"

    code, out, err = run(capsys, *settings(fake_hubspot, "get"))
    assert code == 1
    assert out == ""
    assert "HTTP 404" in err
    assert f"No calling settings exist for app {APP_ID}" in err  # HubSpot's own message
    assert "settings create" in err  # and what to do about it

    assert [r.method for r in fake_hubspot.requests] == ["POST", "GET", "PATCH", "DELETE", "GET"]
    assert all(r.status for r in fake_hubspot.requests)
    assert all(r.query == {"hapikey": [API_KEY]} for r in fake_hubspot.requests)
    assert API_KEY not in caplog.text
    assert "hapikey=REDACTED" in caplog.text


def test_create_twice_is_a_clear_409(fake_hubspot: FakeHubSpot, stored_key: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    create = settings(fake_hubspot, "create", "--name", "A", "--url", WIDGET_URL)
    assert run(capsys, *create)[0] == 0
    code, out, err = run(capsys, *create)
    assert (code, out) == (1, "")
    assert "HTTP 409" in err
    assert f"Calling settings already exist for app {APP_ID}" in err
    assert "settings update" in err
    assert "correlationId" in err


def test_unknown_app_is_a_clear_404(fake_hubspot: FakeHubSpot, stored_key: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *settings(fake_hubspot, "create", "--name", "A", "--url", WIDGET_URL,
                                         app_id=31337))
    assert code == 1
    assert "App 31337 not found for this developer account" in err
    assert "Check --app-id" in err


def test_apps_are_independent(fake_hubspot: FakeHubSpot, stored_key: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *settings(fake_hubspot, "create", "--name", "A", "--url", WIDGET_URL))[0] == 0
    assert run(capsys, *settings(fake_hubspot, "get", app_id=OTHER_APP_ID))[0] == 1
    assert run(capsys, *settings(fake_hubspot, "update", "--ready", app_id=OTHER_APP_ID))[0] == 1
    assert run(capsys, *settings(fake_hubspot, "delete", "--yes", app_id=OTHER_APP_ID))[0] == 1
    assert set(fake_hubspot.settings) == {APP_ID}


def test_wrong_key_shows_hubspots_message_and_the_fix(fake_hubspot: FakeHubSpot,
                                                      file_keyring: keyring.backend.KeyringBackend,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    file_keyring.set_password("softphone", "hubspot:developer-api-key", "not-the-key")
    code, _, err = run(capsys, *settings(fake_hubspot, "get"))
    assert code == 1
    assert "HTTP 401" in err
    assert "The API key provided is invalid" in err
    assert "softphone hubspot set-key" in err
    assert "not-the-key" not in err


def test_missing_key_fails_before_any_request(fake_hubspot: FakeHubSpot,
                                              file_keyring: keyring.backend.KeyringBackend,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *settings(fake_hubspot, "get"))
    assert (code, out) == (1, "")
    assert "No HubSpot developer API key in the keyring" in err
    assert "softphone hubspot set-key" in err
    assert fake_hubspot.requests == []


@pytest.mark.parametrize("action_args", [
    ["create", "--name", "A", "--url", WIDGET_URL, "--width", "320", "--supports-custom-objects"],
    ["get"], ["update", "--ready"], ["delete"],
])
def test_dry_run_prints_the_request_and_sends_nothing(fake_hubspot: FakeHubSpot, stored_key: str,
                                                      capsys: pytest.CaptureFixture[str],
                                                      action_args: list[str]) -> None:
    action, *rest = action_args
    code, out, err = run(capsys, *settings(fake_hubspot, action, *rest, "--dry-run"))
    assert code == 0
    assert "nothing was sent" in err
    method = {"create": "POST", "get": "GET", "update": "PATCH", "delete": "DELETE"}[action]
    url = f"{fake_hubspot.base_url}/crm/v3/extensions/calling/{APP_ID}/settings?hapikey=REDACTED"
    assert out.splitlines()[0] == f"{method} {url}"
    if action == "create":
        assert json.loads(out.split("\n\n", 1)[1]) == {
            "name": "A", "url": WIDGET_URL, "width": 320, "height": 600, "isReady": False,
            "supportsCustomObjects": True}
    elif action == "update":
        assert json.loads(out.split("\n\n", 1)[1]) == {"isReady": True}
    else:
        assert "\n\n" not in out
    assert fake_hubspot.requests == []


def test_dry_run_needs_no_key(file_keyring: keyring.backend.KeyringBackend,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "hubspot", "settings", "get", "--app-id", "5", "--dry-run")
    assert code == 0
    assert out.startswith("GET https://api.hubapi.com/crm/v3/extensions/calling/5/settings?hapikey=REDACTED")


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--name", "A", "--url", "http://localhost:9025/"], "must use https://"),
    (["create", "--name", "A", "--url", WIDGET_URL, "--width", "0"], "positive number of pixels"),
    (["create", "--name", "A", "--url", WIDGET_URL, "--height", "1.5"], "whole number of pixels"),
    (["create", "--name", "  ", "--url", WIDGET_URL], "Name must not be empty"),
    (["create", "--url", WIDGET_URL], "required: --name"),
    (["update", "--width", "-3"], "positive number of pixels"),
])
def test_invalid_input_is_refused_before_sending(fake_hubspot: FakeHubSpot, stored_key: str,
                                                 capsys: pytest.CaptureFixture[str], args: list[str],
                                                 message: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(settings(fake_hubspot, *args))
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert fake_hubspot.requests == []


@pytest.mark.parametrize("app_id", ["abc", "0", "-4", "12.5", "99999999999"])
def test_app_id_must_be_numeric(fake_hubspot: FakeHubSpot, stored_key: str, capsys: pytest.CaptureFixture[str],
                                app_id: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["hubspot", "settings", "get", f"--app-id={app_id}", "--base-url", fake_hubspot.base_url])
    assert info.value.code == 2
    assert "App id must be" in capsys.readouterr().err
    assert fake_hubspot.requests == []


def test_update_without_fields_is_refused(fake_hubspot: FakeHubSpot, stored_key: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *settings(fake_hubspot, "update"))
    assert code == 2
    assert "Nothing to update" in err
    assert fake_hubspot.requests == []


def test_plain_http_base_url_to_a_remote_host_is_refused(stored_key: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["hubspot", "settings", "get", "--app-id", "1", "--base-url", "http://api.hubapi.com"])
    assert "plain http is only allowed to a loopback address" in capsys.readouterr().err


def test_delete_without_yes_on_a_pipe_is_refused(fake_hubspot: FakeHubSpot, stored_key: str,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    code, _, err = run(capsys, *settings(fake_hubspot, "delete"))
    assert code == 2
    assert "--yes" in err
    assert fake_hubspot.requests == []


def test_unreachable_server_is_a_clear_error(stored_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "hubspot", "settings", "get", "--app-id", "1", "--base-url", base)
    assert (code, out) == (1, "")
    assert f"Could not reach {base}" in err


# --------------------------------------------------------------------------------- as a real process


def test_real_processes_key_via_stdin_then_create(fake_hubspot: FakeHubSpot,
                                                  file_keyring: keyring.backend.KeyringBackend) -> None:
    """The key goes in through stdin of one process and is used from the keyring by another; argv never has it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # PYTHON_KEYRING_BACKEND / XDG_DATA_HOME set by the fixture
    base = [sys.executable, "-m", "softphone.hubspot.cli", "hubspot"]
    stored = subprocess.run([*base, "set-key"], input=API_KEY + "\n", capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=60, check=False)
    assert stored.returncode == 0, stored.stderr
    assert API_KEY not in stored.stdout + stored.stderr
    assert file_keyring.get_password("softphone", "hubspot:developer-api-key") == API_KEY

    argv = [*base, "settings", "create", "--app-id", str(APP_ID), "--base-url", fake_hubspot.base_url,
            "--name", "Softphone", "--url", WIDGET_URL]
    created = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "Softphone"
    assert API_KEY not in created.stdout + created.stderr
    assert all(API_KEY not in a for a in argv)
    assert fake_hubspot.requests[-1].query == {"hapikey": [API_KEY]}


def test_wired_into_the_main_softphone_cli(fake_hubspot: FakeHubSpot, stored_key: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from softphone.cli import main as softphone_main

    assert softphone_main(settings(fake_hubspot, "create", "--name", "A", "--url", WIDGET_URL)) == 0
    assert softphone_main(settings(fake_hubspot, "get")) == 0
    out, err = capsys.readouterr()
    assert API_KEY not in out + err
    assert [r.method for r in fake_hubspot.requests] == ["POST", "GET"]


def test_unusable_keyring_is_reported(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        monkeypatch.setattr(sys, "stdin", io.StringIO(API_KEY))
        code, _, err = run(capsys, "hubspot", "set-key")
        assert code == 1
        assert "Could not store the password in the keyring" in err
        code, _, err = run(capsys, "hubspot", "settings", "get", "--app-id", "1")
        assert code == 1
        assert "No HubSpot developer API key in the keyring" in err
    finally:
        keyring.set_keyring(previous)
