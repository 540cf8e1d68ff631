"""Staff actions on tickets. Each call is one write transaction: the ticket change, its Event, and the Outbox rows
it owes residents commit together or not at all. The web routes and the CLI call these; nothing else writes tickets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.pipeline import Services
from gateway.signing import Signer
from gateway.staff.notifications import enqueue_notice, recipient_for, suppression, ticket_audience
from storage.db import Database
from storage.models import Ticket, TicketStatus, utcnow
from storage.staff import get_staff, mark_ticket_seen
from storage.tickets import add_event, add_message, get_contact, touch_ticket

# A change to one of these statuses is told to the reporter and subscribers (templates `status-<status>`).
NOTIFIED_STATUSES = ("acknowledged", "in_progress", "resolved", "closed", "duplicate", "rejected")
CLOSED_STATUSES = ("resolved", "closed", "duplicate", "rejected")
PRIORITIES = ("low", "normal", "high", "urgent")


class ActionError(Exception):
    """The action cannot be done as asked; the message is for the staff member."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a staff member's id and email (the audit log names them)."""

    id: int
    email: str

    @property
    def name(self) -> str:
        return f"staff:{self.email}"


@dataclass(frozen=True, slots=True)
class StaffContext:
    db: Database
    services: Services
    signer: Signer


async def lock_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    locking = session.bind.dialect.name == "postgresql"  # two staff acting at once: the second waits, then sees
    ticket = await session.get(Ticket, ticket_id, with_for_update=locking, populate_existing=True)
    if ticket is None:
        raise ActionError("No such ticket.")
    return ticket


async def apply_status(
    session: AsyncSession,
    sc: StaffContext,
    actor: Actor,
    ticket: Ticket,
    status: str,
    public_note: str = "",
    **extra: str,
) -> bool:
    """Set the status in `session` and notify; False when it already had that status."""
    if status not in TicketStatus.ALL:
        raise ActionError(f"Unknown status {status!r}.")
    if ticket.status == status:
        return False
    assert ticket.id is not None
    old = ticket.status
    closing = status in CLOSED_STATUSES
    await touch_ticket(
        session=session,
        ticket_id=ticket.id,
        status=status,
        closed_at=utcnow() if closing else None,
        **({} if status == TicketStatus.DUPLICATE else {"duplicate_of_id": None}),
    )
    ticket.status = status
    note = public_note.strip()[:1000]
    await add_event(
        session=session,
        ticket_id=ticket.id,
        actor=actor.name,
        action="status-changed",
        data={"from": old, "to": status, **({"public_note": note} if note else {}), **extra},
        public=True,
    )
    if status in NOTIFIED_STATUSES:
        for recipient in await ticket_audience(session=session, ticket=ticket):
            await enqueue_notice(
                session=session,
                services=sc.services,
                signer=sc.signer,
                ticket=ticket,
                recipient=recipient,
                kind=f"status-{status}",
                actor=actor.name,
                public_note=note,
                surviving_number=extra.get("surviving_number", ""),
            )
    return True


async def change_status(
    sc: StaffContext, actor: Actor, ticket_ids: Sequence[int], status: str, public_note: str = ""
) -> int:
    """Set the status of one or many tickets (bulk); returns how many changed."""
    changed = 0
    async with sc.db.write() as session:
        for ticket_id in ticket_ids:
            ticket = await lock_ticket(session, ticket_id)
            if status == TicketStatus.DUPLICATE and ticket.duplicate_of_id is None:
                raise ActionError("Use “Merge into…” to mark a ticket as a duplicate of another.")
            changed += await apply_status(session, sc, actor, ticket, status, public_note)
            await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=ticket_id)  # their own change
    return changed


