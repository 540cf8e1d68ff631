"""Texts that are commands rather than reports: STOP/START/HELP keywords and STATUS questions.

They run in the `thread` stage's transaction (so the opt-out and its confirmation commit together) and make no
ticket. A status answer goes only to the number that reported the ticket or subscribed to it; anyone else gets the
same "not found" as for a number that does not exist, so texting numbers at random reveals nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.outbox.sms_compose import compose_sms
from gateway.pipeline import StageContext, WorkItem
from gateway.redact import redact
from parsers.sms import extra_value
from parsers.types import ParsedMessage
from rules.sms_keywords import (
    KINDS_SENT_WHEN_OPTED_OUT,
    Keyword,
    KeywordAction,
    StatusQuery,
    classify_keyword,
    parse_status_query,
)
from storage.models import Contact, Outbox, Ticket
from storage.outbox import enqueue_outbox
from storage.replies import take_reply_budget
from storage.sms import (
    find_phone_contact,
    is_ticket_party,
    latest_ticket_reported_by,
    set_phone_opt_out,
    suppress_pending_sms,
)
from storage.tickets import add_event, get_ticket_by_number

log = logging.getLogger(__name__)


def reply_address(parsed: ParsedMessage) -> str:
    """Where an answer goes: the number, or the channel address (`whatsapp:+1...`) the text came from."""
    return extra_value(parsed, "reply_to") or parsed.sender


async def enqueue_sms(
    *,
    ctx: StageContext,
    kind: str,
    recipient: str,
    language: str | None,
    ticket: Ticket | None = None,
    max_segments: int | None = None,
    **context: Any,
) -> Outbox:
    """Queue one text from the `sms/<kind>` template, in the caller's transaction."""
    templates = ctx.services.templates
    assert templates is not None
    payload = compose_sms(
        settings=ctx.settings,
        templates=templates,
        kind=kind,
        language=language,
        ticket=ticket,
        **({"max_segments": max_segments} if max_segments else {}),
        **context,
    )
    return await enqueue_outbox(
        session=ctx.db(),
        channel="sms",
        kind=kind,
        recipient=recipient,
        payload=payload,
        ticket_id=ticket.id if ticket else None,
    )


async def handle_sms_command(item: WorkItem, ctx: StageContext) -> str | None:
    """Carry out the command `item` is, if it is one; returns its name ("keyword-stop", "status-query") or None."""
    parsed = item.parsed
    assert parsed is not None
    if parsed.media or parsed.attachments:
        return None  # a photo is a report, whatever its caption says
    keyword = classify_keyword(parsed.body_new, provider_opt_out_type=extra_value(parsed, "opt_out_type"))
    if keyword is not None:
        await _keyword(item, ctx, keyword)
        return f"keyword-{keyword.action}"
    query = parse_status_query(parsed.body_new, prefix=ctx.settings.tracking.prefix)
    if query is not None:
        await _status_query(item, ctx, query)
        return "status-query"
    return None


async def _may_reply(ctx: StageContext, phone: str) -> bool:
    r = ctx.settings.replies
    spent = await take_reply_budget(
        session=ctx.db(), address=phone, per_sender=r.per_sender_per_hour, overall=r.global_per_hour
    )
    if spent:
        log.warning("sms to %s: no reply, %s", redact(phone), spent)
    return spent is None


async def _keyword(item: WorkItem, ctx: StageContext, keyword: Keyword) -> None:
    parsed = item.parsed
    assert parsed is not None
    session = ctx.db()
    phone = parsed.sender
    before = await find_phone_contact(session=session, phone=phone)
    was_opted_out = bool(before and before.opted_out)  # read now: the same row object is updated below
    if keyword.action == KeywordAction.STOP:
        contact = await set_phone_opt_out(session=session, phone=phone, opted_out=True)
        dropped = await suppress_pending_sms(session=session, phone=phone, keep_kinds=KINDS_SENT_WHEN_OPTED_OUT)
        await _note_on_latest_ticket(ctx, contact, "opted-out", {"keyword": keyword.word, "dropped": dropped})
        if was_opted_out:
            return  # confirmed once already (CTIA: one confirmation, then silence)
    elif keyword.action == KeywordAction.START:
        contact = await set_phone_opt_out(session=session, phone=phone, opted_out=False)
        await _note_on_latest_ticket(ctx, contact, "opted-in", {"keyword": keyword.word})
    else:
        contact = before
    log.info("raw=%d sms keyword %s from %s", item.raw_id, keyword.action, redact(phone))
    if not ctx.settings.twilio.keyword_replies or not await _may_reply(ctx, phone):
        return
    language = keyword.language if keyword.language != "en" else (contact.language if contact else None)
    await enqueue_sms(ctx=ctx, kind=str(keyword.action), recipient=reply_address(parsed), language=language)


async def _status_query(item: WorkItem, ctx: StageContext, query: StatusQuery) -> None:
    parsed = item.parsed
    assert parsed is not None
    session = ctx.db()
    contact = await find_phone_contact(session=session, phone=parsed.sender)
    ticket: Ticket | None = None
    if contact is not None and contact.id is not None:
        if query.tracking_number is None:
            ticket = await latest_ticket_reported_by(session=session, contact_id=contact.id)
        else:
            found = await get_ticket_by_number(session=session, tracking_number=query.tracking_number)
            if found is not None and await is_ticket_party(session=session, ticket_id=found.id, contact_id=contact.id):
                ticket = found
    if contact is not None and contact.opted_out:
        return  # they asked for no texts; the tracking page still answers them
    if not await _may_reply(ctx, parsed.sender):
        return
    language = (query.language if query.language != "en" else None) or (contact.language if contact else None)
    if ticket is None:
        await enqueue_sms(
            ctx=ctx,
            kind="status-unknown",
            recipient=reply_address(parsed),
            language=language,
            tracking_number=query.tracking_number,
        )
        return
    assert ticket.id is not None
    await add_event(
        session=session, ticket_id=ticket.id, actor="resident", action="status-requested", data={"channel": "sms"}
    )
    await enqueue_sms(
        ctx=ctx,
        kind="status-reply",
        recipient=reply_address(parsed),
        language=language or ticket.language,
        ticket=ticket,
    )


async def _note_on_latest_ticket(ctx: StageContext, contact: Contact, action: str, data: dict[str, Any]) -> None:
    """Staff see on the reporter's latest ticket that texts to them stopped (or resumed)."""
    if contact.id is None:
        return
    ticket = await latest_ticket_reported_by(session=ctx.db(), contact_id=contact.id)
    if ticket is not None and ticket.id is not None:
        await add_event(
            session=ctx.db(), ticket_id=ticket.id, actor="resident", action=action, data={"channel": "sms", **data}
        )
