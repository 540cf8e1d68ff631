"""Queries for understanding a new report: open tickets it may duplicate, and the questions asked about a ticket."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contact, Event, Ticket, TicketStatus

QUESTION_ASKED = "question-asked"
QUESTION_ANSWERED = "question-answered"
CANDIDATE_COLUMNS = (
    Ticket.id, Ticket.tracking_number, Ticket.reporter_id, Ticket.category, Ticket.created_at, Ticket.lat, Ticket.lon,
    Ticket.address, Ticket.location_source, Ticket.location_confidence, Ticket.summary, Ticket.description,
)  # fmt: skip
Candidate = Row[Any]  # an open ticket as dedupe sees it: the CANDIDATE_COLUMNS, by the Ticket's attribute names


async def list_open_tickets_of_category(
    *,
    session: AsyncSession,
    category: str,
    since: datetime,
    exclude_id: int | None = None,
    near: tuple[float, float] | None = None,
    radius_m: float = 0.0,
    limit: int = 200,
) -> list[Candidate]:
    """Open tickets of `category` created since `since` that are not themselves duplicates, newest first. With
    `near` (lat, lon), only those within a box of `radius_m` around it, or without a point of their own (they may
    still match by address or words): the database narrows the field instead of every ticket being loaded. Rows
    carry only what dedupe reads (named like the Ticket's attributes): whole ORM objects cost ten times more."""
    query = (
        select(*CANDIDATE_COLUMNS)
        .where(
            Ticket.category == category,
            Ticket.status.in_(TicketStatus.OPEN_STATES),
            Ticket.duplicate_of_id.is_(None),
            Ticket.created_at >= since,
        )
        .order_by(Ticket.created_at.desc())
        .limit(limit)
    )
    if near is not None:
        lat, lon = near
        dlat = radius_m / 111_000 * 1.5  # a generous box: the exact distance is measured afterwards
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        in_box = and_(Ticket.lat.between(lat - dlat, lat + dlat), Ticket.lon.between(lon - dlon, lon + dlon))
        query = query.where(or_(Ticket.lat.is_(None), in_box))
    if exclude_id is not None:
        query = query.where(Ticket.id != exclude_id)
    found = await session.execute(query)
    return list(found.all())


async def questions_of_ticket(*, session: AsyncSession, ticket_id: int) -> dict[str, str]:
    """Each field asked about on the ticket -> "asked" or "answered" (at most one question per field, ever)."""
    found = await session.execute(
        select(Event.action, Event.data)
        .where(Event.ticket_id == ticket_id, Event.action.in_((QUESTION_ASKED, QUESTION_ANSWERED)))
        .order_by(Event.id)
    )
    state: dict[str, str] = {}
    for action, data in found.all():
        field = str((data or {}).get("field", ""))
        if field:
            state[field] = "answered" if action == QUESTION_ANSWERED else state.get(field, "asked")
    return state


async def ticket_awaiting_answer(*, session: AsyncSession, phone: str, since: datetime) -> Ticket | None:
    """The open ticket this phone reported most recently, when we asked it a question since `since` that is still
    unanswered: a text from that phone is then the answer, however long it took to come."""
    found = await session.execute(
        select(Ticket)
        .join(Contact, Contact.id == Ticket.reporter_id)
        .where(Contact.kind == "phone", Contact.address == phone, Ticket.status.in_(TicketStatus.OPEN_STATES))
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    ticket = found.scalar_one_or_none()
    if ticket is None or ticket.id is None:
        return None
    asked = await session.execute(
        select(Event.id)
        .where(Event.ticket_id == ticket.id, Event.action == QUESTION_ASKED, Event.created_at >= since)
        .limit(1)
    )
    if asked.first() is None:
        return None
    state = await questions_of_ticket(session=session, ticket_id=ticket.id)
    return ticket if "asked" in state.values() else None
