"""The CRM client against a local HTTPS server that enforces HubSpot's documented contract (crm_contract.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest

from softphone.hubspot import crm
from softphone.hubspot.crm import (
    CALL_TO_COMPANY,
    CALL_TO_CONTACT,
    PRIVATE_APP_LIMIT,
    CrmAuthError,
    CrmClient,
    CrmMissingScopes,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
    phone_forms,
)

from .conftest import CRM_TOKEN
from .crm_contract import READ, WRITE, CrmContract

PROPS = {"hs_timestamp": "1767225600000", "hs_call_direction": "OUTBOUND", "hs_call_status": "COMPLETED",
         "hs_call_duration": "61000", "hs_call_from_number": "+15551230000", "hs_call_to_number": "+14155550132",
         "hs_call_title": "Call to Maya Chen", "hs_call_external_id": "call-1"}


def client(server: CrmContract, token: str = CRM_TOKEN, **kw: object) -> CrmClient:
    return CrmClient(token, base_url=server.base_url, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- the contract itself


def test_the_contract_server_refuses_what_hubspot_refuses(crm: CrmContract) -> None:
    """Guard: the stand-in enforces the documented contract, so the tests below mean something."""
    maya = crm.add_contact("Maya", "Chen", phone="+1 415-555-0132")
    base = crm.base_url
    auth = {"Authorization": f"Bearer {CRM_TOKEN}"}
    good = {"properties": PROPS, "associations": [
        {"to": {"id": str(maya)}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                              "associationTypeId": CALL_TO_CONTACT}]}]}
    with httpx.Client(base_url=base) as http:
        r = http.post("/crm/v3/objects/calls", json=good)
        assert r.status_code == 401 and r.json()["category"] == "INVALID_AUTHENTICATION"
        assert http.post("/crm/v3/objects/calls", json=good, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert http.post("/crm/v3/objects/calls", json=good, params={"hapikey": CRM_TOKEN}).status_code == 401
        for bad in ({"properties": PROPS},                                               # associations required
                    {"properties": {**PROPS, "hs_call_duration": 61000}, "associations": []},  # values are strings
                    {"properties": {**PROPS, "hs_call_duration": "61.5"}, "associations": []},
                    {"properties": {**PROPS, "hs_call_status": "MISSED_CALL"}, "associations": []},
                    {"properties": {**PROPS, "hs_call_direction": "outbound"}, "associations": []},
                    {"properties": {**PROPS, "hs_call_disposition": "Connected"}, "associations": []},
                    {"properties": {**PROPS, "hs_call_notes": "x"}, "associations": []},    # no such property
                    {"properties": {k: v for k, v in PROPS.items() if k != "hs_timestamp"}, "associations": []},
                    {"properties": PROPS, "associations": [{"to": {"id": maya}, "types": []}]},
                    {"properties": PROPS, "associations": [
                        {"to": {"id": str(maya)}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                             "associationTypeId": CALL_TO_COMPANY}]}]},
                    {"properties": PROPS, "associations": [
                        {"to": {"id": str(maya)}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                             "associationTypeId": 1}]}]}):
            r = http.post("/crm/v3/objects/calls", json=bad, headers=auth)
            assert r.status_code == 400, bad
            assert r.json()["status"] == "error" and r.json()["correlationId"]
        r = http.post("/crm/v3/objects/calls", json=good, headers=auth)
        assert r.status_code == 201 and r.json()["id"].isdigit() and r.json()["properties"]["hs_call_title"]
        assert http.patch("/crm/v3/objects/calls/1", json={"properties": {}}, headers=auth).status_code == 404
        search = {"filterGroups": [{"filters": [{"propertyName": "phone", "operator": "EQ",
                                                 "value": "+1 415-555-0132"}]}],
                  "properties": ["firstname"], "sorts": [], "limit": 10, "after": "0"}
        assert http.post("/crm/v3/objects/contacts/search", json=search, headers=auth).json()["total"] == 1
        for bad_search in ({k: v for k, v in search.items() if k != "filterGroups"},
                           {**search, "limit": 201},
                           {**search, "filterGroups": [{"filters": []}] * 6},
                           {**search, "filterGroups": [{"filters": [{"propertyName": "phone", "operator": "IS",
                                                                     "value": "x"}]}]},
                           {**search, "filterGroups": [{"filters": [{"propertyName": "phone", "operator": "IN",
                                                                     "value": "x"}]}]}):
            assert http.post("/crm/v3/objects/contacts/search", json=bad_search, headers=auth).status_code == 400
    crm.add_token("pat-read-only", {READ})
    with httpx.Client(base_url=base) as http:
        r = http.post("/crm/v3/objects/calls", json=good, headers={"Authorization": "Bearer pat-read-only"})
        assert r.status_code == 403 and r.json()["category"] == "MISSING_SCOPES"
        assert r.json()["errors"][0]["context"]["requiredGranularScopes"] == [WRITE]


def test_contract_search_pages_with_after(crm: CrmContract) -> None:
    for i in range(5):
        crm.add_contact(f"P{i}", "Same", phone="+14155550100")
    auth = {"Authorization": f"Bearer {CRM_TOKEN}"}
    seen: list[str] = []
    after = "0"
    with httpx.Client(base_url=crm.base_url) as http:
        while True:
            body = {"filterGroups": [{"filters": [{"propertyName": "phone", "operator": "EQ",
                                                   "value": "+14155550100"}]}],
                    "properties": ["firstname"], "sorts": ["firstname"], "limit": 2, "after": after}
            page = http.post("/crm/v3/objects/contacts/search", json=body, headers=auth).json()
            assert page["total"] == 5
            seen += [r["properties"]["firstname"] for r in page["results"]]
            if "paging" not in page:
                break
            after = page["paging"]["next"]["after"]
    assert seen == ["P0", "P1", "P2", "P3", "P4"]


# ------------------------------------------------------------------------------------------- the client


def test_phone_forms_cover_how_reps_type_numbers() -> None:
    assert phone_forms("+14155550132") == ["+14155550132", "+1 415-555-0132", "(415) 555-0132", "4155550132",
                                           "14155550132"]
    assert phone_forms("(415) 555-0132", "US")[0] == "+14155550132"
    assert phone_forms("030 1234567", "DE")[0] == "+49301234567"
    assert phone_forms("sip:alice@example.com") == [] and phone_forms("alice") == [] and phone_forms("") == []


async def test_token_info_and_account_details(crm: CrmContract) -> None:
    crm.add_token("pat-no-write", {READ, "crm.objects.companies.read"})
    async with client(crm) as c:
        info = await c.token_info()
        assert info.hub_id == crm.portal_id and info.missing() == []
        details = await c.account_details()
        assert details.portal_id == crm.portal_id
        assert details.contact_url(5) == f"https://app.hubspot.com/contacts/{crm.portal_id}/record/0-1/5"
    async with client(crm, "pat-no-write") as c:
        assert (await c.token_info()).missing() == [WRITE]
    body = crm.of("POST", "/oauth/v2/private-apps/get/access-token-info")[0].body
    assert body == {"tokenKey": CRM_TOKEN}


async def test_contacts_found_by_national_spelling_and_mobile(crm: CrmContract) -> None:
    acme = crm.add_company("Acme")
    maya = crm.add_contact("Maya", "Chen", phone="(415) 555-0132", company="Acme", company_id=acme)
    raj = crm.add_contact("Raj", "Patel", mobile="+44 20 7946 0958")
    crm.add_contact("Other", "Person", phone="+14155550199")
    async with client(crm) as c:
        found = await c.search_contacts(phone_forms("+14155550132"))
        assert [(x.id, x.name, x.company, x.company_id) for x in found] == [(maya, "Maya Chen", "Acme", acme)]
        found = await c.search_contacts(phone_forms("020 7946 0958", "GB"))
        assert [x.id for x in found] == [raj]
        assert await c.search_contacts(phone_forms("+14155550000")) == []


async def test_create_with_associations_find_and_update(crm: CrmContract) -> None:
    crm.search_lag_s = 0.3
    acme = crm.add_company("Acme")
    maya = crm.add_contact("Maya", "Chen", phone="+14155550132", company_id=acme)
    async with client(crm) as c:
        eid = await c.create_call(PROPS, contact_id=maya, company_id=acme)
        call = crm.calls[eid]
        assert call.properties["hs_call_external_id"] == "call-1"
        assert sorted((a["to"], a["id"], a["typeId"]) for a in call.associations) == [
            ("companies", acme, CALL_TO_COMPANY), ("contacts", maya, CALL_TO_CONTACT)]
        assert await c.find_call("call-1") is None          # not in the search index yet
        await asyncio.sleep(0.35)
        assert await c.find_call("call-1") == eid
        await c.update_call(eid, {"hs_call_body": "Budget approved"})
        assert crm.calls[eid].properties["hs_call_body"] == "Budget approved"


async def test_errors_say_what_to_do_and_never_carry_the_token(crm: CrmContract, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    crm.add_token("pat-read-only", {READ})
    async with client(crm, "pat-wrong-token") as c:
        with pytest.raises(CrmAuthError) as auth:
            await c.create_call(PROPS)
        assert "softphone hubspot connect" in auth.value.message and not auth.value.retryable
    async with client(crm, "pat-read-only") as c:
        with pytest.raises(CrmMissingScopes) as scopes:
            await c.create_call(PROPS)
        assert scopes.value.scopes == [WRITE] and WRITE in scopes.value.message
    async with client(crm) as c:
        with pytest.raises(CrmRejected) as bad:
            await c.create_call({**PROPS, "hs_call_status": "NOPE"})
        assert bad.value.status == 400 and not bad.value.maybe_applied
        crm.fail_next("POST", "/crm/v3/objects/calls", 503)
        with pytest.raises(CrmUnavailable) as five:
            await c.create_call(PROPS)
        assert five.value.retryable and five.value.maybe_applied
    for text in [auth.value.message, scopes.value.message, caplog.text]:
        assert "pat-wrong-token" not in text and CRM_TOKEN not in text and "pat-read-only" not in text


async def test_down_and_slow_are_retryable_and_say_whether_the_write_may_have_happened(crm: CrmContract) -> None:
    async with client(crm, timeout=httpx.Timeout(0.5)) as c:
        crm.delay[r"/crm/v3/objects/calls"] = 1.0
        with pytest.raises(CrmUnavailable) as slow:
            await c.create_call(PROPS)
        assert slow.value.maybe_applied                     # sent, no answer: HubSpot may have it
        crm.delay.clear()
        crm.go_down()
        try:
            with pytest.raises(CrmUnavailable) as down:
                await c.create_call(PROPS)
            assert not down.value.maybe_applied             # connection refused: nothing was sent
        finally:
            crm.come_back()
        assert await c.create_call({**PROPS, "hs_call_external_id": "call-2"}) > 0


async def test_429_pauses_every_request_until_retry_after(crm: CrmContract) -> None:
    crm.rate_limit = (3, 1.0)
    async with client(crm) as c:
        t0 = time.monotonic()
        results: list[int] = []
        for i in range(8):
            try:
                results.append(await c.create_call({**PROPS, "hs_call_external_id": f"c{i}"}))
            except CrmRateLimited as exc:
                assert exc.retry_after_s is not None and exc.retry_after_s >= 1
                results.append(await c.create_call({**PROPS, "hs_call_external_id": f"c{i}"}))
        assert len(results) == 8 and len(crm.calls) == 8
        assert crm.rate_limited >= 1
        assert crm.early == 0                                # nothing was sent before Retry-After
        assert time.monotonic() - t0 >= 1.0


async def test_client_side_pacing_stays_under_the_documented_limit(crm: CrmContract) -> None:
    """The default pacing is 90 % of HubSpot's limit (here scaled to 10 per second): never a 429."""
    limit, window = PRIVATE_APP_LIMIT
    crm.rate_limit = (10, 1.0)
    async with client(crm, limit=(limit // 10, window / 10)) as c:
        for i in range(30):
            await c.create_call({**PROPS, "hs_call_external_id": f"p{i}"})
    assert crm.rate_limited == 0 and len(crm.calls) == 30


def test_base_url_must_be_https_unless_loopback() -> None:
    with pytest.raises(crm.SoftphoneError):
        CrmClient(CRM_TOKEN, base_url="http://api.hubapi.com")
    with pytest.raises(crm.NotConnected):
        CrmClient("", base_url="https://api.hubapi.com")
