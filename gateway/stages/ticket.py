"""Stage `ticket`: make a new ticket, or add the message to the ticket it continues, and log what happened."""

from __future__ import annotations

from gateway.pipeline import Stage, StageContext, WorkItem
from parsers.types import ParsedMessage
from storage.models import Contact, TicketStatus
from storage.tickets import add_event, add_message, create_ticket, get_or_create_contact, get_ticket, touch_ticket

SUMMARY_CHARS = 120


def summarise(parsed: ParsedMessage) -> str:
    """The subject, or the first line of the new words when the subject says nothing."""
    subject = " ".join(parsed.subject.split())
    if len(subject) >= 4 and subject.lower() not in {"re:", "fw:", "fwd:", "(no subject)"}:
        return subject[:SUMMARY_CHARS]
    first = next((line.strip() for line in (parsed.body_new or parsed.body_text).splitlines() if line.strip()), "")
    return first[:SUMMARY_CHARS] or "(no text)"


async def _contact(item: WorkItem, ctx: StageContext) -> Contact | None:
    parsed = item.parsed
    if parsed is None or not parsed.sender:
        return None
    kind = "phone" if parsed.sender.startswith("+") else "email"
    return await get_or_create_contact(session=ctx.db(), kind=kind, address=parsed.sender, name=parsed.sender_name)


async def run(item: WorkItem, ctx: StageContext) -> None:
    parsed = item.parsed
    if parsed is None:
        return
    session = ctx.db()
    contact = await _contact(item, ctx)
    item.contact_id = contact.id if contact else None

    if item.thread is not None:
        ticket = await get_ticket(session=session, ticket_id=item.thread.ticket_id)
        assert ticket is not None
        item.ticket_id = ticket.id
        flagged = item.thread.flagged or (contact is not None and ticket.reporter_id not in (None, contact.id))
        message = await add_message(
            session=session,
            ticket_id=ticket.id,
            direction="in",
            channel=str(parsed.channel),
            contact_id=item.contact_id,
            external_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            subject=parsed.subject,
            body=parsed.body_new,
            body_full=parsed.body_text,
            body_html=parsed.body_html,
            kind="auto-reply" if parsed.auto_submitted else "message",
            flagged=flagged,
            raw_id=item.raw_id,
        )
        item.message_row_id = message.id
        await touch_ticket(session=session, ticket_id=ticket.id)
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor="resident",
            action="follow-up",
            data={"rule": item.thread.rule, "message_id": message.id, "flagged": flagged},
        )
        return

    c = item.classification
    loc = item.location
    ticket = await create_ticket(
        session=session,
        prefix=ctx.settings.tracking.prefix,
        status=TicketStatus.NEW,
        channel=str(parsed.channel),
        summary=summarise(parsed),
        description=parsed.body_new or parsed.body_text,
        category=c.category if c else None,
        category_confidence=c.confidence if c else None,
        category_decided_by=c.decided_by if c else None,
        department=c.department if c else None,
        priority=c.priority if c else "normal",
        address=loc.text if loc else None,
        lat=loc.point.lat if loc and loc.point else None,
        lon=loc.point.lon if loc and loc.point else None,
        location_source=loc.kind if loc else None,
        location_confidence=loc.confidence if loc else None,
        reporter_id=item.contact_id,
        language=parsed.language,
    )
    item.ticket_id = ticket.id
    item.ticket_created = True
    message = await add_message(
        session=session,
        ticket_id=ticket.id,
        direction="in",
        channel=str(parsed.channel),
        contact_id=item.contact_id,
        external_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        subject=parsed.subject,
        body=parsed.body_new,
        body_full=parsed.body_text,
        body_html=parsed.body_html,
        raw_id=item.raw_id,
    )
    item.message_row_id = message.id
    await add_event(
        session=session,
        ticket_id=ticket.id,
        actor="system",
        action="created",
        data={"raw_id": item.raw_id, "channel": str(parsed.channel)},
        public=True,
    )
    if c is not None:
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor=f"classifier:{c.decided_by}",
            action="categorised",
            data={"category": c.category, "confidence": c.confidence, "rule_hits": list(c.rule_hits)},
        )


STAGE = Stage(name="ticket", run=run, transactional=True)
