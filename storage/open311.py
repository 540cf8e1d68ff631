"""Queries behind Open311: the public request list, posted submissions by token, and forwarded tickets' upstream ids.

Tickets are listed by tracking number (the public `service_request_id`); the only contact detail read here is the
reporter's name, which callers need solely to remove it from published text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contact, Event, RawInbound, Ticket, TicketStatus, utcnow

SUBMISSION_KEY_PREFIX = "open311:"  # raw_inbound.idempotency_key of a posted request is this + its token
UPSTREAM_STATUS_ACTION = "upstream-status"  # the event that remembers what the upstream last said
CLOSED_STATES = tuple(s for s in TicketStatus.ALL if s not in TicketStatus.OPEN_STATES)


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """A GET requests filter. `numbers` overrides every other filter, as the spec says."""

    numbers: tuple[str, ...] = ()
    categories: tuple[str, ...] | None = None  # None: any category
    # With `categories`: also tickets whose category is none of these known ones (the triage service).
    other_than: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None  # "open" / "closed"; None: both
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class SubmissionState:
    """A request posted over Open311: its raw row's state and, once the pipeline made it, the ticket."""

    state: str
    tracking_number: str | None


@dataclass(frozen=True, slots=True)
class ForwardedTicket:
    id: int
    tracking_number: str
    status: str
    upstream_id: str | None
    upstream_token: str | None


def _category_filter(query: RequestQuery) -> Any:
    wanted: list[Any] = [Ticket.category.in_(list(query.categories or ()))]
    if query.other_than is not None:
        wanted += [Ticket.category.is_(None), Ticket.category.not_in(list(query.other_than))]
    return or_(*wanted)


async def list_requests(*, session: AsyncSession, query: RequestQuery) -> list[Ticket]:
    stmt = select(Ticket)
    if query.numbers:
        stmt = stmt.where(Ticket.tracking_number.in_([n.upper() for n in query.numbers]))
    else:
        if query.categories is not None:
            stmt = stmt.where(_category_filter(query))
        if query.statuses is not None:
            states = [
                *(TicketStatus.OPEN_STATES if "open" in query.statuses else ()),
                *(CLOSED_STATES if "closed" in query.statuses else ()),
            ]
            stmt = stmt.where(Ticket.status.in_(states))
        if query.start is not None:
            stmt = stmt.where(Ticket.created_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Ticket.created_at <= query.end)
    stmt = stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(query.limit)
    return list((await session.execute(stmt)).scalars())


async def latest_public_notes(*, session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, str]:
    """The newest note staff (or the upstream) made public on each ticket."""
    if not ticket_ids:
        return {}
    found = await session.execute(
        select(Event.ticket_id, Event.data)
        .where(Event.ticket_id.in_(list(ticket_ids)), Event.public.is_(True))
        .order_by(Event.id)
    )
    notes: dict[int, str] = {}
    for ticket_id, data in found.all():
        note = (data or {}).get("public_note")
        if isinstance(note, str) and note.strip():
            notes[ticket_id] = note.strip()
    return notes


async def reporter_names(*, session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, str]:
    if not ticket_ids:
        return {}
    found = await session.execute(
        select(Ticket.id, Contact.name)
        .join(Contact, Contact.id == Ticket.reporter_id)
        .where(Ticket.id.in_(list(ticket_ids)), Contact.name.is_not(None))
    )
    return {ticket_id: name for ticket_id, name in found.all() if name}


async def get_submission(*, session: AsyncSession, token: str) -> SubmissionState | None:
    found = await session.execute(
        select(RawInbound.state, Ticket.tracking_number)
        .outerjoin(Ticket, Ticket.id == RawInbound.ticket_id)
        .where(RawInbound.idempotency_key == SUBMISSION_KEY_PREFIX + token)
    )
    row = found.first()
    return None if row is None else SubmissionState(state=row[0], tracking_number=row[1])


# ---- forwarding to an upstream Open311 system ------------------------------------------------------------------


async def record_upstream_ids(
    *, session: AsyncSession, ticket_id: int, upstream_id: str | None, upstream_token: str | None
) -> None:
    values: dict[str, Any] = {}
    if upstream_id:
        values["upstream_id"] = upstream_id[:100]
    if upstream_token:
        values["upstream_token"] = upstream_token[:100]
    if values:
        await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))


async def list_forwarded_tickets(
    *, session: AsyncSession, closed_within: timedelta, limit: int = 5000, now: datetime | None = None
) -> list[ForwardedTicket]:
    """Tickets the upstream knows about whose status may still change: open ones, and recently closed ones.

    Newest first: past `limit`, the oldest open tickets wait (they are also the least likely to change).
    """
    since = (now or utcnow()) - closed_within
    found = await session.execute(
        select(Ticket.id, Ticket.tracking_number, Ticket.status, Ticket.upstream_id, Ticket.upstream_token)
        .where(
            or_(Ticket.upstream_id.is_not(None), Ticket.upstream_token.is_not(None)),
            or_(Ticket.status.in_(TicketStatus.OPEN_STATES), Ticket.updated_at >= since),
        )
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    return [ForwardedTicket(*row) for row in found.all()]


async def last_upstream_statuses(*, session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What the upstream said last time, per ticket (the data of the newest `upstream-status` event)."""
    if not ticket_ids:
        return {}
    found = await session.execute(
        select(Event.ticket_id, Event.data)
        .where(Event.ticket_id.in_(list(ticket_ids)), Event.action == UPSTREAM_STATUS_ACTION)
        .order_by(Event.id)
    )
    return {ticket_id: dict(data or {}) for ticket_id, data in found.all()}
