"""Bus events of the HubSpot CRM service (``softphone.hubspot.logging_service``).

Frozen like the core events: every surface sees the same value. ``CallerIdentified`` arrives some time after the
call's first ``CallUpdated`` (the ring never waits for it); surfaces show ``name``/``company`` when it comes and
link ``record_url`` (the contact in HubSpot). A lookup that finds nobody, or fails, publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CallerIdentified:
    """The HubSpot contact behind a call's remote number."""

    call_id: str
    number: str                 # the remote number as looked up (E.164)
    name: str                   # "First Last", or the e-mail address when the contact has no name
    company: str                # the contact's company ('' when none)
    contact_id: int
    record_url: str             # the contact record in HubSpot ('' while the portal is unknown)

    def to_json(self) -> dict[str, Any]:
        """The event's JSON for the control API / window stream (``type`` = ``caller``)."""
        return {"type": "caller", "call_id": self.call_id, "number": self.number, "name": self.name,
                "company": self.company, "contact_id": self.contact_id, "record_url": self.record_url}


@dataclass(frozen=True)
class CallOutcomesKnown:
    """The account's own call outcomes, read from the CRM (validated ``[{"label", "id"}]``): the widget's
    post-call panel offers these instead of HubSpot's six defaults."""

    outcomes: tuple[tuple[str, str], ...]        # (label, id)


@dataclass(frozen=True)
class CallLogged:
    """A call the widget did not own was written to HubSpot through the CRM API (created or updated)."""

    call_id: str
    engagement_id: int
    created: bool               # False: an update (notes/outcome) of the same engagement

    def to_json(self) -> dict[str, Any]:
        return {"type": "call_logged", "call_id": self.call_id, "engagement_id": self.engagement_id,
                "created": self.created}


@dataclass(frozen=True)
class CompletionUnconfirmed:
    """A closing widget page sent ``callCompleted`` (the rep's notes and outcome) straight to HubSpot, and nobody
    can confirm it arrived: when the whole HubSpot tab reloads, Chromium runs the old frame's ``pagehide`` after
    the new page has loaded, and that page may drop the message. The CRM service (when connected) writes the same
    notes and outcome to the engagement through the API; the update is idempotent, so a delivered message costs
    nothing more."""

    call_id: str
    engagement_id: int
    notes: str
    disposition: str
