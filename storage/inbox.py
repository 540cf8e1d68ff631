"""The staff inbox list: filters, full-text search and keyset paging, in one query per page (no N+1).

Newest activity first. Paging is by keyset `(last_activity_at, id)`, never OFFSET, so page 2,000 costs what page 1
costs. Search uses SQLite FTS5 (`ticket_fts`) or a PostgreSQL GIN tsvector index, both made by migration 0003.
SQLite indexes a new ticket shortly after it is written (storage/sqlite_search.py): a search that must see tickets
made a moment ago runs after `Database.catch_up_search()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Contact, StaffUser, Ticket, TicketStatus, TicketView

UNCATEGORISED = "uncategorised"
# The same expression as the index of migration 0003: PostgreSQL uses the index only for an identical expression.
PG_SEARCH_VECTOR = (
    "to_tsvector('simple', coalesce(ticket.tracking_number, '') || ' ' || coalesce(ticket.summary, '') || ' ' || "
    "coalesce(ticket.description, '') || ' ' || coalesce(ticket.address, ''))"
)
_WORD = re.compile(r"\w+", re.UNICODE)
_TRACKING = re.compile(r"^\s*([A-Za-z0-9]{1,8})-(\d{4})-(\d{6})\s*$")


@dataclass(frozen=True, slots=True)
class InboxFilter:
    statuses: tuple[str, ...] = ()  # empty: every status
    category: str | None = None
    department: str | None = None
    channel: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    needs_triage: bool = False
    unread_for: int | None = None  # a staff id: only tickets with activity since that person last opened them
    query: str = ""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the next page starts strictly after this (activity, id)."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value:
            return None
        at, _, ident = value.partition("~")
        try:
            return cls(at=datetime.fromisoformat(at), id=int(ident))
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    tracking_number: str
    status: str
    channel: str
    category: str | None
    category_confidence: float | None
    department: str | None
    priority: str
    summary: str
    address: str | None
    needs_review: bool
    created_at: datetime
    last_activity_at: datetime
    assignee: str | None
    reporter: str | None
    unread: bool


@dataclass(frozen=True, slots=True)
class InboxPage:
    rows: list[InboxRow]
    next_cursor: Cursor | None


def fts5_query(text_: str) -> str:
    """User words as an FTS5 expression: every word must appear, each as a prefix; no operator can be injected."""
    return " ".join(f'"{w}"*' for w in _WORD.findall(text_.lower())[:8])


def pg_tsquery(text_: str) -> str:
    return " & ".join(f"{w}:*" for w in _WORD.findall(text_.lower())[:8])


def _search(session: AsyncSession, query: str) -> ColumnElement[bool]:
    query = query.strip()
    match = _TRACKING.match(query)
    if match:
        return Ticket.tracking_number == "-".join(match.groups()).upper()
    if "@" in query or query.startswith("+"):  # an address or phone number: the reporter
        reporter = select(Contact.id).where(Contact.address == query.lower())
        return Ticket.reporter_id.in_(reporter.scalar_subquery())
    if not _WORD.search(query):
        return false()
    if session.bind.dialect.name == "postgresql":
        return text(f"{PG_SEARCH_VECTOR} @@ to_tsquery('simple', :tsq)").bindparams(tsq=pg_tsquery(query))
    matching = text("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH :fts").bindparams(fts=fts5_query(query))
    return Ticket.id.in_(matching)


def _conditions(session: AsyncSession, f: InboxFilter, seen: type[TicketView]) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.category:
        where.append(Ticket.category == f.category)
    if f.department:
        where.append(Ticket.department == f.department)
    if f.channel:
        where.append(Ticket.channel == f.channel)
    if f.unassigned:
        where.append(Ticket.assignee_id.is_(None))
    elif f.assignee_id is not None:
        where.append(Ticket.assignee_id == f.assignee_id)
    if f.needs_triage:
        where.append(or_(Ticket.category.is_(None), Ticket.category == UNCATEGORISED, Ticket.needs_review.is_(True)))
    if f.unread_for is not None:
        where.append(or_(seen.seen_at.is_(None), seen.seen_at < Ticket.last_activity_at))
    if f.query.strip():
        where.append(_search(session, f.query))
    return where


def _select(
    session: AsyncSession, f: InboxFilter, after: Cursor | None, limit: int, statuses: tuple[str, ...]
) -> Select:
    seen = aliased(TicketView)
    assignee = aliased(StaffUser)
    reporter = aliased(Contact)
    viewer = f.unread_for if f.unread_for is not None else -1
    stmt = (
        select(
            Ticket,
            func.coalesce(assignee.name, assignee.email).label("assignee"),
            func.coalesce(reporter.name, reporter.address).label("reporter"),
            seen.seen_at,
        )
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .outerjoin(reporter, reporter.id == Ticket.reporter_id)
        .outerjoin(seen, and_(seen.ticket_id == Ticket.id, seen.staff_id == viewer))
        .where(*_conditions(session, f, seen))
    )
    if statuses:
        stmt = stmt.where(Ticket.status == statuses[0] if len(statuses) == 1 else Ticket.status.in_(statuses))
    if after is not None:
        stmt = stmt.where(
            tuple_(Ticket.last_activity_at, Ticket.id)
            < tuple_(literal(after.at, Ticket.last_activity_at.type), after.id)
        )
    return stmt.order_by(Ticket.last_activity_at.desc(), Ticket.id.desc()).limit(limit)


async def list_inbox(
    *, session: AsyncSession, filters: InboxFilter, after: Cursor | None = None, limit: int = 50
) -> InboxPage:
    """One page of the inbox, newest activity first, and the cursor of the next page (None on the last)."""
    statuses = tuple(dict.fromkeys(s for s in filters.statuses if s in TicketStatus.ALL))
    if filters.statuses and not statuses:
        return InboxPage(rows=[], next_cursor=None)
    if len(statuses) > 1:
        # One ordered index range per status, merged: each part reads at most `limit + 1` rows through
        # ix_ticket_status_activity, where a single IN (...) would have to sort every open ticket.
        parts = [_select(session, filters, after, limit + 1, (s,)).subquery().select() for s in statuses]
        union = parts[0].union_all(*parts[1:]).subquery()
        merged = aliased(Ticket, union)
        stmt = (
            select(merged, union.c.assignee, union.c.reporter, union.c.seen_at)
            .order_by(union.c.last_activity_at.desc(), union.c.id.desc())
            .limit(limit + 1)
        )
    else:
        stmt = _select(session, filters, after, limit + 1, statuses)
    result = (await session.execute(stmt)).all()
    rows = [_row(ticket, assignee, reporter, seen_at) for ticket, assignee, reporter, seen_at in result[:limit]]
    more = len(result) > limit
    return InboxPage(rows=rows, next_cursor=Cursor(rows[-1].last_activity_at, rows[-1].id) if more else None)


def _row(ticket: Ticket, assignee: str | None, reporter: str | None, seen_at: datetime | None) -> InboxRow:
    assert ticket.id is not None
    return InboxRow(
        id=ticket.id,
        tracking_number=ticket.tracking_number,
        status=ticket.status,
        channel=ticket.channel,
        category=ticket.category,
        category_confidence=ticket.category_confidence,
        department=ticket.department,
        priority=ticket.priority,
        summary=ticket.summary,
        address=ticket.address,
        needs_review=ticket.needs_review,
        created_at=ticket.created_at,
        last_activity_at=ticket.last_activity_at,
        assignee=assignee,
        reporter=reporter,
        unread=seen_at is None or seen_at < ticket.last_activity_at,
    )


async def distinct_values(*, session: AsyncSession) -> dict[str, list[str]]:
    """Categories and departments in use, for the filter menus (two small index-only scans)."""
    out: dict[str, list[str]] = {}
    for name, column in (("category", Ticket.category), ("department", Ticket.department)):
        found = await session.execute(select(column).where(column.is_not(None)).distinct().order_by(column))
        out[name] = [v for v in found.scalars() if v]
    return out
