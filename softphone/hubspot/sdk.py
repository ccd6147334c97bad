"""HubSpot Calling Extensions SDK: message shapes, payload mapping and the per-call ledger. Pure, stdlib only.

The contract is the SDK (``@hubspot/calling-extensions-sdk``, pinned in ``ui/package.json``) and its docs.
Direction of travel, as the SDK names it:

- host → widget (HubSpot calls our handlers): ``onReady``, ``onDialNumber``,
  ``onCreateEngagementSucceeded`` / ``Failed``, ``onCallerIdMatchSucceeded`` / ``Failed``,
  ``onVisibilityChanged``, ``onEndCall``, ``onSetCallState``, ``onNavigateToRecordFailed``,
  ``onUpdateEngagement*``, ``onFinalizeEngagement*``.
- widget → host (we call SDK methods): ``initialized``, ``userLoggedIn`` / ``Out``, ``userAvailable`` /
  ``Unavailable``, ``outgoingCall``, ``incomingCall``, ``callAnswered``, ``callEnded``, ``callCompleted``,
  ``sendError``, ``resizeWidget``, ``navigateToRecord``.

``CallLedger`` remembers, per call, which of the call's messages HubSpot has already been sent, so
that a widget reload, a second HubSpot tab or a duplicated ``onDialNumber`` never produces a second
engagement, and that every call whose engagement was started is eventually completed. It decides
*what* is owed; the widget server decides *to which* widget session it goes.

Everything arriving from HubSpot is untrusted JSON: ``parse_*`` functions validate it and raise
``SdkPayloadError`` with a message fit for the rep.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from softphone.core.events import CallEndStatus, CallSnapshot, CallState, Direction
from softphone.errors import SoftphoneError

__all__ = [
    "CALL_STATUS_BY_END_STATUS",
    "DEFAULT_OUTCOMES",
    "HOST_EVENTS",
    "WIDGET_METHODS",
    "CallLedger",
    "CallRecord",
    "CallerMatch",
    "DialDeduper",
    "DialRequest",
    "SdkMessage",
    "SdkPayloadError",
    "call_answered",
    "call_completed",
    "call_ended",
    "call_transferred",
    "describe",
    "engagement_properties",
    "epoch_ms",
    "from_number",
    "incoming_call",
    "initialized",
    "outgoing_call",
    "parse_call_outcomes",
    "parse_caller_id_matches",
    "parse_dial_number",
    "parse_engagement_id",
    "parse_outcome",
    "send_error",
    "suggested_outcome",
]


class SdkPayloadError(SoftphoneError):
    """HubSpot (or something pretending to be it) sent a payload we cannot act on."""

    code = "bad_sdk_payload"


# SDK methods the widget may call on behalf of the engine (anything else is refused on both ends).
WIDGET_METHODS = frozenset({
    "initialized", "userLoggedIn", "userLoggedOut", "userAvailable", "userUnavailable",
    "outgoingCall", "incomingCall", "callAnswered", "callEnded", "callCompleted", "callTransferred",
    "sendError", "resizeWidget", "navigateToRecord", "finalizeEngagement",
})

# Host events the widget forwards to the engine.
HOST_EVENTS = frozenset({
    "onReady", "onDialNumber", "onCreateEngagementSucceeded", "onCreateEngagementFailed",
    "onEngagementCreated",
    "onCallerIdMatchSucceeded", "onCallerIdMatchFailed", "onVisibilityChanged", "onEndCall", "onSetCallState",
    "onNavigateToRecordFailed", "onUpdateEngagementSucceeded", "onUpdateEngagementFailed",
    "onFinalizeEngagementSucceeded", "onFinalizeEngagementFailed",
})

# HubSpot's default call outcomes (hs_call_disposition). The GUIDs are the same in every HubSpot account.
DEFAULT_OUTCOMES: dict[str, str] = {
    "Connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "Busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "No answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "Left voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "Left live message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "Wrong number": "17b47fee-58de-441e-a44c-c6300d46f273",
}

# callEnded.callEndStatus (7 values) -> engagement hs_call_status (HubSpot has no REJECTED/MISSED status):
# a callee who declines is reported like a busy line; a missed or refused inbound call as not answered.
CALL_STATUS_BY_END_STATUS: dict[CallEndStatus, str] = {
    CallEndStatus.COMPLETED: "COMPLETED",
    CallEndStatus.FAILED: "FAILED",
    CallEndStatus.CANCELED: "CANCELED",
    CallEndStatus.BUSY: "BUSY",
    CallEndStatus.NO_ANSWER: "NO_ANSWER",
    CallEndStatus.REJECTED: "BUSY",
    CallEndStatus.MISSED: "NO_ANSWER",
}

_SUGGESTED: dict[CallEndStatus, str] = {
    CallEndStatus.COMPLETED: DEFAULT_OUTCOMES["Connected"],
    CallEndStatus.BUSY: DEFAULT_OUTCOMES["Busy"],
    CallEndStatus.REJECTED: DEFAULT_OUTCOMES["Busy"],
    CallEndStatus.NO_ANSWER: DEFAULT_OUTCOMES["No answer"],
    CallEndStatus.MISSED: DEFAULT_OUTCOMES["No answer"],
}

MAX_NOTES = 65536                      # HubSpot's limit for hs_call_body
MAX_ENGAGEMENT_ID = 2**63 - 1
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SdkMessage:
    """One SDK method call the widget must make: ``extensions[method](data)``."""

    method: str
    data: dict[str, Any]
    call_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": "sdk", "method": self.method, "data": self.data, "call_id": self.call_id}


# ---------------------------------------------------------------- small helpers


def epoch_ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def _text(value: object, field_name: str, *, limit: int = 256, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise SdkPayloadError(f"HubSpot sent no {field_name}.")
        return None
    if not isinstance(value, str):
        raise SdkPayloadError(f"HubSpot sent a {field_name} that is not text.")
    value = value.strip()
    if len(value) > limit:
        raise SdkPayloadError(f"HubSpot sent a {field_name} that is too long.")
    return value


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Reject what JSON cannot carry back to HubSpot (and absurd nesting); return a deep copy."""
    if depth > 8:
        raise SdkPayloadError("HubSpot sent a dialing context that is nested too deeply.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SdkPayloadError("HubSpot sent a dialing context with a non-text key.")
            out[k] = _json_safe(v, depth + 1)
        return out
    raise SdkPayloadError("HubSpot sent a dialing context that is not plain JSON.")


# ---------------------------------------------------------------- host -> widget payloads


@dataclass(frozen=True)
class DialRequest:
    """A validated ``onDialNumber`` payload.

    ``context`` is the whole payload, returned untouched as ``outgoingCall.dialingContext``. ``fingerprint``
    identifies this exact click (same payload twice = same click); ``target_key`` identifies the callee, for
    catching two different clicks on the same number a moment apart.
    """

    number: str
    country: str | None
    context: dict[str, Any]
    fingerprint: str
    target_key: str


def parse_dial_number(data: object) -> DialRequest:
    """Validate an ``onDialNumber`` payload. Raises ``SdkPayloadError`` (nothing is dialled)."""
    if not isinstance(data, Mapping):
        raise SdkPayloadError("HubSpot sent a dial request without any details.")
    context = _json_safe(dict(data))
    number = _text(context.get("phoneNumber"), "phone number")
    assert number is not None
    if _CONTROL.search(number):
        raise SdkPayloadError("HubSpot sent a phone number with control characters.")
    raw_country = context.get("countryCode")
    country: str | None = None
    if isinstance(raw_country, str) and _COUNTRY.match(raw_country.strip()):
        country = raw_country.strip().upper()
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    digits = re.sub(r"[^0-9A-Za-z+*#@:.]", "", number).lower()
    obj = context.get("objectId", context.get("subjectId"))
    target_key = f"{digits}|{obj if isinstance(obj, (int, str)) else ''}"
    return DialRequest(number=number, country=country, context=context, fingerprint=fingerprint,
                       target_key=target_key)


def parse_engagement_id(value: object) -> int:
    """An engagement id as HubSpot sends it (number, sometimes a numeric string)."""
    if isinstance(value, bool):
        raise SdkPayloadError("HubSpot sent an invalid engagement id.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_ENGAGEMENT_ID:
        raise SdkPayloadError("HubSpot sent an invalid engagement id.")
    return value


def parse_outcome(notes: object, disposition: object) -> tuple[str, str]:
    """Validate what the rep typed and picked in the post-call panel."""
    if notes is None:
        notes = ""
    if not isinstance(notes, str):
        raise SdkPayloadError("Notes must be text.")
    if len(notes) > MAX_NOTES:
        raise SdkPayloadError(f"Notes are too long (at most {MAX_NOTES} characters).")
    if disposition is None:
        disposition = ""
    if not isinstance(disposition, str) or (disposition and not _GUID.match(disposition)):
        raise SdkPayloadError("That call outcome is not one HubSpot knows.")
    return notes, disposition.lower()


def parse_call_outcomes(data: object) -> list[dict[str, str]]:
    """The account's call outcomes as HubSpot's CRM API lists them (``GET /calling/v1/dispositions``:
    ``[{"id": GUID, "label": text}, ...]``) → ``[{"label", "id"}]`` for the post-call panel. Malformed entries
    are skipped; an empty result means "use DEFAULT_OUTCOMES" (the six defaults exist in every account)."""
    items = data.get("results") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        return []
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in items[:50]:
        if not isinstance(item, Mapping):
            continue
        oid, label = item.get("id"), item.get("label")
        if not isinstance(oid, str) or not _GUID.match(oid) or not isinstance(label, str):
            continue
        label = _CONTROL.sub("", label).strip()[:80]
        if label and oid.lower() not in seen:
            seen.add(oid.lower())
            out.append({"label": label, "id": oid.lower()})
    return out


@dataclass(frozen=True)
class CallerMatch:
    """One ``onCallerIdMatchSucceeded`` match, reduced to what the widget shows and needs to navigate."""

    kind: str                         # CONTACT | COMPANY
    name: str
    object_coordinates: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "objectCoordinates": self.object_coordinates}


def _coordinates(value: object) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    out: dict[str, Any] = {}
    for key in ("portalId", "objectId"):
        v = value.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).isdigit():
            return None
        out[key] = int(v)
    type_id = value.get("objectTypeId")
    if not isinstance(type_id, str) or not re.fullmatch(r"[0-9]+-[0-9]+", type_id):
        return None
    out["objectTypeId"] = type_id
    return out


