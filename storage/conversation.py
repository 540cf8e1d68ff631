"""Queries behind the staff ticket page and its actions: the whole conversation with attachments and delivery
states in a fixed number of queries, and the few row moves that merge and split need."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Attachment, Blob, Contact, Event, Message, Outbox, StaffUser, Ticket


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    message: Message
    ticket_number: str  # the ticket the message is on (a merged duplicate's own number, when it is one)
    contact: str | None
    staff: str | None
    attachments: list[Attachment]
    delivery: str | None  # the outbox state of an outbound message
    delivery_error: str | None


@dataclass(frozen=True, slots=True)
class TicketPage:
    ticket: Ticket
    reporter: Contact | None
    assignee: StaffUser | None
    duplicate_of: Ticket | None
    duplicates: list[Ticket]
    linked_from: Ticket | None
    conversation: list[ConversationEntry]
    events: list[Event]


async def load_ticket_page(*, session: AsyncSession, ticket_id: int) -> TicketPage | None:
    """Everything the staff ticket page shows; eight queries however long the conversation is."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    reporter = await session.get(Contact, ticket.reporter_id) if ticket.reporter_id else None
    assignee = await session.get(StaffUser, ticket.assignee_id) if ticket.assignee_id else None
    duplicate_of = await session.get(Ticket, ticket.duplicate_of_id) if ticket.duplicate_of_id else None
    linked_from = await session.get(Ticket, ticket.linked_from_id) if ticket.linked_from_id else None
    dups = await session.execute(select(Ticket).where(Ticket.duplicate_of_id == ticket_id).order_by(Ticket.id))
    duplicates = list(dups.scalars())
    numbers = {t.id: t.tracking_number for t in [ticket, *duplicates]}
    rows = await session.execute(
        select(Message, Contact.address, StaffUser.email, Outbox.state, Outbox.error)
        .outerjoin(Contact, Contact.id == Message.contact_id)
        .outerjoin(StaffUser, StaffUser.id == Message.staff_id)
        .outerjoin(Outbox, Outbox.id == Message.outbox_id)
        .where(Message.ticket_id.in_(list(numbers)))
        .order_by(Message.created_at, Message.id)
    )
    found = rows.all()
    by_message: dict[int, list[Attachment]] = {}
    if found:
        atts = await session.execute(
            select(Attachment).where(Attachment.message_id.in_([m.id for m, *_ in found])).order_by(Attachment.id)
        )
        for att in atts.scalars():
            by_message.setdefault(att.message_id, []).append(att)
    conversation = [
        ConversationEntry(
            message=m,
            ticket_number=numbers[m.ticket_id],
            contact=contact,
            staff=staff,
            attachments=by_message.get(m.id or 0, []),
            delivery=state,
            delivery_error=error,
        )
        for m, contact, staff, state, error in found
    ]
    conversation = sorted(
        conversation + await _unrecorded_outbox(session, numbers),
        key=lambda e: (e.message.created_at, e.message.id or 0),
    )
    events = await session.execute(select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id))
    return TicketPage(
        ticket=ticket,
        reporter=reporter,
        assignee=assignee,
        duplicate_of=duplicate_of,
        duplicates=duplicates,
        linked_from=linked_from,
        conversation=conversation,
        events=list(events.scalars()),
    )


async def _unrecorded_outbox(session: AsyncSession, numbers: dict[int | None, str]) -> list[ConversationEntry]:
    """Outbox rows with no message of their own (the pipeline's acknowledgements and receipts, subscription
    confirmations, Open311 forwards), shown as outbound messages so the page holds everything we sent."""
    recorded = select(Message.outbox_id).where(Message.ticket_id.in_(list(numbers)), Message.outbox_id.is_not(None))
    rows = await session.execute(
        select(Outbox)
        .where(Outbox.ticket_id.in_(list(numbers)), Outbox.id.not_in(recorded))
        .order_by(Outbox.created_at, Outbox.id)
    )
    entries = []
    for row in rows.scalars():
        payload = row.payload or {}
        text = str(payload.get("text") or payload.get("body") or "")
        shown = Message(  # never added to the session: a view of the outbox row, not a stored message
            ticket_id=row.ticket_id or 0,
            direction="out",
            channel=row.channel,
            subject=str(payload.get("subject") or "")[:1000],
            body=text,
            body_full=text,
            kind=row.kind,
            outbox_id=row.id,
            created_at=row.created_at,
        )
        entries.append(
            ConversationEntry(
                message=shown,
                ticket_number=numbers[row.ticket_id],
                contact=row.recipient,
                staff=None,
                attachments=[],
                delivery=row.state,
                delivery_error=row.error,
            )
        )
    return entries


async def latest_inbound_email(*, session: AsyncSession, ticket_id: int, contact_id: int) -> Message | None:
    """The contact's last email on the ticket: what a reply to them threads on."""
    found = await session.execute(
        select(Message)
        .where(
            Message.ticket_id == ticket_id,
            Message.contact_id == contact_id,
            Message.direction == "in",
            Message.channel == "email",
            Message.external_id.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return found.scalar_one_or_none()


async def get_message(*, session: AsyncSession, message_id: int) -> Message | None:
    return await session.get(Message, message_id)


async def move_message(*, session: AsyncSession, message_id: int, ticket_id: int) -> None:
    await session.execute(update(Message).where(Message.id == message_id).values(ticket_id=ticket_id))


async def repoint_duplicates(*, session: AsyncSession, from_ticket_id: int, to_ticket_id: int) -> None:
    """Tickets merged into `from_ticket_id` now point at `to_ticket_id`: chains never grow past one step."""
    await session.execute(
        update(Ticket).where(Ticket.duplicate_of_id == from_ticket_id).values(duplicate_of_id=to_ticket_id)
    )


async def get_attachment_data(*, session: AsyncSession, attachment_id: int) -> tuple[Attachment, bytes] | None:
    found = await session.execute(
        select(Attachment, Blob.data).join(Blob, Blob.sha256 == Attachment.sha256).where(Attachment.id == attachment_id)
    )
    row = found.first()
    return (row[0], row[1]) if row else None
