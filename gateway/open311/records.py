"""A ticket as a public Open311 service request: what the world may see, and nothing that identifies the reporter.

Never published: the reporter's email, phone or name, anywhere (the description is scrubbed of email addresses,
phone numbers and the reporter's name), nor attachments. The location (also where the description repeats the
ticket's address) is published as the street without the house number and a point rounded to about 100 m, unless
`[open311] public_location = "exact"`: the address of a report is often the reporter's home.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from gateway.open311.services import ServiceCatalog
from gateway.settings import Open311Settings
from storage.models import Ticket, TicketStatus

STREET_PRECISION = 3  # decimal places of lat/long published in "street" mode (about 110 m of latitude)
MAX_DESCRIPTION = 4000  # the schema's maxLength
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CLOSED_NOTES = {
    TicketStatus.RESOLVED: "Resolved.",
    TicketStatus.DUPLICATE: "Duplicate request.",
    TicketStatus.REJECTED: "Not accepted.",
}


def w3c_datetime(value: datetime | None) -> str | None:
    """`2026-04-14T06:37:38+00:00`; the database may hand back naive UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def open311_status(status: str) -> str:
    return "open" if status in TicketStatus.OPEN_STATES else "closed"


def scrub_personal_data(text: str, *, names: tuple[str, ...] = (), region: str = "US") -> str:
    """Remove email addresses, phone numbers and the given names (whole words) from free text."""
    text = _EMAIL.sub("[email removed]", text)
    spans = [
        (m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    ]
    for start, end in reversed(spans):
        text = text[:start] + "[phone removed]" + text[end:]
    for name in sorted({n for n in names if len(n) >= 2}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[name removed]", text, flags=re.IGNORECASE)
    return text


def name_parts(name: str | None) -> tuple[str, ...]:
    """The full name and each of its words of three letters or more ("Jane Q Resident" -> Jane, Resident)."""
    if not name:
        return ()
    words = [w.strip(".,") for w in name.split()]
    return (name.strip(), *(w for w in words if len(w) >= 3))


def street_only(address: str | None) -> str | None:
    """The street without the house number: enough to recognise, not enough to find a door."""
    if not address:
        return None
    words = address.split()
    if words and words[0][:1].isdigit():  # "12", "12A", "12-14"
        words = words[1:]
    return " ".join(words).lstrip(", ") or None


def hide_house_number(text: str, address: str | None) -> str:
    """ "pothole outside 12 Elm St" -> "pothole outside Elm St", for the ticket's own address."""
    first = (address or "").split(",")[0].strip()
    street = street_only(first)
    if not street or street == first:
        return text
    return re.sub(rf"(?<!\w){re.escape(first)}(?!\w)", street, text, flags=re.IGNORECASE)


def _point(value: float | None, exact: bool) -> float | None:
    if value is None:
        return None
    return value if exact else round(value, STREET_PRECISION)


def request_record(
    ticket: Ticket,
    *,
    catalog: ServiceCatalog,
    settings: Open311Settings,
    note: str | None = None,
    reporter_name: str | None = None,
    region: str = "US",
) -> dict[str, Any]:
    """The spec's service request fields, in the spec's order."""
    code, name = catalog.code_and_name(ticket.category)
    exact = settings.public_location == "exact"
    description = None
    if settings.publish_description and ticket.description.strip():
        text = ticket.description.strip()[:MAX_DESCRIPTION]
        description = scrub_personal_data(text, names=name_parts(reporter_name), region=region)
        description = (description if exact else hide_house_number(description, ticket.address))[:MAX_DESCRIPTION]
    closed = ticket.status not in TicketStatus.OPEN_STATES
    return {
        "service_request_id": ticket.tracking_number,
        "status": open311_status(ticket.status),
        "status_notes": note or (_CLOSED_NOTES.get(ticket.status) if closed else None),
        "service_name": name,
        "service_code": code,
        "description": description,
        "agency_responsible": ticket.department,
        "service_notice": settings.service_notice or None,
        "requested_datetime": w3c_datetime(ticket.created_at),
        "updated_datetime": w3c_datetime(ticket.closed_at if closed and ticket.closed_at else ticket.updated_at),
        "expected_datetime": None,
        "address": ticket.address if exact else street_only(ticket.address),
        "address_id": None,
        "zipcode": None,
        "lat": _point(ticket.lat, exact),
        "long": _point(ticket.lon, exact),
        "media_url": None,
    }