def parse_caller_id_matches(data: object) -> list[CallerMatch]:
    """``onCallerIdMatchSucceeded`` → the matches we can show. Malformed entries are skipped, not fatal."""
    if not isinstance(data, Mapping):
        return []
    raw = data.get("callerIdMatches")
    if not isinstance(raw, list):
        return []
    out: list[CallerMatch] = []
    for m in raw[:20]:
        if not isinstance(m, Mapping):
            continue
        coords = _coordinates(m.get("objectCoordinates"))
        if coords is None:
            continue
        kind = m.get("callerIdType")
        if kind == "CONTACT":
            parts = [m.get("firstName"), m.get("lastName")]
            name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
            if not name and isinstance(m.get("email"), str):
                name = str(m["email"]).strip()
        elif kind == "COMPANY":
            name = m["name"].strip() if isinstance(m.get("name"), str) else ""
        else:
            continue
        name = _CONTROL.sub("", name)[:120]
        if name:
            out.append(CallerMatch(kind=str(kind), name=name, object_coordinates=coords))
    return out


# ---------------------------------------------------------------- widget -> host payloads


def initialized(*, logged_in: bool, available: bool, engagement_id: int | None = None) -> SdkMessage:
    data: dict[str, Any] = {"isLoggedIn": logged_in, "isAvailable": available}
    if engagement_id is not None:
        data["engagementId"] = engagement_id
    return SdkMessage("initialized", data)


