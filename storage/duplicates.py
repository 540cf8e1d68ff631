"""Queries for understanding a new report: open tickets it may duplicate, and the questions asked about a ticket."""

from __future__ import annotations

import functools
import math
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.core import execute_core
from storage.events import kept_events_of
from storage.models import OPEN_ORIGINAL_SQL, Contact, Event, Ticket, TicketStatus
from storage.sqlite_direct import prepared

QUESTION_ASKED = "question-asked"
QUESTION_ANSWERED = "question-answered"
PLACE_COLUMNS = (
    Ticket.id, Ticket.tracking_number, Ticket.reporter_id, Ticket.category, Ticket.created_at, Ticket.lat, Ticket.lon,
    Ticket.address, Ticket.location_source, Ticket.location_confidence, Ticket.address_key,
)  # fmt: skip
Candidate = Row[Any]  # an open ticket as dedupe sees it: the columns above and its text (Ticket attribute names)


@functools.cache
def _candidates_query(by_point: bool, by_key: bool) -> Select[Any]:
    """The candidate search of each shape, built once (the values are bound at execution): it runs per report.

    By recency or by point, the open originals of the category in the window are read through their partial index
    (ix_ticket_open_category), whose terms the query then repeats as literals. By address key alone, the few
    tickets ever made at that place are fewer than those: there the statuses are parameters, which keep SQLite
    from the partial index and on ix_ticket_category_place (PostgreSQL chooses by its statistics)."""
    located = by_point or by_key
    by_key_alone = by_key and not by_point
    open_original = (
        and_(Ticket.status.in_(TicketStatus.OPEN_STATES), Ticket.duplicate_of_id.is_(None))
        if by_key_alone
        else text(OPEN_ORIGINAL_SQL)
    )
    words = (Ticket.summary, literal("").label("description")) if located else (Ticket.summary, Ticket.description)
    query = (
        select(*PLACE_COLUMNS, *words)
        .where(
            Ticket.category == bindparam("category"),
            open_original,
            Ticket.created_at >= bindparam("since"),
            Ticket.id != bindparam("exclude_id"),
        )
        .order_by(Ticket.created_at.desc())
        .limit(bindparam("limit"))
    )
    same_place = []
    if by_point:
        same_place.append(
            and_(
                Ticket.lat.between(bindparam("lat_lo"), bindparam("lat_hi")),
                Ticket.lon.between(bindparam("lon_lo"), bindparam("lon_hi")),
            )
        )
    if by_key:
        same_place.append(Ticket.address_key == bindparam("address_key"))
    return prepared(query.where(or_(*same_place)) if same_place else query)


async def list_open_tickets_of_category(
    *,
    session: AsyncSession,
    category: str,
    since: datetime,
    exclude_id: int | None = None,
    near: tuple[float, float] | None = None,
    radius_m: float = 0.0,
    address_key: str | None = None,
    limit: int = 200,
) -> list[Candidate]:
    """Open tickets of `category` created since `since` that are not themselves duplicates, newest first.

    A report with a place is only ever linked by place, so then only tickets within a box of `radius_m` around
    `near` (lat, lon) or with the same `address_key` are read, and without their text: the database narrows the
    field through its indexes. A report without a place is compared by its words with the `limit` latest tickets.
    Rows carry only what dedupe reads: whole ORM objects cost ten times more."""
    params: dict[str, Any] = {"category": category, "since": since, "limit": limit, "exclude_id": exclude_id or 0}
    if near is not None:
        lat, lon = near
        dlat = radius_m / 111_000 * 1.5  # a generous box: the exact distance is measured afterwards
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        params |= {"lat_lo": lat - dlat, "lat_hi": lat + dlat, "lon_lo": lon - dlon, "lon_hi": lon + dlon}
    if address_key is not None:
        params["address_key"] = address_key
    query = _candidates_query(near is not None, address_key is not None)
    found = await execute_core(session, query, params)
    return list(found.all())


_QUESTIONS = prepared(  # built once: asked for every new report that lacks a place or a category
    select(Event.action, Event.data)
    .where(Event.ticket_id == bindparam("ticket_id"), Event.action.in_((QUESTION_ASKED, QUESTION_ANSWERED)))
    .order_by(Event.id)
)


async def questions_of_ticket(*, session: AsyncSession, ticket_id: int) -> dict[str, str]:
    """Each field asked about on the ticket -> "asked" or "answered" (at most one question per field, ever).

    Events this transaction made and has not written yet are read where they are kept, after the written ones:
    a pipeline transaction writes them all in one statement at its end, and a read of the event table would
    otherwise write them first, for every new report it asks about."""
    found = await execute_core(session, _QUESTIONS, {"ticket_id": ticket_id}, reads_kept_events=True)
    written = [(action, data) for action, data in found.all()]
    kept = [(e["action"], e["data"]) for e in kept_events_of(session, ticket_id, (QUESTION_ASKED, QUESTION_ANSWERED))]
    state: dict[str, str] = {}
    for action, data in written + kept:
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
