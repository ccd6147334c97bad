"""Tray / toast / missed-call rules, driven with the control API's event JSON."""

from __future__ import annotations

from typing import Any

from softphone.desktop.state import DesktopState, HideToast, NotifyMissed, ShowToast, TrayChanged, TrayState


def status(available: bool = True, logged_in: bool = True, calls: list[dict[str, Any]] | None = None,
           foreground: str | None = None) -> dict[str, Any]:
    return {"type": "status", "status": {
        "available": available, "logged_in": logged_in, "calls": calls or [], "foreground_call_id": foreground,
        "accounts": [{"name": "office", "registration": "REGISTERED" if logged_in else "FAILED"}]}}


def phone(foreground: str | None = None, logged_in: bool = True, available: bool = True) -> dict[str, Any]:
    return {"type": "phone", "foreground_call_id": foreground, "logged_in": logged_in, "available": available}


def call(call_id: str, state: str, direction: str = "inbound", **kw: Any) -> dict[str, Any]:
    return {"type": "call", "call": {"call_id": call_id, "state": state, "direction": direction,
                                     "remote": "+14155552671", **kw}}


def tray(effects: list[Any]) -> TrayState | None:
    return next((e.state for e in effects if isinstance(e, TrayChanged)), None)


def test_offline_until_the_engine_reports() -> None:
    st = DesktopState()
    assert st.tray_state() is TrayState.OFFLINE
    assert tray(st.apply(status())) is TrayState.READY
    assert tray(st.apply({"type": "engine", "connected": False})) is TrayState.OFFLINE
    assert "not running" in st.tooltip()


def test_incoming_call_shows_then_hides_the_toast() -> None:
    st = DesktopState()
    st.apply(status())
    eff = st.apply(call("a", "INCOMING", remote_name="Ada Lovelace"))
    assert any(isinstance(e, ShowToast) and e.call["call_id"] == "a" for e in eff)
    assert tray(eff) is TrayState.RINGING
    assert "Ada Lovelace" in st.tooltip()
    eff = st.apply(call("a", "ESTABLISHED", answered_at="2026-01-01T00:00:00+00:00"))
    assert HideToast("a") in eff
    assert tray(eff) is TrayState.IN_CALL
    eff = st.apply(call("a", "TERMINATED", end_status="COMPLETED"))
    assert tray(eff) is TrayState.READY
    assert not any(isinstance(e, NotifyMissed) for e in eff)


def test_missed_call_counts_until_seen() -> None:
    st = DesktopState()
    st.apply(status())
    st.apply(call("a", "INCOMING"))
    eff = st.apply(call("a", "TERMINATED", end_status="MISSED"))
    assert HideToast("a") in eff and any(isinstance(e, NotifyMissed) for e in eff)
    assert tray(eff) is TrayState.MISSED and st.missed == 1
    assert "1 missed call" in st.tooltip()
    assert tray(st.seen_missed()) is TrayState.READY


def test_outbound_calls_never_toast_and_dnd_shows() -> None:
    st = DesktopState()
    st.apply(status(available=False))
    assert st.tray_state() is TrayState.DND
    eff = st.apply(call("o", "OUTGOING", direction="outbound"))
    assert not any(isinstance(e, ShowToast) for e in eff)
    assert tray(eff) is TrayState.IN_CALL
    assert st.apply(phone("o", available=True)) == []      # DND off while in the call: the icon stays
    assert tray(st.apply(call("o", "TERMINATED", direction="outbound", end_status="COMPLETED"))) is TrayState.READY


def test_status_snapshot_reconciles_toasts_after_a_reconnect() -> None:
    st = DesktopState()
    st.apply(status(calls=[call("a", "INCOMING")["call"]]))
    assert st.incoming()
    eff = st.apply(status(calls=[]))
    assert HideToast("a") in eff and not st.calls


def test_registration_failure_goes_offline_when_the_engine_says_so() -> None:
    st = DesktopState()
    st.apply(status())
    eff = st.apply({"type": "registration", "account": "office", "state": "FAILED", "sip_code": 403})
    assert st.accounts[0]["registration"] == "FAILED" and st.accounts[0]["sip_code"] == 403
    assert tray(eff) is None and st.logged_in              # logged_in is the engine's to say, not ours
    eff = st.apply(phone(logged_in=False))
    assert tray(eff) is TrayState.OFFLINE
    assert st.tooltip() == "Softphone — no account can place calls"


def test_foreground_is_the_engines_choice() -> None:
    st = DesktopState()
    st.apply(status(calls=[call("a", "HELD")["call"], call("b", "ESTABLISHED", remote="+442079460958")["call"]],
                    foreground="b"))
    assert st.foreground() == st.calls["b"]
    assert "+442079460958" in st.tooltip()
    st.apply(call("c", "OUTGOING", direction="outbound", remote="+4930901820"))
    assert st.foreground_call_id == "b"                    # a new call moves nothing until the engine says so
    st.apply(phone("c"))
    assert st.foreground() == st.calls["c"] and "+4930901820" in st.tooltip()
    st.apply({"type": "engine", "connected": False})
    assert st.foreground() is None and st.foreground_call_id is None


def test_tray_effect_only_on_change() -> None:
    st = DesktopState()
    st.apply(status())
    assert st.apply({"type": "dtmf", "call_id": "x", "digit": "1"}) == []


def test_toast_detail_names_company_and_number() -> None:
    """The toast's line under the caller's name: the CRM contact's company, then the number."""
    from softphone.desktop.toast import _detail

    call = {"remote": "+14155550132", "remote_name": "Maya Chen", "remote_company": "Northwind Traders"}
    assert _detail(call, "Maya Chen") == "Northwind Traders · +14155550132"
    assert _detail({"remote": "+14155550132"}, "+14155550132") == ""
