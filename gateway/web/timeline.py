"""The public timeline of a report: public events put in words a resident understands, with staff's public notes.

Only what an event's `data` says about the report itself is shown, never who did it or who reported it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.models import Event

STATUS_WORDS = {
    "new": "Received",
    "acknowledged": "Reviewed by staff",
    "in_progress": "Work in progress",
    "resolved": "Resolved",
    "closed": "Closed",
    "duplicate": "Merged with another report",
    "rejected": "Not accepted",
}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    what: str
    note: str | None


def describe(event: Event) -> str:
    data = event.data or {}
    if event.action == "created":
        if data.get("split_from"):
            return "Received (separated from another report)"
        return "Received"
    if event.action == "acknowledged":
        return "Acknowledged: a tracking number was sent"
    if event.action == "status-changed":
        words = STATUS_WORDS.get(str(data.get("to")), str(data.get("to", "")).replace("_", " "))
        if data.get("to") == "duplicate" and data.get("surviving_number"):
            return f"{words}: {data['surviving_number']}"
        return words
    if event.action == "merged":
        return "Another report of the same problem was merged into this one"
    if event.action == "reopened":
        return "Reopened after a new message"
    return event.action.replace("-", " ").capitalize()


def public_timeline(events: list[Event]) -> list[TimelineEntry]:
    return [TimelineEntry(at=e.created_at, what=describe(e), note=(e.data or {}).get("public_note")) for e in events]
