"""Stage `ticket`: make a new ticket, or add the message to the ticket it continues, and log what happened.

Follow-up rules (issue: follow-ups land on the same ticket):
- from someone other than the reporter: added, flagged for staff, never re-opens a closed ticket by itself;
- from the reporter on a closed ticket: re-opens it within `[tickets] reopen_window_days`, else starts a new
  ticket linked to the old one;
- auto-replies (out-of-office ...) are recorded as such and change nothing; bounces mark the outbox row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from gateway.pipeline import Stage, StageContext, WorkItem
from parsers.location import place_columns
from parsers.types import ParsedMessage
from storage.attachments import store_attachment
from storage.models import Contact, Ticket, TicketStatus, utcnow
from storage.outbox import get_outbox
from storage.replies import mark_bounced
from storage.tickets import add_event, add_message_row, create_ticket, get_or_create_contact, get_ticket, touch_ticket

SUMMARY_CHARS = 120
CLOSED_STATES = (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.REJECTED)
# Run after a resident's follow-up is added to its ticket (e.g. an answer to the question the acknowledgement asked).
FollowUpHook = Callable[[WorkItem, StageContext, Ticket], Awaitable[None]]
ON_FOLLOW_UP: list[FollowUpHook] = []
# Run just before a new ticket is written, with the column values it will have, which they may add to (its point,
# its link to the open ticket it duplicates): the row is written once, in its final state.
NewTicketHook = Callable[[WorkItem, StageContext, dict[str, Any]], Awaitable[None]]
BEFORE_CREATE: list[NewTicketHook] = []


def summarise(parsed: ParsedMessage) -> str:
    """The subject, or the first line of the new words when the subject says nothing."""
    subject = " ".join(parsed.subject.split())
    if len(subject) >= 4 and subject.lower() not in {"re:", "fw:", "fwd:", "(no subject)"}:
        return subject[:SUMMARY_CHARS]
    first = next((line.strip() for line in (parsed.body_new or parsed.body_text).splitlines() if line.strip()), "")
    return first[:SUMMARY_CHARS] or "(no text)"


async def _contact(item: WorkItem, ctx: StageContext) -> Contact | None:
    parsed = item.parsed
    if parsed is None or not parsed.sender or parsed.bounce is not None:
        return None
    kind = "phone" if parsed.sender.startswith("+") else "email"
    contact = await get_or_create_contact(
        session=ctx.db(), kind=kind, address=parsed.sender, name=parsed.sender_name, language=parsed.language
    )
    if contact.bounced and not parsed.auto_submitted:
        contact.bounced = False  # they wrote again: their address works
        contact.bounce_reason = None
    return contact


async def _record_message(item: WorkItem, ctx: StageContext, ticket: Ticket, *, kind: str, flagged: bool) -> None:
    parsed = item.parsed
    assert parsed is not None and ticket.id is not None
    session = ctx.db()
    message_row_id = await add_message_row(
        session=session,
        ticket_id=ticket.id,
        direction="in",
        channel=str(parsed.channel),
        contact_id=item.contact_id,
        external_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        subject=parsed.subject[:1000],
        body=parsed.body_new,
        body_full=parsed.body_text,
        body_html=parsed.body_html,
        kind=kind,
        flagged=flagged,
        raw_id=item.raw_id,
    )
    item.message_row_id = message_row_id
    for part in parsed.attachments:
        await store_attachment(
            session=session,
            message_id=message_row_id,
            filename=part.filename,
            content_type=part.content_type,
            data=part.data,
            lat=part.gps.lat if part.gps else None,
            lon=part.gps.lon if part.gps else None,
        )


async def run(item: WorkItem, ctx: StageContext) -> None:
    parsed = item.parsed
    if parsed is None:
        return
    contact = await _contact(item, ctx)
    item.contact_id = contact.id if contact else None
    if item.thread is not None:
        ticket = await get_ticket(session=ctx.db(), ticket_id=item.thread.ticket_id)
        assert ticket is not None
        if await _add_to_ticket(item, ctx, ticket):
            return
        await _create(item, ctx, linked_from=ticket)
        return
    await _create(item, ctx, linked_from=None)


async def _add_to_ticket(item: WorkItem, ctx: StageContext, ticket: Ticket) -> bool:
    """Add a follow-up to `ticket`; False when it should start a new ticket instead (closed too long ago)."""
    parsed = item.parsed
    assert parsed is not None and item.thread is not None and ticket.id is not None
    session = ctx.db()
    rule = item.thread.rule
    if parsed.bounce is not None:
        await _record_message(item, ctx, ticket, kind="bounce", flagged=False)
        outbox = await get_outbox(session=session, outbox_id=item.bounced_outbox_id or 0)
        if outbox is not None:
            await mark_bounced(session=session, outbox=outbox, reason=parsed.bounce.reason, hard=parsed.bounce.hard)
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor="system",
            action="bounce",
            data={
                "outbox_id": item.bounced_outbox_id,
                "hard": parsed.bounce.hard,
                "reason": parsed.bounce.reason[:300],
            },
        )
        return True
    if parsed.auto_submitted:
        await _record_message(item, ctx, ticket, kind="auto-reply", flagged=False)
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor="system",
            action="auto-reply",
            data={"reason": parsed.auto_submitted, "rule": rule},
        )
        return True

    from_reporter = item.contact_id is not None and item.contact_id == ticket.reporter_id
    flagged = item.thread.flagged or not from_reporter
    item.thread = replace(item.thread, flagged=flagged)
    if ticket.status in CLOSED_STATES and not flagged:
        closed_at = ticket.closed_at or ticket.updated_at
        if utcnow() - closed_at > timedelta(days=ctx.settings.tickets.reopen_window_days):
            return False
    item.ticket_id = ticket.id
    await _record_message(item, ctx, ticket, kind="message", flagged=flagged)
    reopen = ticket.status in CLOSED_STATES and not flagged
    await touch_ticket(
        session=session,
        ticket_id=ticket.id,
        **({"status": TicketStatus.ACKNOWLEDGED, "closed_at": None} if reopen else {}),
    )
    item.followup_reopened = reopen
    await add_event(
        session=session,
        ticket_id=ticket.id,
        actor="resident",
        action="follow-up",
        data={"rule": rule, "message_id": item.message_row_id, "flagged": flagged},
    )
    if reopen:
        await add_event(session=session, ticket_id=ticket.id, actor="resident", action="reopened", public=True)
    for hook in ON_FOLLOW_UP:
        await hook(item, ctx, ticket)
    return True


async def _create(item: WorkItem, ctx: StageContext, *, linked_from: Ticket | None) -> None:
    parsed = item.parsed
    assert parsed is not None
    session = ctx.db()
    c = item.classification
    now = utcnow()
    values: dict[str, Any] = {
        "status": TicketStatus.NEW,
        "channel": str(parsed.channel),
        "summary": summarise(parsed),
        "description": parsed.body_new or parsed.body_text,
        "category": c.category if c else None,
        "category_confidence": c.confidence if c else None,
        "category_decided_by": c.decided_by if c else None,
        "department": c.department if c else None,
        "priority": c.priority if c else "normal",
        **place_columns(item.location),
        "reporter_id": item.contact_id,
        "language": parsed.language,
        "linked_from_id": linked_from.id if linked_from else None,
        "created_at": now,
    }
    for hook in BEFORE_CREATE:
        await hook(item, ctx, values)
    ticket = await create_ticket(session=session, prefix=ctx.settings.tracking.prefix, now=now, **values)
    item.thread = None
    item.ticket_id = ticket.id
    item.ticket_created = True
    await _record_message(item, ctx, ticket, kind="message", flagged=False)
    await add_event(
        session=session,
        ticket_id=ticket.id,
        actor="system",
        action="created",
        data={
            "raw_id": item.raw_id,
            "channel": str(parsed.channel),
            **({"linked_from": linked_from.tracking_number} if linked_from else {}),
        },
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