async def reply(sc: StaffContext, actor: Actor, ticket_id: int, body: str) -> int:
    """Send the reporter a written reply on their channel (threaded on their last email); the outbox row's id."""
    body = body.strip()
    if not body:
        raise ActionError("The reply is empty.")
    async with sc.db.write() as session:
        ticket = await lock_ticket(session, ticket_id)
        contact = await get_contact(session=session, contact_id=ticket.reporter_id) if ticket.reporter_id else None
        if contact is None:
            raise ActionError("This ticket has no reporter to write to.")
        recipient = recipient_for(contact, ticket.language)
        reason = suppression(recipient)
        if reason is not None:
            raise ActionError(f"The reporter cannot be written to ({reason}).")
        staff = await get_staff(session=session, staff_id=actor.id)
        row = await enqueue_notice(
            session=session,
            services=sc.services,
            signer=sc.signer,
            ticket=ticket,
            recipient=recipient,
            kind="staff-reply",
            actor=actor.name,
            staff_id=actor.id,
            automatic=False,
            body=body,
            staff_name=(staff.name if staff and staff.name else ""),
        )
        assert row is not None and row.id is not None and ticket.id is not None
        await add_event(
            session=session,
            ticket_id=ticket.id,
            actor=actor.name,
            action="replied",
            data={"outbox_id": row.id, "channel": recipient.channel},
        )
        await touch_ticket(session=session, ticket_id=ticket.id)
        await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=ticket.id)
        return row.id


async def add_note(sc: StaffContext, actor: Actor, ticket_id: int, body: str) -> None:
    """An internal note: on the ticket for staff, never sent to anyone."""
    body = body.strip()
    if not body:
        raise ActionError("The note is empty.")
    async with sc.db.write() as session:
        ticket = await lock_ticket(session, ticket_id)
        assert ticket.id is not None
        message = await add_message(
            session=session,
            ticket_id=ticket.id,
            direction="note",
            channel="staff",
            body=body,
            body_full=body,
            kind="note",
            staff_id=actor.id,
        )
        await add_event(
            session=session, ticket_id=ticket.id, actor=actor.name, action="note", data={"message_id": message.id}
        )
        await touch_ticket(session=session, ticket_id=ticket.id)
        await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=ticket.id)


async def assign(sc: StaffContext, actor: Actor, ticket_ids: Sequence[int], assignee_id: int | None) -> int:
    async with sc.db.write() as session:
        assignee = await get_staff(session=session, staff_id=assignee_id) if assignee_id is not None else None
        if assignee_id is not None and (assignee is None or not assignee.active):
            raise ActionError("No such staff member.")
        changed = 0
        for ticket_id in ticket_ids:
            ticket = await lock_ticket(session, ticket_id)
            if ticket.assignee_id == assignee_id:
                continue
            assert ticket.id is not None
            await touch_ticket(session=session, ticket_id=ticket.id, assignee_id=assignee_id)
            await add_event(
                session=session,
                ticket_id=ticket.id,
                actor=actor.name,
                action="assigned" if assignee else "unassigned",
                data={"to": assignee.email if assignee else None},
            )
            await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=ticket.id)
            changed += 1
        return changed


async def set_fields(
    sc: StaffContext,
    actor: Actor,
    ticket_ids: Sequence[int],
    *,
    category: str | None = None,
    department: str | None = None,
    priority: str | None = None,
) -> int:
    """Change category, department and/or priority (None leaves a field alone, "" clears department)."""
    if priority is not None and priority not in PRIORITIES:
        raise ActionError(f"Priority must be one of {', '.join(PRIORITIES)}.")
    changed = 0
    async with sc.db.write() as session:
        for ticket_id in ticket_ids:
            ticket = await lock_ticket(session, ticket_id)
            assert ticket.id is not None
            values: dict[str, object] = {}
            if category is not None and category.strip() and category.strip() != ticket.category:
                values.update(
                    category=category.strip()[:64],
                    category_confidence=1.0,
                    category_decided_by=actor.name,
                    needs_review=False,
                )
            if department is not None and (department.strip() or None) != ticket.department:
                values["department"] = department.strip()[:64] or None
            if priority is not None and priority != ticket.priority:
                values["priority"] = priority
            if not values:
                continue
            before = {k: getattr(ticket, k) for k in values if k in ("category", "department", "priority")}
            await touch_ticket(session=session, ticket_id=ticket.id, **values)
            after = {k: values[k] for k in before}
            await add_event(
                session=session,
                ticket_id=ticket.id,
                actor=actor.name,
                action="fields-changed",
                data={"from": before, "to": after},
            )
            await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=ticket.id)
            changed += 1
    return changed


async def mark_seen(sc: StaffContext, actor: Actor, ticket_id: int) -> None:
    async with sc.db.write() as session:
        await mark_ticket_seen(session=session, staff_id=actor.id, ticket_id=ticket_id)
