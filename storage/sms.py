"""Queries behind the SMS channel: opt-outs, the conversation window, status lookups, delivery receipts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.core import execute_core
from storage.events import kept_events_of
from storage.models import Contact, Event, Message, Outbox, OutboxState, Ticket, TicketStatus, utcnow
from storage.sqlite_direct import prepared
from storage.tickets import add_event, get_or_create_contact

# Twilio status callback values -> our outbox states; "queued", "sending", "sent" change nothing we track.
DELIVERY_STATES = {
    "delivered": OutboxState.DELIVERED,
    "read": OutboxState.DELIVERED,  # WhatsApp read receipts come after "delivered"
    "undelivered": OutboxState.BOUNCED,
    "failed": OutboxState.BOUNCED,
}
_SETTLED = (OutboxState.DELIVERED, OutboxState.BOUNCED)
UNSUBSCRIBED = "21610"  # "Attempt to send to unsubscribed recipient": the number sent STOP to our sender
# Numbers that can never receive a text from us (unknown, landline, not a mobile number): like a hard bounce.
UNREACHABLE = frozenset({"30005", "30006", "21211", "21614"})


def _to_number(phone: str) -> Any:
    """Outbox recipients for `phone`: the number itself and channel addresses such as `whatsapp:+1...`."""
    return or_(Outbox.recipient == phone, Outbox.recipient.like(f"%:{phone}"))


async def find_phone_contact(*, session: AsyncSession, phone: str) -> Contact | None:
    found = await session.execute(select(Contact).where(Contact.kind == "phone", Contact.address == phone))
    return found.scalar_one_or_none()


async def set_phone_opt_out(*, session: AsyncSession, phone: str, opted_out: bool) -> Contact:
    """Record STOP (True) or START (False) for `phone`, creating the contact when it never wrote before."""
    contact = await get_or_create_contact(session=session, kind="phone", address=phone)
    contact.opted_out = opted_out
    contact.updated_at = utcnow()
    await session.flush()
    return contact


async def suppress_pending_sms(*, session: AsyncSession, phone: str, keep_kinds: tuple[str, ...] = ()) -> int:
    """Texts to `phone` still waiting to go out are never sent (the number opted out); returns how many."""
    stmt = (
        update(Outbox)
        .where(Outbox.channel == "sms", Outbox.state == OutboxState.PENDING, _to_number(phone))
        .values(state=OutboxState.SUPPRESSED, error="opted-out")
    )
    if keep_kinds:
        stmt = stmt.where(Outbox.kind.not_in(keep_kinds))
    result = await session.execute(stmt)
    return result.rowcount


async def find_conversation_ticket(
    *, session: AsyncSession, contact_id: int, phone: str, since: datetime
) -> Ticket | None:
    """The ticket this number was last texting about (or we last texted it about) since `since`, if still open."""
    inbound = await session.execute(
        select(Message.ticket_id, Message.created_at)
        .where(
            Message.channel == "sms",
            Message.direction == "in",
            Message.contact_id == contact_id,
            Message.created_at >= since,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    outbound = await session.execute(
        select(Outbox.ticket_id, Outbox.created_at)
        .where(Outbox.channel == "sms", _to_number(phone), Outbox.ticket_id.is_not(None), Outbox.created_at >= since)
        .order_by(Outbox.id.desc())
        .limit(1)
    )
    candidates = [row for row in (inbound.first(), outbound.first()) if row is not None]
    if not candidates:
        return None
    ticket_id = max(candidates, key=lambda row: row.created_at).ticket_id
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.status not in TicketStatus.OPEN_STATES:
        return None
    return ticket


async def latest_ticket_reported_by(*, session: AsyncSession, contact_id: int) -> Ticket | None:
    found = await session.execute(
        select(Ticket).where(Ticket.reporter_id == contact_id).order_by(Ticket.id.desc()).limit(1)
    )
    return found.scalar_one_or_none()


class Unknown(enum.Enum):
    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN  # "not given": the reporter id itself may be None (a report with no sender)


async def subscribe_to_ticket(
    *, session: AsyncSession, ticket_id: int, contact_id: int, reporter_id: int | Unknown | None = UNKNOWN
) -> None:
    """Let `contact_id` ask after the ticket and hear of its changes, as its reporter does. A caller that has the
    ticket's `reporter_id` at hand passes it, and the ticket is not loaded for it."""
    if not await is_ticket_party(session=session, ticket_id=ticket_id, contact_id=contact_id, reporter_id=reporter_id):
        await add_event(
            session=session,
            ticket_id=ticket_id,
            actor=f"contact:{contact_id}",
            action="subscribed",
            data={"contact_id": contact_id},
        )