_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def from_number(caller_id_number: str | None, uri_user: str) -> str | None:
    """The rep's number as HubSpot logs it (``fromNumber``, ``hs_call_from_number``): the account's
    ``caller_id_number``, else the SIP URI's user only when it is an E.164 phone number (a login name such as
    "rep" or "1001" would be logged as the number the callee saw); None = leave the field out."""
    if caller_id_number:
        return caller_id_number
    user = re.sub(r"[\s\-.()]", "", uri_user or "")
    return user if _E164.match(user) else None


def outgoing_call(snap: CallSnapshot, *, from_number: str | None) -> SdkMessage:
    data: dict[str, Any] = {
        "createEngagement": True,
        "toNumber": snap.remote,
        "callStartTime": epoch_ms(snap.started_at),
        "externalCallId": snap.call_id,
    }
    if from_number:
        data["fromNumber"] = from_number
    if snap.dialing_context is not None:
        data["dialingContext"] = snap.dialing_context
    return SdkMessage("outgoingCall", data, snap.call_id)


def incoming_call(snap: CallSnapshot, *, to_number: str | None) -> SdkMessage:
    data: dict[str, Any] = {
        "createEngagement": True,
        "fromNumber": snap.remote,
        "callStartTime": epoch_ms(snap.started_at),
        "externalCallId": snap.call_id,
    }
    to = snap.local or to_number
    if to:
        data["toNumber"] = to
    return SdkMessage("incomingCall", data, snap.call_id)


