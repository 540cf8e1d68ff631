"""Merge a ticket into another (the same problem reported twice) and split a message out into a ticket of its own.

Merging keeps both tickets and their messages where they are: the duplicate points at the survivor, its status
becomes `duplicate`, and the survivor's page shows both conversations. Both reporters are told the surviving number.
"""

from __future__ import annotations

from gateway.ack_events import record_answer_queued
from gateway.staff.actions import ActionError, Actor, StaffContext, apply_status, lock_ticket
from gateway.staff.notifications import enqueue_notice, recipient_for
from storage.conversation import get_message, move_message, repoint_duplicates
from storage.models import TicketStatus
from storage.staff import mark_ticket_seen
from storage.tickets import add_event, create_ticket, get_contact, get_ticket_by_number, touch_ticket

SUMMARY_CHARS = 120


async def merge(sc: StaffContext, actor: Actor, ticket_id: int, into_number: str) -> str:
    """Merge ticket `ticket_id` into the ticket numbered `into_number`; the surviving number."""
    async with sc.db.write() as session:
        source = await lock_ticket(session, ticket_id)
        found = await get_ticket_by_number(session=session, tracking_number=into_number.strip())
        if found is None or found.id is None:
            raise ActionError(f"No ticket numbered {into_number.strip()!r}.")
        target = await lock_ticket(session, found.id)
        if target.duplicate_of_id is not None:  # merging into a duplicate means merging into its survivor
            target = await lock_ticket(session, target.duplicate_of_id)
        if target.id == source.id:
            raise ActionError("A ticket cannot be merged into itself.")
        assert source.id is not None and target.id is not None
        await repoint_duplicates(session=session, from_ticket_id=source.id, to_ticket_id=target.id)
        await touch_ticket(session=session, ticket_id=source.id, duplicate_of_id=target.id)
        source.duplicate_of_id = target.id
        await apply_status(session, sc, actor, source, TicketStatus.DUPLICATE, surviving_number=target.tracking_number)
        await add_event(
            session=session,
            ticket_id=target.id,
            actor=actor.name,
            action="merged",
            data={"from": source.tracking_number},
            public=True,
        )
        await touch_ticket(session=session, ticket_id=target.id)
        if target.reporter_id is not None and target.reporter_id != source.reporter_id:
            contact = await get_contact(session=session, contact_id=target.reporter_id)
            if contact is not None:
                await enqueue_notice(
                    session=session,
                    services=sc.services,
                    signer=sc.signer,
                    ticket=target,
                    recipient=recipient_for(contact, target.language),
                    kind="merged",
                    actor=actor.name,
                    merged_number=source.tracking_number,
                )
        for seen in (source.id, target.id):
            await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=seen)
        return target.tracking_number


async def split(sc: StaffContext, actor: Actor, message_id: int) -> str:
    """Move one inbound message to a new ticket (it reported something else); the new ticket's number.

    Its sender gets an acknowledgement with the new number.
    """
    async with sc.db.write() as session:
        message = await get_message(session=session, message_id=message_id)
        if message is None or message.direction != "in":
            raise ActionError("Only a message from a resident can be split out.")
        source = await lock_ticket(session, message.ticket_id)
        assert source.id is not None and message.id is not None
        summary = " ".join(message.subject.split()) or next(
            (line.strip() for line in message.body.splitlines() if line.strip()), "(no text)"
        )
        ticket = await create_ticket(
            session=session,
            prefix=sc.services.settings.tracking.prefix,
            status=TicketStatus.NEW,
            channel=message.channel,
            summary=summary[:SUMMARY_CHARS],
            description=message.body or message.body_full,
            reporter_id=message.contact_id,
            language=source.language,
            needs_review=True,
        )
        assert ticket.id is not None
        await move_message(session=session, message_id=message.id, ticket_id=ticket.id)
        await add_event(
            session=session,
            ticket_id=source.id,
            actor=actor.name,
            action="split",
            data={"message_id": message.id, "to": ticket.tracking_number},
        )
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor=actor.name,
            action="created",
            data={"split_from": source.tracking_number, "message_id": message.id},
            public=True,
        )
        await touch_ticket(session=session, ticket_id=source.id)
        contact = await get_contact(session=session, contact_id=message.contact_id) if message.contact_id else None
        if contact is not None:
            row = await enqueue_notice(
                session=session,
                services=sc.services,
                signer=sc.signer,
                ticket=ticket,
                recipient=recipient_for(contact, ticket.language),
                kind="ack",
                actor=actor.name,
            )
            if row is not None:  # the split-off ticket is acknowledged like one the pipeline made
                await record_answer_queued(
                    session=session, ticket=ticket, kind="ack", outbox_id=row.id, actor=actor.name,
                    channel=row.channel,
                )  # fmt: skip
        for seen in (source.id, ticket.id):
            await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=seen)
        return ticket.tracking_number


async def unlink(sc: StaffContext, actor: Actor, ticket_id: int) -> str:
    """Undo a duplicate link (made by dedupe or a merge): the ticket stands on its own again, acknowledged, and its
    reporter is told. Returns the number it pointed at."""
    async with sc.db.write() as session:
        ticket = await lock_ticket(session, ticket_id)
        if ticket.duplicate_of_id is None:
            raise ActionError("This ticket is not linked to another one.")
        original = await lock_ticket(session, ticket.duplicate_of_id)
        assert ticket.id is not None
        await add_event(
            session=session, ticket_id=ticket.id, actor=actor.name, action="unlinked",
            data={"from": original.tracking_number},
        )  # fmt: skip
        if ticket.status == TicketStatus.ACKNOWLEDGED:  # linked but never marked duplicate: only the link goes
            await touch_ticket(session=session, ticket_id=ticket.id, duplicate_of_id=None)
        else:
            await apply_status(session, sc, actor, ticket, TicketStatus.ACKNOWLEDGED)
        await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=ticket.id)
        return original.tracking_number
