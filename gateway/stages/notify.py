"""Stage `notify`: queue the resident's acknowledgement in the outbox, in the ticket's own transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gateway.outbox.compose import compose_email_reply
from gateway.pipeline import Stage, StageContext, WorkItem
from parsers.types import Channel
from rules.suppress import reply_suppressed
from storage.models import Ticket, TicketStatus
from storage.outbox import enqueue_outbox
from storage.tickets import add_event, get_contact, get_ticket, touch_ticket

log = logging.getLogger(__name__)

# How each channel acknowledges a new ticket: (item, ctx, ticket) -> queues outbox rows. Email is built in; other
# channels (SMS, web, Open311) register theirs from their own modules.
Acknowledger = Callable[[WorkItem, StageContext, Ticket], Awaitable[None]]
ACKNOWLEDGERS: dict[Channel, Acknowledger] = {}


async def run(item: WorkItem, ctx: StageContext) -> None:
    parsed = item.parsed
    if parsed is None or item.ticket_id is None or not item.ticket_created:
        return  # follow-up receipts are decided by the follow-up rules
    session = ctx.db()
    contact = await get_contact(session=session, contact_id=item.contact_id) if item.contact_id else None
    reason = item.suppress_reply or reply_suppressed(
        parsed,
        own_addresses=frozenset({ctx.settings.from_address}),
        contact_opted_out=bool(contact and contact.opted_out),
        contact_bounced=bool(contact and contact.bounced),
    )
    ticket = await get_ticket(session=session, ticket_id=item.ticket_id)
    assert ticket is not None
    if reason is not None:
        item.suppress_reply = reason
        await add_event(
            session=session, ticket_id=ticket.id, actor="system", action="ack-suppressed", data={"reason": reason}
        )
        return
    acknowledge = ACKNOWLEDGERS.get(parsed.channel)
    if acknowledge is not None:
        await acknowledge(item, ctx, ticket)


async def acknowledge_email(item: WorkItem, ctx: StageContext, ticket: Ticket) -> None:
    parsed = item.parsed
    assert parsed is not None and ticket.id is not None
    session = ctx.db()
    templates = ctx.services.templates
    assert templates is not None
    message_id, payload = compose_email_reply(
        settings=ctx.settings,
        templates=templates,
        ticket=ticket,
        kind="ack",
        to=parsed.sender,
        parsed=parsed,
        language=ticket.language,
    )
    row = await enqueue_outbox(
        session=session,
        ticket_id=ticket.id,
        channel="email",
        kind="ack",
        recipient=parsed.sender,
        message_id=message_id,
        payload=payload,
    )
    await touch_ticket(session=session, ticket_id=ticket.id, status=TicketStatus.ACKNOWLEDGED)
    await add_event(
        session=session,
        ticket_id=ticket.id,
        actor="system",
        action="acknowledged",
        data={"outbox_id": row.id, "channel": "email"},
        public=True,
    )


ACKNOWLEDGERS[Channel.EMAIL] = acknowledge_email

STAGE = Stage(name="notify", run=run, transactional=True)
