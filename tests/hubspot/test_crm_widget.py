"""The widget's place: while a HubSpot tab with the widget is open, the SDK path is the only writer (zero CRM API
writes); once no tab is there, the API logs the call. Real widget in Chromium (SDK in host mode, as HubSpot runs
it), real engine with the CRM service, real SIP peer, HTTPS stand-in of HubSpot's CRM API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from softphone.widget.certs import CertPaths
from tests.peers import Sipp, free_port, wait_for
from tests.widget.browser import CHROMIUM, HostPage, HostServer
from tests.widget.conftest import browser, context, host_server, pki  # noqa: F401  (fixtures)

from .conftest import CRM_TOKEN
from .crm_contract import CrmContract
from .crm_peers import CrmEngine, crm_config, need, trunk

pytestmark = pytest.mark.integration


@pytest.fixture
def widget_engine(tmp_path: Path, pki: CertPaths, host_server: HostServer,  # noqa: F811
                  crm: CrmContract) -> Iterator[tuple[CrmEngine, Sipp]]:
    need("sipp")
    if not Path(CHROMIUM).exists() or shutil.which("certutil") is None:
        raise AssertionError("Chromium and certutil are needed: run `make test` (apt-get install -y chromium "
                             "libnss3-tools)")
    peer = Sipp("uas_answer", workdir=tmp_path).start()
    port = free_port()
    eng = CrmEngine(tmp_path / "engine", crm_config(trunk(peer.port), crm=crm, widget_port=port), crm,
                    token=CRM_TOKEN, env={"SOFTPHONE_ALLOWED_ORIGINS": host_server.host_origin})
    certs = eng.data_dir / "certs"
    certs.mkdir(parents=True, exist_ok=True, mode=0o700)
    for src in (pki.ca, pki.ca_key, pki.leaf, pki.leaf_key):
        shutil.copy2(src, certs / src.name)
    try:
        eng.start()
        assert eng.ready.get("widget_url") == f"https://localhost:{port}/", eng.ready
        yield eng, peer
    finally:
        eng.stop()
        peer.stop()


def sdk_logged(eng: CrmEngine) -> int:
    n: int = eng.status()["hubspot_crm"]["sdk_logged"]
    return n


def test_widget_open_means_logged_once_through_the_sdk_and_zero_api_writes(
        widget_engine: tuple[CrmEngine, Sipp], context: Any, host_server: HostServer,  # noqa: F811
        crm: CrmContract) -> None:
    eng, peer = widget_engine
    crm.add_contact("Maya", "Chen", phone="+1 415 555 0132", company="Northwind Traders")
    hp = HostPage(context.new_page(), host_server.host_origin, eng.ready["widget_url"])
    hp.wait_view("idle")

    # 1. dialled from HubSpot: the widget owns it
    hp.dial(501)
    call_id = hp.wait_received("OUTGOING_CALL_STARTED")[0]["externalCallId"]
    hp.wait_received("CALL_ANSWERED")
    hp.click("#hangup")
    hp.wait_received("CALL_ENDED")
    hp.wait_view("postcall")
    hp.click("#save")
    hp.wait_received("CALL_COMPLETED")
    engagement_id = hp.engagements()[0]["id"]
    wait_for(lambda: history_row(eng, call_id)["engagement_id"] == engagement_id, 10, what="SDK engagement id")

    # 2. dialled from the desktop dialer while the tab is open: announced to HubSpot through the SDK as well
    other = str(eng.ctl("dial", number="+14155550132")["call_id"])
    eng.wait_state(other, "ESTABLISHED")
    started = hp.wait_received("OUTGOING_CALL_STARTED", count=2)
    assert started[1]["externalCallId"] == other
    eng.ctl("hangup", call_id=other)
    eng.wait_state(other, "TERMINATED")
    wait_for(lambda: sdk_logged(eng) == 2, 10, what="both calls left to the SDK")
    assert crm.writes() == []                                          # zero API writes
    assert len(hp.engagements()) == 2 and all(e["duplicates"] == 0 for e in hp.engagements())

    # 3. the tab is closed: the next call is HubSpot's business through the API
    hp.page.close()
    log = eng.data_dir / "logs" / "softphone.log"
    wait_for(lambda: "widget w1 disconnected" in log.read_text(), 10, what="the engine to see the tab go")
    third = str(eng.ctl("dial", number="+14155550132")["call_id"])
    eng.wait_state(third, "ESTABLISHED")
    eng.ctl("hangup", call_id=third)
    eng.wait_logged(third)
    assert [c.properties["hs_call_external_id"] for c in crm.calls.values()] == [third]
    assert crm.calls_for(call_id) == [] and crm.calls_for(other) == []
    assert peer.invites() == 3


def history_row(eng: CrmEngine, call_id: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = eng.ctl("history", limit=50)["calls"]
    return next(r for r in rows if r["call_id"] == call_id)



def test_the_accounts_own_call_outcomes_are_offered_after_the_call(
        widget_engine: tuple[CrmEngine, Sipp], context: Any, host_server: HostServer,  # noqa: F811
        crm: CrmContract) -> None:
    """With the CRM connected, the post-call panel offers the account's outcomes (read from HubSpot), and the
    one the rep picks is what HubSpot gets as hs_call_disposition."""
    eng, _peer = widget_engine
    booked = "5f4b3c2a-1d0e-4f9a-8b7c-6d5e4f3a2b1c"
    crm.outcomes[:] = [{"id": booked, "label": "Demo booked"},
                       {"id": "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b", "label": "Not interested"}]
    eng.stop()                        # read at start: restart the engine with the account's own list
    eng.start()
    hp = HostPage(context.new_page(), host_server.host_origin, eng.ready["widget_url"])
    hp.wait_view("idle")
    hp.dial(501)
    hp.wait_received("CALL_ANSWERED")
    hp.click("#hangup")
    hp.wait_view("postcall")
    labels = "Array.from(document.querySelectorAll('#outcomes button')).map(b => b.textContent)"
    wait_for(lambda: hp.widget(labels) == ["Demo booked", "Not interested"], 10, what="the account's outcomes")
    hp.click(f"#outcomes button[data-id='{booked}']")
    hp.click("#save")
    done = hp.wait_received("CALL_COMPLETED")[0]
    assert done["engagementProperties"]["hs_call_disposition"] == booked


def test_notes_of_a_tab_reloaded_with_the_panel_open_reach_the_engagement(
        widget_engine: tuple[CrmEngine, Sipp], context: Any, host_server: HostServer,  # noqa: F811
        crm: CrmContract) -> None:
    """The rep reloads the whole HubSpot tab with notes typed in the post-call panel. The closing page sends
    callCompleted, but the reloaded tab may drop it (Chromium delivers it to the new page, before or after its
    handshake), so the engine also writes the notes and outcome to the SDK's engagement through the API: one
    update of those two properties, nothing created, the rest of the engagement as HubSpot had it."""
    eng, _peer = widget_engine
    hp = HostPage(context.new_page(), host_server.host_origin, eng.ready["widget_url"])
    hp.wait_view("idle")
    hp.dial(501)
    call_id = hp.wait_received("CALL_ANSWERED")[0]["externalCallId"]
    hp.click("#hangup")
    engagement_id = hp.wait_received("CALL_ENDED")[0]["engagementId"]
    crm.add_call(engagement_id, {"hs_call_title": "Call with Maya", "hs_call_status": "COMPLETED"})
    hp.wait_view("postcall")
    hp.click("#outcomes button[data-id='f240bbac-87c9-4f6e-bf70-924b57d47db7']")   # "Connected"
    hp.fill("#notes", "Budget approved\nCall back <Tuesday>")
    hp.page.reload()
    hp.wait("crm.widget.initialized", what="INITIALIZED after the reload")
    props = crm.calls[engagement_id].properties
    wait_for(lambda: props.get("hs_call_body"), 15, what="the notes written to the engagement")
    assert props["hs_call_body"] == "Budget approved<br>Call back &lt;Tuesday&gt;"
    assert props["hs_call_disposition"] == "f240bbac-87c9-4f6e-bf70-924b57d47db7"
    assert props["hs_call_title"] == "Call with Maya" and props["hs_call_status"] == "COMPLETED"
    writes = wait_for(lambda: crm.writes(), 5, what="the update recorded")
    assert [(w.method, w.path) for w in writes] == [("PATCH", f"/crm/v3/objects/calls/{engagement_id}")]
    assert set(writes[0].body["properties"]) == {"hs_call_body", "hs_call_disposition"}
    assert history_row(eng, call_id)["notes"] == "Budget approved\nCall back <Tuesday>"
    assert history_row(eng, call_id)["engagement_id"] == engagement_id
