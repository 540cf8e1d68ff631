"""Queries on tickets, their messages, contacts and the audit log."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from storage.apart import execute_apart, undo_on_rollback
from storage.core import execute_core
from storage.db import DIALECTS, as_loaded, conflict_insert, insert_returning, insert_row_id
from storage.events import add_event as add_event  # where callers have always found it
from storage.models import Contact, Event, Message, Outbox, Ticket, TrackingCounter, utcnow
from storage.sqlite_direct import prepared


def new_token(nbytes: int = 16) -> str:
    """An unguessable URL-safe token (public tracking links, reply addresses)."""
    return secrets.token_urlsafe(nbytes)


def _new_contact_statement(dialect: str) -> Executable:
    insert = conflict_insert(dialect)
    columns = ("kind", "address", "name", "language", "opted_out", "bounced", "created_at", "updated_at")
    return (
        insert(Contact.__table__)  # Core: a plain statement, without the ORM's bulk-insert bookkeeping
        .values({c: bindparam(c) for c in columns})
        .on_conflict_do_nothing(index_elements=["kind", "address"])
        .returning(*Contact.__table__.c)  # the new row; none when the address is known
    )


# Built once: every message looks its sender up, and building the statements cost more than running them.
_NEW_CONTACT = {name: prepared(_new_contact_statement(name)) for name in DIALECTS}
_CONTACT_BY_ADDRESS = prepared(
    select(*Contact.__table__.c).where(Contact.kind == bindparam("kind"), Contact.address == bindparam("address"))
)


async def get_or_create_contact(
    *, session: AsyncSession, kind: str, address: str, name: str | None = None, language: str | None = None
) -> Contact:
    """The contact for this address, made on first sight with the name and language it came with."""
    now = utcnow()
    made = await execute_core(
        session,
        _NEW_CONTACT[session.bind.dialect.name],
        {"kind": kind, "address": address, "name": name, "language": language, "opted_out": False, "bounced": False,
         "created_at": now, "updated_at": now},
    )  # fmt: skip
    row = made.first()
    if row is None:  # known already (or made by a transaction that committed while this one waited)
        row = (await execute_core(session, _CONTACT_BY_ADDRESS, {"kind": kind, "address": address})).one()
    contact = as_loaded(session, Contact, row)
    if name and not contact.name:
        contact.name = name
    if language and not contact.language:
        contact.language = language
    return contact


async def get_contact(*, session: AsyncSession, contact_id: int) -> Contact | None:
    return await session.get(Contact, contact_id)


def _next_number_statement(dialect: str) -> Executable:
    insert = conflict_insert(dialect)
    counter = TrackingCounter.__table__
    return (
        insert(counter)
        .values(prefix=bindparam("prefix"), year=bindparam("year"), last=1)
        .on_conflict_do_update(index_elements=["prefix", "year"], set_={"last": counter.c.last + 1})
        .returning(counter.c.last)
    )


_NEXT_NUMBER = {name: prepared(_next_number_statement(name)) for name in DIALECTS}  # built once: hot path
_GIVE_BACK_NUMBER = (  # only while no later number was taken: numbers are never given out twice
    update(TrackingCounter)
    .where(
        TrackingCounter.prefix == bindparam("of_prefix"),  # (an UPDATE's own column names are its SET's)
        TrackingCounter.year == bindparam("of_year"),
        TrackingCounter.last == bindparam("taken"),
    )
    .values(last=TrackingCounter.last - 1)
)


async def next_tracking_number(*, session: AsyncSession, prefix: str, year: int) -> str:
    """SR-2026-000042: a per-year sequence, unique under concurrent instances (the upsert takes a row lock, held
    for one statement on PostgreSQL: storage/apart.py)."""
    stmt = _NEXT_NUMBER[session.bind.dialect.name]
    n = (await execute_apart(session, stmt, {"prefix": prefix, "year": year})).scalar_one()
    undo_on_rollback(session, _GIVE_BACK_NUMBER, {"of_prefix": prefix, "of_year": year, "taken": n})
    return f"{prefix}-{year}-{n:06d}"


async def create_ticket(*, session: AsyncSession, prefix: str, now: datetime | None = None, **fields: Any) -> Ticket:
    now = now or utcnow()
    values = {
        "tracking_number": await next_tracking_number(session=session, prefix=prefix, year=now.year),
        "public_token": new_token(),
        "reply_token": secrets.token_hex(8),  # hex: survives mail systems that lower-case local parts
        "created_at": now,
        "updated_at": now,
        "last_activity_at": now,
        **fields,
    }
    return await insert_returning(session, Ticket, values)


async def get_ticket(*, session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def get_ticket_by_number(*, session: AsyncSession, tracking_number: str) -> Ticket | None:
    found = await session.execute(select(Ticket).where(Ticket.tracking_number == tracking_number.upper()))
    return found.scalar_one_or_none()


async def find_ticket_by_reply_token(*, session: AsyncSession, token: str) -> Ticket | None:
    found = await session.execute(select(Ticket).where(Ticket.reply_token == token))
    return found.scalar_one_or_none()


async def find_ticket_by_message_ids(*, session: AsyncSession, message_ids: Sequence[str]) -> int | None:
    """The ticket that any of these Message-IDs (sent or received by us) belongs to; the latest one wins."""
    ids = [m for m in message_ids if m]
    if not ids:
        return None
    ours = await session.execute(
        select(Outbox.ticket_id)
        .where(Outbox.message_id.in_(ids), Outbox.ticket_id.is_not(None))
        .order_by(Outbox.id.desc())
        .limit(1)
    )
    ticket_id = ours.scalar_one_or_none()
    if ticket_id is not None:
        return ticket_id
    theirs = await session.execute(
        select(Message.ticket_id).where(Message.external_id.in_(ids)).order_by(Message.id.desc()).limit(1)
    )
    return theirs.scalar_one_or_none()


async def add_message(*, session: AsyncSession, **fields: Any) -> Message:
    return await insert_returning(session, Message, fields)


async def add_message_row(*, session: AsyncSession, **fields: Any) -> int:
    """`add_message` for callers that need only the new id (the pipeline: once per message)."""
    return await insert_row_id(session, Message, fields)


@functools.cache
def _touch_statement(fields: tuple[str, ...]) -> Executable:
    """The update of these columns (and the activity times), built once per set of columns."""
    table = Ticket.__table__
    values = {name: bindparam(f"new_{name}") for name in ("updated_at", "last_activity_at", *fields)}
    return prepared(update(table).where(table.c.id == bindparam("ticket_id")).values(values))


async def touch_ticket(*, session: AsyncSession, ticket_id: int, **fields: Any) -> None:
    """Update the ticket's row (and its activity time); a Ticket this session holds shows the new values too."""
    now = utcnow()
    values = {"updated_at": now, "last_activity_at": now, **fields}
    # Core on the table: the ORM's update would compare every object the session holds to keep them in step,
    # which in a pipeline transaction of many messages is most of the cost; only this ticket can have changed.
    stmt = _touch_statement(tuple(sorted(fields)))
    await execute_core(session, stmt, {"ticket_id": ticket_id, **{f"new_{k}": v for k, v in values.items()}})
    held = session.sync_session.identity_map.get(Session.identity_key(Ticket, ticket_id))
    if held is not None:
        for name, value in values.items():
            set_committed_value(held, name, value)


async def list_tickets(
    *,
    session: AsyncSession,
    limit: int = 100,
    offset: int = 0,
    status: str | None = None,
    channel: str | None = None,
    query: str | None = None,
) -> list[Ticket]:
    stmt = select(Ticket).order_by(Ticket.last_activity_at.desc(), Ticket.id.desc()).limit(limit).offset(offset)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if channel:
        stmt = stmt.where(Ticket.channel == channel)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(or_(Ticket.summary.ilike(like), Ticket.tracking_number.ilike(like)))
    return list((await session.execute(stmt)).scalars())


async def count_tickets(*, session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(Ticket))).scalar_one()


async def list_public_events(*, session: AsyncSession, ticket_id: int) -> list[Event]:
    found = await session.execute(
        select(Event).where(Event.ticket_id == ticket_id, Event.public.is_(True)).order_by(Event.id)
    )
    return list(found.scalars())


async def list_events(*, session: AsyncSession, ticket_id: int) -> list[Event]:
    found = await session.execute(select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id))
    return list(found.scalars())


async def list_messages(*, session: AsyncSession, ticket_id: int) -> list[Message]:
    found = await session.execute(select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id))
    return list(found.scalars())
