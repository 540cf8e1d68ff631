"""Stage `notify`: queue what the resident is owed, in the ticket's own transaction.

A new ticket gets an acknowledgement; a follow-up gets a short receipt at most once per `receipt_interval_minutes`.
Nothing goes to machines, to addresses that bounced or opted out, to possibly forged senders (per policy), or past
the reply budgets.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from gateway.ack_events import record_answer_queued
from gateway.outbox.compose import compose_email_reply
from gateway.pipeline import Stage, StageContext, WorkItem
from parsers.types import Channel
from rules.suppress import auth_failed, reply_suppressed
from storage.models import Ticket, utcnow
from storage.outbox import enqueue_outbox_row
from storage.replies import recent_receipt_sent, take_reply_budget
from storage.tickets import add_event, get_contact, get_ticket

log = logging.getLogger(__name__)

# How each channel answers: (item, ctx, ticket, kind) queues outbox rows, kind being "ack" or "receipt". Email is
# built in; other channels (SMS, web, Open311) register theirs from their own modules.
Acknowledger = Callable[[WorkItem, StageContext, Ticket, str], Awaitable[None]]
ACKNOWLEDGERS: dict[Channel, Acknowledger] = {}
# What other systems are owed when a ticket is created, whatever its channel (e.g. forwarding to an upstream Open311
# system); each queues its outbox rows in this transaction. Reply suppression is about residents, not these.
TicketHook = Callable[[WorkItem, StageContext, Ticket], Awaitable[None]]
ON_TICKET_CREATED: list[TicketHook] = []
# Around a new ticket's acknowledgement: BEFORE_ACK runs only when one goes out (e.g. deciding the question it asks,
# `item.question`), AFTER_ACK always (e.g. the timeline entry of a linked duplicate's status, after the ack's).
BEFORE_ACK: list[TicketHook] = []
AFTER_ACK: list[TicketHook] = []


async def run(item: WorkItem, ctx: StageContext) -> None:
    parsed = item.parsed
    if parsed is None or item.ticket_id is None:
        return
    if item.ticket_created:
        kind = "ack"
    elif item.thread is not None and item.thread.rule not in ("bounce",) and not parsed.auto_submitted:
        kind = "receipt"
    else:
        return
    session = ctx.db()
    ticket = await get_ticket(session=session, ticket_id=item.ticket_id)
    assert ticket is not None and ticket.id is not None
    if kind == "ack":
        for hook in ON_TICKET_CREATED:
            await hook(item, ctx, ticket)
    reason = await _suppression(item, ctx, ticket, kind)
    if reason is not None:
        item.suppress_reply = reason
        await add_event(
            session=session, ticket_id=ticket.id, actor="system", action=f"{kind}-suppressed", data={"reason": reason}
        )
    else:
        acknowledge = ACKNOWLEDGERS.get(parsed.channel)
        if acknowledge is not None:
            for hook in BEFORE_ACK if kind == "ack" else []:
                await hook(item, ctx, ticket)
            await acknowledge(item, ctx, ticket, kind)
    for hook in AFTER_ACK if kind == "ack" else []:
        await hook(item, ctx, ticket)


async def _suppression(item: WorkItem, ctx: StageContext, ticket: Ticket, kind: str) -> str | None:
    parsed = item.parsed
    assert parsed is not None and ticket.id is not None
    session = ctx.db()
    contact = await get_contact(session=session, contact_id=item.contact_id) if item.contact_id else None
    reason = item.suppress_reply or reply_suppressed(
        parsed,
        own_addresses=frozenset({ctx.settings.from_address}),
        contact_opted_out=bool(contact and contact.opted_out),
        contact_bounced=bool(contact and contact.bounced),
    )
    if reason is None and ctx.settings.email.auth_failure == "no-reply" and auth_failed(parsed.auth):
        reason = "auth-failed"
    if reason is None and kind == "receipt":
        if item.thread is not None and item.thread.flagged:
            return "not-the-reporter"
        since = utcnow() - timedelta(minutes=ctx.settings.replies.receipt_interval_minutes)
        if await recent_receipt_sent(session=session, ticket_id=ticket.id, since=since):
            return "receipt-recently-sent"
    if reason is None:
        r = ctx.settings.replies
        reason = await take_reply_budget(
            session=session, address=parsed.sender, per_sender=r.per_sender_per_hour, overall=r.global_per_hour
        )
    return reason


async def acknowledge_email(item: WorkItem, ctx: StageContext, ticket: Ticket, kind: str) -> None:
    parsed = item.parsed
    assert parsed is not None and ticket.id is not None
    session = ctx.db()
    templates = ctx.services.templates
    assert templates is not None
    message_id, payload = compose_email_reply(
        settings=ctx.settings,
        templates=templates,
        ticket=ticket,
        kind=kind,
        to=parsed.sender,
        parsed=parsed,
        language=ticket.language or parsed.language,
        **item.answer_context(),
    )
    outbox_id = await enqueue_outbox_row(
        session=session,
        ticket_id=ticket.id,
        channel="email",
        kind=kind,
        recipient=parsed.sender,
        message_id=message_id,
        payload=payload,
    )
    await record_answer_queued(session=session, ticket=ticket, kind=kind, outbox_id=outbox_id, channel="email")


ACKNOWLEDGERS[Channel.EMAIL] = acknowledge_email

STAGE = Stage(name="notify", run=run, transactional=True)
