"""Stage `thread`: does this message continue an existing ticket? First matching rule wins (see rules.threading).

A bounce belongs to the ticket of the message that bounced; an unmatched bounce is discarded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from gateway.pipeline import Discard, Stage, StageContext, ThreadMatch, WorkItem
from parsers.types import Channel
from rules.threading import find_reply_token, find_tracking_numbers
from storage.replies import find_outbox_by_message_id, find_recent_outbox_to
from storage.tickets import find_ticket_by_message_ids, find_ticket_by_reply_token, get_ticket_by_number

# Rules a channel adds after the common ones (e.g. SMS: same number within the conversation window).
ChannelRule = Callable[[WorkItem, StageContext], Awaitable[ThreadMatch | None]]
CHANNEL_RULES: dict[Channel, list[ChannelRule]] = {}

BOUNCE_MATCH_WINDOW = timedelta(days=7)


async def run(item: WorkItem, ctx: StageContext) -> None:
    parsed = item.parsed
    if parsed is None:
        return
    if parsed.bounce is not None:
        item.thread = await _bounced_ticket(item, ctx)
        return
    item.thread = await _common_rules(item, ctx)
    if item.thread is None:
        for rule in CHANNEL_RULES.get(parsed.channel, []):
            item.thread = await rule(item, ctx)
            if item.thread is not None:
                return


async def _bounced_ticket(item: WorkItem, ctx: StageContext) -> ThreadMatch:
    bounce = item.parsed.bounce if item.parsed else None
    assert bounce is not None
    session = ctx.db()
    row = None
    if bounce.original_message_id:
        row = await find_outbox_by_message_id(session=session, message_id=bounce.original_message_id)
    if row is None and bounce.recipient:
        row = await find_recent_outbox_to(session=session, recipient=bounce.recipient, within=BOUNCE_MATCH_WINDOW)
    if row is None or row.ticket_id is None:
        raise Discard("bounce-unmatched", "a bounce for no message we sent")
    item.bounced_outbox_id = row.id
    return ThreadMatch(ticket_id=row.ticket_id, rule="bounce")


async def _common_rules(item: WorkItem, ctx: StageContext) -> ThreadMatch | None:
    parsed = item.parsed
    assert parsed is not None
    session = ctx.db()
    settings = ctx.settings
    mailbox = settings.from_address.partition("@")[0]
    recipients = [*parsed.recipients, *(a for a in item.envelope_to.split(",") if a)]

    token = find_reply_token(recipients, mailbox=mailbox, domains=settings.smtp.domains)
    if token is not None:
        ticket = await find_ticket_by_reply_token(session=session, token=token)
        if ticket is not None:
            return ThreadMatch(ticket_id=ticket.id, rule="reply-token")

    referenced = [m for m in (parsed.in_reply_to, *reversed(parsed.references)) if m]
    ticket_id = await find_ticket_by_message_ids(session=session, message_ids=referenced)
    if ticket_id is not None:
        return ThreadMatch(ticket_id=ticket_id, rule="in-reply-to")

    for number in find_tracking_numbers(parsed.subject, prefix=settings.tracking.prefix):
        ticket = await get_ticket_by_number(session=session, tracking_number=number)
        if ticket is not None:
            return ThreadMatch(ticket_id=ticket.id, rule="subject-tracking-number")
    return None


STAGE = Stage(name="thread", run=run, transactional=True)