def call_answered(snap: CallSnapshot) -> SdkMessage:
    return SdkMessage("callAnswered", {"externalCallId": snap.call_id}, snap.call_id)


def call_transferred(call_id: str) -> SdkMessage:
    """``callTransferred`` (SDK 0.9.6+): the SDK defines only ``externalCallId``."""
    return SdkMessage("callTransferred", {"externalCallId": call_id}, call_id)


def call_ended(snap: CallSnapshot, engagement_id: int | None) -> SdkMessage:
    status = snap.end_status or CallEndStatus.FAILED
    data: dict[str, Any] = {"externalCallId": snap.call_id, "callEndStatus": status.value}
    if engagement_id is not None:
        data["engagementId"] = engagement_id
    return SdkMessage("callEnded", data, snap.call_id)


def suggested_outcome(snap: CallSnapshot) -> str:
    """The outcome pre-selected in the post-call panel ('' = let the rep choose)."""
    return _SUGGESTED.get(snap.end_status, "") if snap.end_status is not None else ""


def _notes_html(notes: str) -> str:
    """hs_call_body is rich text: escape what the rep typed, keep their line breaks."""
    text = notes.strip()
    if not text:
        return ""
    return "<br>".join(html.escape(line) for line in text.splitlines())


def engagement_properties(snap: CallSnapshot, *, own_number: str | None, notes: str = "",
                          disposition: str = "") -> dict[str, str]:
    """``callCompleted.engagementProperties`` (HubSpot-owned engagements take string values)."""
    outbound = snap.direction is Direction.OUTBOUND
    duration_ms = round((snap.duration_s or 0.0) * 1000)
    props = {
        "hs_timestamp": str(epoch_ms(snap.started_at)),
        "hs_call_direction": "OUTBOUND" if outbound else "INBOUND",
        "hs_call_duration": str(duration_ms),
        "hs_call_from_number": (own_number or "") if outbound else snap.remote,
        "hs_call_to_number": snap.remote if outbound else (snap.local or own_number or ""),
        "hs_call_status": CALL_STATUS_BY_END_STATUS.get(snap.end_status or CallEndStatus.FAILED, "FAILED"),
    }
    for key in ("hs_call_from_number", "hs_call_to_number"):
        if not props[key]:
            del props[key]             # no phone number known: leave it out rather than log a login name
    props.update(outcome_properties(notes, disposition))
    return props


def outcome_properties(notes: str, disposition: str) -> dict[str, str]:
    """The engagement properties the rep's post-call panel sets (nothing for what they left empty)."""
    props: dict[str, str] = {}
    body = _notes_html(notes)
    if body:
        props["hs_call_body"] = body
    if disposition:
        props["hs_call_disposition"] = disposition
    return props


def call_completed(snap: CallSnapshot, engagement_id: int | None, *, own_number: str | None, hide_widget: bool,
                   notes: str = "", disposition: str = "") -> SdkMessage:
    data: dict[str, Any] = {
        "externalCallId": snap.call_id,
        "hideWidget": hide_widget,
        "engagementProperties": engagement_properties(snap, own_number=own_number, notes=notes,
                                                      disposition=disposition),
    }
    if engagement_id is not None:
        data["engagementId"] = engagement_id
    return SdkMessage("callCompleted", data, snap.call_id)


def send_error(message: str) -> SdkMessage:
    return SdkMessage("sendError", {"message": message[:500]})


# ---------------------------------------------------------------- dedupe of onDialNumber


