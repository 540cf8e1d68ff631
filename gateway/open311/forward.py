"""Forwarding to an upstream Open311 system: when a ticket is created, queue a `forward` row in the outbox.

Only categories named in `[open311.upstream] service_map` (or all, with a "*" entry) are forwarded, and only with a
location, which Open311 requires. The row holds the request's fields; the api_key and jurisdiction are added when it
is sent, so no credential is stored in the database. Reporter details go only with `include_contact = true`.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.open311.records import name_parts, scrub_personal_data
from gateway.pipeline import StageContext, WorkItem
from gateway.settings import Open311UpstreamSettings
from storage.models import Contact, Ticket
from storage.outbox import enqueue_outbox
from storage.tickets import add_event, get_contact

log = logging.getLogger(__name__)

FORWARD_KIND = "forward"


def upstream_service_code(settings: Open311UpstreamSettings, category: str | None) -> str | None:
    mapping = settings.service_map
    return mapping.get(category or "") or mapping.get("*")


def forward_fields(
    ticket: Ticket, *, service_code: str, contact: Contact | None, include_contact: bool, region: str
) -> dict[str, str]:
    """The form fields of the upstream POST, from the ticket (the resident's words, the located place)."""
    fields: dict[str, str] = {"service_code": service_code}
    if ticket.lat is not None and ticket.lon is not None:
        fields["lat"], fields["long"] = f"{ticket.lat:.7f}", f"{ticket.lon:.7f}"
    if ticket.address:
        fields["address_string"] = ticket.address
    description = (ticket.description or ticket.summary).strip()
    if not include_contact:
        names = name_parts(contact.name if contact else None)
        description = scrub_personal_data(description, names=names, region=region)
    fields["description"] = f"{description}\n\n[{ticket.tracking_number}]"[:4000]
    if include_contact and contact is not None:
        fields["email" if contact.kind == "email" else "phone"] = contact.address
        first, _, last = (contact.name or "").partition(" ")
        if first:
            fields["first_name"] = first
        if last:
            fields["last_name"] = last
    return fields


async def enqueue_forward(item: WorkItem, ctx: StageContext, ticket: Ticket) -> None:
    """Notify-stage hook for every new ticket: queue its POST to the upstream, if this city forwards it."""
    upstream = ctx.settings.open311.upstream
    if not upstream.url or ticket.id is None:
        return
    code = upstream_service_code(upstream, ticket.category)
    if code is None:
        return
    session = ctx.db()
    if ticket.lat is None and not ticket.address:
        await add_event(session=session, ticket_id=ticket.id, actor="system", action="forward-skipped",
                        data={"reason": "no-location", "upstream": upstream.url})  # fmt: skip
        return
    contact = await get_contact(session=session, contact_id=item.contact_id) if item.contact_id else None
    fields = forward_fields(ticket, service_code=code, contact=contact, include_contact=upstream.include_contact,
                            region=ctx.settings.twilio.default_region)  # fmt: skip
    payload: dict[str, Any] = {"fields": fields, "tracking_number": ticket.tracking_number}
    row = await enqueue_outbox(session=session, ticket_id=ticket.id, channel="open311", kind=FORWARD_KIND,
                               recipient=upstream.url[:500], payload=payload)  # fmt: skip
    await add_event(session=session, ticket_id=ticket.id, actor="system", action="forward-queued",
                    data={"outbox_id": row.id, "upstream": upstream.url, "service_code": code})  # fmt: skip
