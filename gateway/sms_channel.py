"""The SMS channel in the pipeline: how a stored Twilio form is read, which ticket a text continues, and how a
ticket made by text is acknowledged. `register_sms_channel()` plugs these into the stages' channel hooks.

Which ticket a text belongs to (after the common rules, first match wins):
1. a command (STOP/START/HELP, STATUS ...) belongs to none: it is carried out and makes no ticket;
2. a tracking number in the text: that ticket;
3. the same number within `[twilio] conversation_window_minutes` of its last text to us, or of our last text to it,
   while that ticket is open: the conversation goes on;
4. otherwise a new ticket.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from gateway.ack_events import record_answer_queued
from gateway.pipeline import Reject, StageContext, ThreadMatch, WorkItem
from gateway.sms_commands import enqueue_sms, handle_sms_command, reply_address
from gateway.sms_media import describe_failures, fetch_media
from parsers.location import place_columns
from parsers.phone import normalise_phone
from parsers.sms import SmsParseError, extra_value, parse_twilio_form, shared_location
from parsers.types import Channel, Location, ParsedMessage
from rules.threading import find_tracking_numbers
from storage.models import Ticket, TicketStatus
from storage.sms import find_conversation_ticket, find_phone_contact, is_ticket_party, update_ticket_location
from storage.tickets import add_event, get_ticket_by_number

log = logging.getLogger(__name__)


def register_sms_channel() -> None:
    # Imported here: `gateway.stages` calls this while it is being imported itself.
    from gateway.stages.notify import ACKNOWLEDGERS
    from gateway.stages.parse import register_enricher, register_parser
    from gateway.stages.thread import CHANNEL_RULES

    register_parser(Channel.SMS, parse_stored_form)
    register_enricher(Channel.SMS, enrich_sms)
    CHANNEL_RULES[Channel.SMS] = [thread_sms]
    ACKNOWLEDGERS[Channel.SMS] = acknowledge_sms


def parse_stored_form(raw: bytes) -> ParsedMessage:
    # No default region here: Twilio writes numbers in E.164; `enrich_sms` applies the configured one to the rest.
    try:
        return parse_twilio_form(raw, default_region=None)
    except SmsParseError as exc:
        raise Reject(f"parse-{exc.reason_code}", exc.detail) from exc


async def enrich_sms(item: WorkItem, ctx: StageContext) -> None:
    """After parsing, outside the transaction: the sender in the configured region, and the MMS media fetched."""
    parsed = item.parsed
    assert parsed is not None
    settings = ctx.settings.twilio
    if not parsed.sender:
        number = normalise_phone(extra_value(parsed, "from") or "", default_region=settings.default_region)
        if number:
            parsed = dataclasses.replace(
                parsed, sender=number, defects=tuple(d for d in parsed.defects if d != "sender-not-a-phone-number")
            )
    if parsed.media:
        parts, failures = await fetch_media(parsed.media, settings)
        missing = describe_failures(failures, parsed.sender)
        parsed = dataclasses.replace(
            parsed,
            attachments=(*parsed.attachments, *parts),
            body_text="\n".join(t for t in (parsed.body_text, missing) if t),
            defects=(*parsed.defects, *(f"media-{f.index + 1}-{f.reason}" for f in failures)),
        )
    item.parsed = parsed


async def thread_sms(item: WorkItem, ctx: StageContext) -> ThreadMatch | None:
    parsed = item.parsed
    assert parsed is not None
    shared = shared_location(parsed)
    if shared is not None:  # the phone's own pin beats any place guessed from the words
        item.locations.insert(0, shared)
        item.location = shared
    if not parsed.sender:
        return None  # short codes and sender ids: a ticket at most, never a conversation or an answer
    if parsed.sender == ctx.settings.twilio.from_number:
        item.suppress_reply = "own-number"
    command = await handle_sms_command(item, ctx)
    if command is not None or _is_empty(parsed, item.location):
        _finish_without_ticket(item, command or "empty")
        return None

    session = ctx.db()
    contact = await find_phone_contact(session=session, phone=parsed.sender)
    for number in find_tracking_numbers(parsed.body_new, prefix=ctx.settings.tracking.prefix):
        ticket = await get_ticket_by_number(session=session, tracking_number=number)
        if ticket is not None and ticket.id is not None:
            # Anyone may add to a ticket whose number they know; only its own people are answered about it.
            party = (
                contact is not None
                and contact.id is not None
                and (await is_ticket_party(session=session, ticket_id=ticket.id, contact_id=contact.id))
            )
            if party:
                await _fill_location(item, ctx, ticket)
            return ThreadMatch(ticket_id=ticket.id, rule="sms-tracking-number", flagged=not party)

    window = ctx.settings.twilio.conversation_window_minutes
    if window and contact is not None and contact.id is not None:
        ticket = await find_conversation_ticket(
            session=session,
            contact_id=contact.id,
            phone=parsed.sender,
            since=item.received_at - timedelta(minutes=window),
        )
        if ticket is not None and ticket.id is not None:
            await _fill_location(item, ctx, ticket)
            item.suppress_reply = item.suppress_reply or "sms-conversation"  # one text back per conversation
            return ThreadMatch(ticket_id=ticket.id, rule="sms-conversation")
    return None


def _is_empty(parsed: ParsedMessage, location: Location | None) -> bool:
    return not parsed.body_new and not parsed.media and not parsed.attachments and location is None


def _finish_without_ticket(item: WorkItem, reason: str) -> None:
    """The text was fully handled here: the later stages see no message, so no ticket and no reply are made."""
    log.info("raw=%d sms handled without a ticket: %s", item.raw_id, reason)
    item.rule_hits.append(f"sms:{reason}")
    item.parsed = None


async def _fill_location(item: WorkItem, ctx: StageContext, ticket: Ticket) -> None:
    """A later text that says where (a shared pin, a map link, an address) completes an open ticket's location."""
    new = item.location
    if new is None or ticket.id is None or ticket.status not in TicketStatus.OPEN_STATES:
        return
    if ticket.lat is not None and new.point is None:
        return  # words never replace a point on the map
    if (
        ticket.address
        and (ticket.lat is not None or new.point is None)
        and ((ticket.location_confidence or 0.0) >= new.confidence)
    ):
        return  # what the ticket has is at least as good
    await update_ticket_location(session=ctx.db(), ticket_id=ticket.id, **place_columns(new))
    await add_event(
        session=ctx.db(),
        ticket_id=ticket.id,
        actor="resident",
        action="location-updated",
        data={"kind": new.kind, "source": "sms", "raw_id": item.raw_id},
    )


async def acknowledge_sms(item: WorkItem, ctx: StageContext, ticket: Ticket, kind: str) -> None:
    """Text back the tracking number (a new ticket) or a short receipt (a follow-up the conversation did not cover)."""
    parsed = item.parsed
    assert parsed is not None and ticket.id is not None
    language = ticket.language or parsed.language
    max_segments = ctx.settings.twilio.ack_max_segments
    row = await enqueue_sms(
        ctx=ctx,
        kind=kind,
        recipient=reply_address(parsed),
        language=language,
        ticket=ticket,
        max_segments=max_segments,
        **item.answer_context(),
    )
    session = ctx.db()
    await record_answer_queued(
        session=session, ticket=ticket, kind=kind, outbox_id=row.id, channel="sms",
        segments=row.payload["segments"],
    )  # fmt: skip