@dataclass
class DialDeduper:
    """Recognises a repeated ``onDialNumber`` for one click.

    Same payload within ``same_click_s`` (HubSpot re-delivering, a double-fired handler), or the same
    callee within ``same_target_s`` while that call is still in progress (a double click whose second event
    has a new timestamp) → the call already placed. A deliberate redial after the call ended is not a
    duplicate. ``now`` is passed in (seconds, monotonic); nothing here reads a clock.
    """

    same_click_s: float = 60.0
    same_target_s: float = 3.0
    _by_print: dict[str, tuple[float, str]] = field(default_factory=dict)
    _by_target: dict[str, tuple[float, str]] = field(default_factory=dict)

    def duplicate_of(self, req: DialRequest, now: float,
                     in_progress: Callable[[str], bool] = lambda call_id: True) -> str | None:
        """The call this request duplicates ("" = the first request is still being placed), or None."""
        self._expire(now)
        hit = self._by_print.get(req.fingerprint)
        if hit is not None:
            return hit[1]
        hit = self._by_target.get(req.target_key)
        if hit is not None and now - hit[0] <= self.same_target_s and (not hit[1] or in_progress(hit[1])):
            return hit[1]
        return None

    def remember(self, req: DialRequest, call_id: str, now: float) -> None:
        self._by_print[req.fingerprint] = (now, call_id)
        self._by_target[req.target_key] = (now, call_id)

    def forget(self, req: DialRequest) -> None:
        """The dial failed before a call existed: a retry of the same click must be allowed."""
        self._by_print.pop(req.fingerprint, None)
        self._by_target.pop(req.target_key, None)

    def _expire(self, now: float) -> None:
        for table, ttl in ((self._by_print, self.same_click_s), (self._by_target, self.same_target_s)):
            for key in [k for k, (t, _) in table.items() if now - t > ttl]:
                del table[key]


# ---------------------------------------------------------------- the ledger


@dataclass
class CallRecord:
    """What HubSpot has been told about one call. Flags only ever go from False to True."""

    snapshot: CallSnapshot
    owner: str | None = None           # widget session that speaks for this call to HubSpot
    started: bool = False              # outgoingCall / incomingCall sent
    answered: bool = False             # callAnswered sent
    ended: bool = False                # callEnded sent
    completed: bool = False            # callCompleted sent
    engagement_id: int | None = None
    engagement_failed: bool = False
    refused: bool = False              # refused on arrival (do-not-disturb): HubSpot is never told of it
    transferred: bool = False          # callTransferred sent
    caller: list[CallerMatch] = field(default_factory=list)

    @property
    def call_id(self) -> str:
        return self.snapshot.call_id

    @property
    def live(self) -> bool:
        return self.snapshot.state is not CallState.TERMINATED

    @property
    def awaiting_completion(self) -> bool:
        return self.started and self.ended and not self.completed

    @property
    def needs_rep(self) -> bool:
        """Does completing this call want the rep's notes (post-call panel)? Missed/refused inbound: no."""
        s = self.snapshot
        return not (s.direction is Direction.INBOUND and s.answered_at is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner, "started": self.started, "answered": self.answered, "ended": self.ended,
            "completed": self.completed, "engagement_id": self.engagement_id,
            "engagement_failed": self.engagement_failed, "caller": [m.to_json() for m in self.caller],
        }


