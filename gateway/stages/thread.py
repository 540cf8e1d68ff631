"""Stage `thread`: does this message continue an existing ticket? First matching rule wins (see rules.threading)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.pipeline import Stage, StageContext, ThreadMatch, WorkItem
from parsers.types import Channel
from rules.threading import find_reply_token, find_tracking_numbers
from storage.tickets import find_ticket_by_message_ids, find_ticket_by_reply_token, get_ticket_by_number

# Rules a channel adds after the common ones (e.g. SMS: same number within the conversation window).
ChannelRule = Callable[[WorkItem, StageContext], Awaitable[ThreadMatch | None]]
CHANNEL_RULES: dict[Channel, list[ChannelRule]] = {}


async def run(item: WorkItem, ctx: StageContext) -> None:
    await _common_rules(item, ctx)
    if item.thread is None and item.parsed is not None:
        for rule in CHANNEL_RULES.get(item.parsed.channel, []):
            item.thread = await rule(item, ctx)
            if item.thread is not None:
                return


async def _common_rules(item: WorkItem, ctx: StageContext) -> None:
    parsed = item.parsed
    if parsed is None:
        return
    session = ctx.db()
    settings = ctx.settings
    mailbox = settings.from_address.partition("@")[0]
    recipients = [*parsed.recipients, *(a for a in item.envelope_to.split(",") if a)]

    token = find_reply_token(recipients, mailbox=mailbox, domains=settings.smtp.domains)
    if token is not None:
        ticket = await find_ticket_by_reply_token(session=session, token=token)
        if ticket is not None:
            item.thread = ThreadMatch(ticket_id=ticket.id, rule="reply-token")
            return

    referenced = [m for m in (parsed.in_reply_to, *reversed(parsed.references)) if m]
    ticket_id = await find_ticket_by_message_ids(session=session, message_ids=referenced)
    if ticket_id is not None:
        item.thread = ThreadMatch(ticket_id=ticket_id, rule="in-reply-to")
        return

    for number in find_tracking_numbers(parsed.subject, prefix=settings.tracking.prefix):
        ticket = await get_ticket_by_number(session=session, tracking_number=number)
        if ticket is not None:
            item.thread = ThreadMatch(ticket_id=ticket.id, rule="subject-tracking-number")
            return


STAGE = Stage(name="thread", run=run, transactional=True)
