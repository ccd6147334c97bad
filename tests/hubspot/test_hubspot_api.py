"""Pure request building, validation, redaction and error reporting of softphone.hubspot.api (httpx.MockTransport)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import httpx
import pytest

from softphone.errors import SecretError
from softphone.hubspot.api import (
    DEFAULT_BASE_URL,
    CallingSettingsClient,
    CallingSettingsInput,
    HubSpotApiError,
    HubSpotUnreachable,
    InvalidSettings,
    describe_request,
    redact,
    validate_app_id,
    validate_base_url,
    validate_dimension,
    validate_name,
    validate_widget_url,
)

KEY = "na1-0000-1111-2222-333344445555"
FULL = CallingSettingsInput(
    name="Softphone", url="https://localhost:9025/", width=400, height=600, is_ready=False,
    supports_custom_objects=True, supports_inbound_calling=True, uses_calling_window=False, uses_remote=True,
)


def mock_client(handler: Callable[[httpx.Request], httpx.Response], key: str | None = KEY,
                base_url: str = DEFAULT_BASE_URL) -> tuple[CallingSettingsClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return CallingSettingsClient(key, base_url=base_url, transport=httpx.MockTransport(record)), seen


def ok(payload: object = None, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if payload is None:
            return httpx.Response(status)
        return httpx.Response(status, json=payload)

    return handler


# ------------------------------------------------------------------------------------ request shapes


@pytest.mark.parametrize(("op", "method"), [("create", "POST"), ("get", "GET"), ("update", "PATCH"),
                                            ("delete", "DELETE")])
def test_each_operation_hits_the_documented_endpoint(op: str, method: str) -> None:
    client, seen = mock_client(ok({"name": "x"}) if op != "delete" else ok(status=204))
    with client:
        if op == "create":
            client.create(42, FULL)
        elif op == "update":
            client.update("42", CallingSettingsInput(is_ready=True))
        else:
            getattr(client, op)(42)
    (req,) = seen
    assert req.method == method
    assert req.url.scheme == "https"
    assert req.url.host == "api.hubapi.com"
    assert req.url.path == "/crm/v3/extensions/calling/42/settings"
    # auth: the developer API key as the hapikey query parameter, and nowhere else
    assert list(req.url.params.multi_items()) == [("hapikey", KEY)]
    assert "authorization" not in req.headers
    assert all(KEY not in v for v in req.headers.values())
    assert req.headers["accept"] == "application/json"
    if method in ("POST", "PATCH"):
        assert req.headers["content-type"] == "application/json"
        assert KEY not in req.content.decode()
    else:
        assert req.content == b""


def test_create_body_has_every_documented_field_with_json_types() -> None:
    client, seen = mock_client(ok({}))
    with client:
        client.create(1, FULL)
    assert json.loads(seen[0].content) == {
        "name": "Softphone", "url": "https://localhost:9025/", "width": 400, "height": 600, "isReady": False,
        "supportsCustomObjects": True, "supportsInboundCalling": True, "usesCallingWindow": False,
        "usesRemote": True,
    }


def test_patch_body_carries_only_the_given_fields() -> None:
    client, seen = mock_client(ok({}))
    with client:
        client.update(1, CallingSettingsInput(is_ready=True, width=320))
    assert json.loads(seen[0].content) == {"width": 320, "isReady": True}


def test_create_requires_name_url_width_height_and_sends_nothing() -> None:
    client, seen = mock_client(ok({}))
    with client, pytest.raises(InvalidSettings, match="width, height"):
        client.create(1, CallingSettingsInput(name="a", url="https://a.example/"))
    assert seen == []


def test_empty_update_is_refused_before_sending() -> None:
    client, seen = mock_client(ok({}))
    with client, pytest.raises(InvalidSettings, match="Nothing to update"):
        client.update(1, CallingSettingsInput())
    assert seen == []


def test_base_url_override_keeps_path_prefix() -> None:
    client, seen = mock_client(ok({}), base_url="http://127.0.0.1:8123/prefix/")
    with client:
        client.get(5)
    assert str(seen[0].url).startswith("http://127.0.0.1:8123/prefix/crm/v3/extensions/calling/5/settings?")


def test_dry_run_description_redacts_the_key_and_shows_body() -> None:
    client, _ = mock_client(ok({}))
    with client:
        request = client.build_request("PATCH", 99, CallingSettingsInput(is_ready=True).patch_body())
    text = describe_request(request)
    assert KEY not in text
    assert text.splitlines()[0] == (
        "PATCH https://api.hubapi.com/crm/v3/extensions/calling/99/settings?hapikey=REDACTED")
    assert "Content-Type: application/json" in text
    assert json.loads(text.split("\n\n", 1)[1]) == {"isReady": True}


def test_requests_can_be_built_without_a_key_but_not_sent() -> None:
    client, seen = mock_client(ok({}), key=None)
    with client:
        request = client.build_request("GET", 7)
        assert request.url.params["hapikey"] == "REDACTED"
        with pytest.raises(SecretError):
            client.send(request)
    assert seen == []


# ----------------------------------------------------------------------------------------- responses


def test_successful_response_is_returned_and_delete_has_no_body() -> None:
    settings = {"name": "x", "url": "https://x.example/", "width": 1, "height": 2, "isReady": True,
                "createdAt": "2024-01-01T00:00:00Z"}
    client, _ = mock_client(ok(settings))
    with client:
        assert client.get(3) == settings
    client, _ = mock_client(ok(status=204))
    with client:
        client.delete(3)  # no body, no error


def test_hubspot_error_message_details_and_correlation_id_are_shown() -> None:
    body = {"status": "error", "message": "Invalid input JSON on line 1", "correlationId": "c0ffee",
            "category": "VALIDATION_ERROR",
            "errors": [{"message": "Unrecognized field \"nme\"", "in": "nme"}]}
    client, _ = mock_client(lambda r: httpx.Response(400, json=body))
    with client, pytest.raises(HubSpotApiError) as info:
        client.request("POST", 11, {"nme": "x"})
    err = info.value
    assert err.status == 400
    assert err.category == "VALIDATION_ERROR"
    assert err.correlation_id == "c0ffee"
    assert err.hubspot_message == "Invalid input JSON on line 1"
    assert "HTTP 400 Bad Request, VALIDATION_ERROR): Invalid input JSON on line 1" in err.message
    assert 'Unrecognized field "nme" (in nme)' in err.message
    assert "c0ffee" in err.message
    assert err.code == "hubspot_api"


@pytest.mark.parametrize(("status", "hint"), [
    (401, "softphone hubspot set-key"), (403, "developer API key"), (404, "settings create"),
    (409, "settings update"), (429, "rate limiting"), (503, "server error"),
])
def test_status_specific_hints(status: int, hint: str) -> None:
    client, _ = mock_client(lambda r: httpx.Response(status, json={"status": "error", "message": "nope"}))
    with client, pytest.raises(HubSpotApiError) as info:
        client.get(12)
    assert hint in info.value.message
    assert ": nope" in info.value.message


def test_error_that_echoes_the_key_is_scrubbed() -> None:
    body = {"status": "error", "message": f"The API key {KEY} is invalid (hapikey={KEY})"}
    client, _ = mock_client(lambda r: httpx.Response(401, json=body))
    with client, pytest.raises(HubSpotApiError) as info:
        client.get(1)
    assert KEY not in info.value.message
    assert KEY not in (info.value.hubspot_message or "")


def test_non_json_error_bodies() -> None:
    client, _ = mock_client(lambda r: httpx.Response(502, text="<html><body>Bad gateway</body></html>"))
    with client, pytest.raises(HubSpotApiError, match=r"HTTP 502 Bad Gateway\)\.") as info:
        client.get(1)
    assert "<html>" not in info.value.message
    client, _ = mock_client(lambda r: httpx.Response(500, text="upstream   exploded\n"))
    with client, pytest.raises(HubSpotApiError, match="HTTP 500 Internal Server Error\\): upstream exploded"):
        client.get(1)


@pytest.mark.parametrize("response", [
    httpx.Response(200, text="not json"), httpx.Response(200, json=[1, 2]),
])
def test_unexpected_success_bodies_are_errors(response: httpx.Response) -> None:
    client, _ = mock_client(lambda r: response)
    with client, pytest.raises(HubSpotApiError):
        client.get(1)


def test_redirects_are_not_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": f"https://elsewhere.example/x?hapikey={KEY}"})

    client, seen = mock_client(handler)
    with client, pytest.raises(HubSpotApiError, match="not followed") as info:
        client.get(1)
    assert len(seen) == 1
    assert KEY not in info.value.message


def test_transport_failures_become_readable_errors_without_the_key() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused for {request.url}", request=request)

    client, _ = mock_client(refuse)
    with client, pytest.raises(HubSpotUnreachable, match=re.escape("Could not reach https://api.hubapi.com")) as info:
        client.get(1)
    assert KEY not in info.value.message

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = mock_client(slow)
    with client, pytest.raises(HubSpotUnreachable, match="Timed out"):
        client.get(1)


def test_httpx_request_log_line_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = mock_client(ok({"name": "x"}))
    with client:
        client.get(77)
    assert "HTTP Request: GET" in caplog.text  # httpx did log the request ...
    assert "hapikey=REDACTED" in caplog.text  # ... with the key replaced
    assert KEY not in caplog.text


# ---------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("value", ["1", "123456", "2147483647", 9])
def test_valid_app_ids(value: str | int) -> None:
    assert validate_app_id(value) == int(value)


@pytest.mark.parametrize("value", ["", "0", "-1", "+1", " 1", "12a", "1e3", "1.0", "2147483648", "١٢٣", True])
def test_invalid_app_ids(value: str | bool) -> None:
    with pytest.raises(InvalidSettings):
        validate_app_id(value)


@pytest.mark.parametrize("value", ["https://localhost:9025/", "https://widget.example.com/hubspot?x=1",
                                   "HTTPS://Example.com"])
def test_valid_widget_urls(value: str) -> None:
    assert validate_widget_url(value) == value


@pytest.mark.parametrize("value", ["http://widget.example.com/", "https://", "widget.example.com",
                                   "javascript:alert(1)", "ftp://x.example/", "https://a b.example/",
                                   "https://user:pw@x.example/", "https://x.example:99999/", ""])
def test_invalid_widget_urls(value: str) -> None:
    with pytest.raises(InvalidSettings):
        validate_widget_url(value)


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("400", 400), (600, 600), (" 5 ", 5)])
def test_valid_dimensions(value: str | int, expected: int) -> None:
    assert validate_dimension(value, "width") == expected


@pytest.mark.parametrize("value", ["0", "-5", "--5", "abc", "1.5", "", 0, -1, 2**31, True])
def test_invalid_dimensions(value: str | int | bool) -> None:
    with pytest.raises(InvalidSettings, match="height"):
        validate_dimension(value, "height")


def test_names() -> None:
    assert validate_name("  My phone ") == "My phone"
    for bad in ("", "   ", "a\nb", "x\x00"):
        with pytest.raises(InvalidSettings):
            validate_name(bad)


def test_boolean_fields_must_be_booleans() -> None:
    with pytest.raises(InvalidSettings, match="isReady"):
        CallingSettingsInput(is_ready=1).patch_body()  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["https://api.hubapi.com", "https://api.hubapi.com/", "http://127.0.0.1:5000",
                                   "http://localhost:1/x", "http://[::1]:8080"])
def test_valid_base_urls(value: str) -> None:
    assert validate_base_url(value) == value.rstrip("/")


@pytest.mark.parametrize("value", ["http://api.hubapi.com", "http://10.0.0.1:80", "ftp://127.0.0.1",
                                   "https://api.hubapi.com?hapikey=x", "api.hubapi.com", "https://u:p@h.example"])
def test_invalid_base_urls(value: str) -> None:
    with pytest.raises(InvalidSettings):
        validate_base_url(value)


def test_redact() -> None:
    assert redact(f"GET /x?a=1&hapikey={KEY}&b=2") == "GET /x?a=1&hapikey=REDACTED&b=2"
    assert redact(f"key is {KEY}", KEY) == "key is REDACTED"