class CallLedger:
    """Per-call SDK bookkeeping: which messages are owed to HubSpot, each sent exactly once.

    ``observe`` every ``CallSnapshot``; ``owed(call_id)`` returns the messages not yet sent (and marks
    them sent: call it only when a widget session will deliver them); ``complete`` builds the one
    ``callCompleted``.
    A call HubSpot never heard of before it ended is dropped: no engagement was started, none is owed.
    """

    def __init__(self, *, own_number: Callable[[CallSnapshot], str | None], hide_widget: bool = False,
                 keep: int = 100) -> None:
        self._own_number = own_number           # the account's own number/identity, as HubSpot shows it
        self.hide_widget = hide_widget
        self._keep = keep
        self._records: dict[str, CallRecord] = {}

    # -------------------------------------------------------- queries

    def get(self, call_id: str) -> CallRecord | None:
        return self._records.get(call_id)

    def restore(self, snap: CallSnapshot) -> CallRecord | None:
        """A call HubSpot was told about and that ended with its post-call panel open before the engine
        restarted (from history): owed only its ``callCompleted``. None if the ledger already knows it."""
        if snap.call_id in self._records:
            return None
        rec = CallRecord(snap, started=True, answered=snap.answered_at is not None, ended=True,
                         engagement_id=snap.engagement_id)
        self._records[snap.call_id] = rec
        return rec

    def records(self) -> list[CallRecord]:
        return list(self._records.values())

    def live(self) -> list[CallRecord]:
        return [r for r in self._records.values() if r.live]

    def awaiting_completion(self, owner: str | None = None) -> list[CallRecord]:
        return [r for r in self._records.values()
                if r.awaiting_completion and (owner is None or r.owner == owner)]

    def by_engagement(self, engagement_id: int) -> CallRecord | None:
        return next((r for r in self._records.values() if r.engagement_id == engagement_id), None)

    # -------------------------------------------------------- updates

    def observe(self, snap: CallSnapshot) -> CallRecord | None:
        rec = self._records.get(snap.call_id)
        if rec is None:
            if snap.state is CallState.TERMINATED:
                return None
            rec = CallRecord(snapshot=snap)
            self._records[snap.call_id] = rec
            self._trim()
            return rec
        rec.snapshot = snap
        if snap.engagement_id is not None and rec.engagement_id is None:
            rec.engagement_id = snap.engagement_id
        if not rec.live and not rec.started:
            # it ended before any widget could announce it: nothing to complete
            del self._records[snap.call_id]
            return None
        return rec

    def set_owner(self, call_id: str, owner: str | None) -> None:
        rec = self._records.get(call_id)
        if rec is not None:
            rec.owner = owner

    def owed(self, call_id: str) -> list[SdkMessage]:
        """Messages HubSpot has not been sent yet for this call, in order; marks them sent."""
        rec = self._records.get(call_id)
        if rec is None:
            return []
        snap = rec.snapshot
        out: list[SdkMessage] = []
        if not rec.started:
            if not rec.live or rec.refused:
                return []
            own = self._own_number(snap)
            out.append(outgoing_call(snap, from_number=own) if snap.direction is Direction.OUTBOUND
                       else incoming_call(snap, to_number=own))
            rec.started = True
        if snap.answered_at is not None and not rec.answered:
            out.append(call_answered(snap))
            rec.answered = True
        if not rec.live and not rec.ended:
            out.append(call_ended(snap, rec.engagement_id))
            rec.ended = True
        return out

    def transferred(self, call_id: str) -> SdkMessage | None:
        """The rep transferred the call: one ``callTransferred``, only for a call HubSpot was told of and
        before its ``callEnded``."""
        rec = self._records.get(call_id)
        if rec is None or not rec.started or rec.ended or rec.transferred:
            return None
        rec.transferred = True
        return call_transferred(call_id)

    def engagement_created(self, owner: str | None, engagement_id: int,
                           external_call_id: str | None = None) -> CallRecord | None:
        """``onCreateEngagementSucceeded``: attach the id to the call it belongs to (by externalCallId, else
        the oldest call of that session still waiting for one)."""
        rec = self._records.get(external_call_id) if external_call_id else None
        if rec is None:
            waiting = [r for r in self._records.values()
                       if r.started and r.engagement_id is None and (owner is None or r.owner == owner)]
            rec = waiting[0] if waiting else None
        if rec is None:
            return None
        if rec.engagement_id is None:
            rec.engagement_id = engagement_id
        return rec

    def engagement_failed(self, owner: str | None, external_call_id: str | None = None) -> CallRecord | None:
        rec = self._records.get(external_call_id) if external_call_id else None
        if rec is None:
            waiting = [r for r in self._records.values()
                       if r.started and r.engagement_id is None and not r.engagement_failed
                       and (owner is None or r.owner == owner)]
            rec = waiting[0] if waiting else None
        if rec is not None:
            rec.engagement_failed = True
        return rec

    def complete(self, call_id: str, *, notes: str = "", disposition: str = "") -> SdkMessage | None:
        """The single ``callCompleted`` of a call (None if HubSpot never heard of it or it was sent)."""
        rec = self._records.get(call_id)
        if rec is None or not rec.awaiting_completion:
            return None
        rec.completed = True
        snap = rec.snapshot
        msg = call_completed(snap, rec.engagement_id, own_number=self._own_number(snap),
                             hide_widget=self.hide_widget, notes=notes, disposition=disposition)
        self._forget_done()
        return msg

    def mark_completed(self, call_id: str) -> bool:
        """The widget already sent ``callCompleted`` itself (page being closed)."""
        rec = self._records.get(call_id)
        if rec is None or not rec.awaiting_completion:
            return False
        rec.completed = True
        self._forget_done()
        return True

    def _forget_done(self) -> None:
        done = [k for k, r in self._records.items() if r.completed and not r.live]
        # keep a few finished calls so late engagement ids and duplicate requests still resolve
        for k in done[:-10]:
            del self._records[k]

    def _trim(self) -> None:
        if len(self._records) <= self._keep:
            return
        for k in [k for k, r in self._records.items() if not r.live and not r.awaiting_completion]:
            del self._records[k]
            if len(self._records) <= self._keep:
                break


def describe(matches: Iterable[CallerMatch]) -> str:
    """The name to show for a caller: the first match, '+N more' when several records share the number."""
    ms = list(matches)
    if not ms:
        return ""
    return ms[0].name + (f" (+{len(ms) - 1} more)" if len(ms) > 1 else "")
