"""Fixtures: a file keyring in a temp dir, a local stand-in for the calling settings API on 127.0.0.1 and one
for the CRM API over HTTPS (free ports)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest
from keyrings.alt.file import PlaintextKeyring

from .crm_contract import CrmContract
from .fake_hubspot import FakeHubSpot

API_KEY = "eu1-1a2b-3c4d-5e6f-7a8b9c0d1e2f"
APP_ID = 1234567
OTHER_APP_ID = 7654321


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[keyring.backend.KeyringBackend]:
    """The documented test keyring: PlaintextKeyring with XDG_DATA_HOME in a temp dir (env set for children)."""
    data_home = tmp_path / "xdg-data"
    data_home.mkdir()
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    keyring.set_keyring(backend)
    assert str(data_home) in backend.file_path
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def stored_key(file_keyring: keyring.backend.KeyringBackend) -> str:
    file_keyring.set_password("softphone", "hubspot:developer-api-key", API_KEY)
    return API_KEY


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot(api_key=API_KEY, known_apps={APP_ID, OTHER_APP_ID}).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must reach the fake directly, whatever proxy the machine has configured."""
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(name)


# ------------------------------------------------------------------------------ CRM (private-app token)

CRM_TOKEN = "pat-na1-11111111-2222-4333-8444-555555555555"


@pytest.fixture
def crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CrmContract]:
    """HubSpot's CRM API stand-in over HTTPS; this process trusts its CA (``SSL_CERT_FILE``, as httpx reads it)."""
    server = CrmContract(tmp_path).start()
    server.add_token(CRM_TOKEN)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca))
    try:
        yield server
    finally:
        server.stop()