_SUBSCRIBED = prepared(  # built once: asked for every report linked as a duplicate
    select(Event.id)
    .where(Event.ticket_id == bindparam("ticket_id"), Event.action == "subscribed", Event.actor == bindparam("actor"))
    .limit(1)
)


async def is_ticket_party(
    *, session: AsyncSession, ticket_id: int, contact_id: int, reporter_id: int | Unknown | None = UNKNOWN
) -> bool:
    """Whether `contact_id` reported the ticket or subscribed to it."""
    if reporter_id is UNKNOWN:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return False
        reporter_id = ticket.reporter_id
    if reporter_id == contact_id:
        return True
    actor = f"contact:{contact_id}"
    # Events this transaction made and has not written yet are looked at here, rather than written first (a
    # pipeline transaction writes them all in one statement at its end).
    if any(e["actor"] == actor for e in kept_events_of(session, ticket_id, ("subscribed",))):
        return True
    found = await execute_core(session, _SUBSCRIBED, {"ticket_id": ticket_id, "actor": actor}, reads_kept_events=True)
    return found.first() is not None


async def record_sms_status(
    *,
    session: AsyncSession,
    provider_id: str,
    status: str,
    outbox_id: int | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> Outbox | None:
    """Record a delivery receipt on our outbox row; returns the row (None when it is not ours).

    A receipt only moves a row forward: a late "sent" never undoes "delivered", and settled rows stay settled.
    """
    row = await session.get(Outbox, outbox_id) if outbox_id is not None else None
    if row is None or row.channel != "sms" or (row.provider_id and row.provider_id != provider_id):
        found = await session.execute(select(Outbox).where(Outbox.provider_id == provider_id).limit(1))
        row = found.scalar_one_or_none()
    if row is None:
        return None
    if not row.provider_id:
        row.provider_id = provider_id
    state = DELIVERY_STATES.get(status)
    if state is None or row.state in _SETTLED:
        return row
    row.state = state
    if state == OutboxState.BOUNCED:
        row.error = " ".join(p for p in (status, error_code or "", error_message or "") if p)[:2000]
        await mark_phone_undeliverable(
            session=session, phone=row.recipient.rpartition(":")[2], error_code=error_code or "", reason=row.error
        )
        if row.ticket_id is not None:
            await add_event(
                session=session,
                ticket_id=row.ticket_id,
                actor="twilio",
                action="sms-undelivered",
                data={"outbox_id": row.id, "status": status, "error_code": error_code},
            )
    await session.flush()
    return row


async def mark_phone_undeliverable(*, session: AsyncSession, phone: str, error_code: str, reason: str) -> bool:
    """After a provider error: 21610 opts the number out, unreachable numbers are marked bounced. True if marked."""
    if error_code != UNSUBSCRIBED and error_code not in UNREACHABLE:
        return False
    contact = await get_or_create_contact(session=session, kind="phone", address=phone)
    if error_code == UNSUBSCRIBED:
        contact.opted_out = True
    else:
        contact.bounced, contact.bounce_reason = True, reason[:500]
    contact.updated_at = utcnow()
    await session.flush()
    return True


async def update_ticket_location(*, session: AsyncSession, ticket_id: int, **fields: Any) -> None:
    """Set address, lat, lon, location_source and location_confidence from a later message."""
    await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(updated_at=utcnow(), **fields))
