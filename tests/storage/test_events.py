"""Audit events kept in a pipeline transaction: written together, in order, and never read around."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from storage.db import Database
from storage.duplicates import QUESTION_ANSWERED, QUESTION_ASKED, questions_of_ticket
from storage.events import add_event, keep_events, kept_events, reads_events, write_kept_events
from storage.models import Event, Ticket
from storage.tickets import create_ticket, list_events


async def test_kept_events_go_in_as_one_statement_in_the_order_they_were_made(
    db: Database, ticket_id: int, event_inserts: list[int]
) -> None:
    async with db.write() as session:
        keep_events(session)
        for action in ("created", "categorised", "acknowledged"):
            await add_event(session=session, ticket_id=ticket_id, actor="system", action=action, data={"n": action})
            await session.execute(select(Ticket).where(Ticket.id == ticket_id))  # other tables: the events wait
        assert event_inserts == []
        await write_kept_events(session)
    assert len(event_inserts) == 1
    async with db.read() as session:
        events = await list_events(session=session, ticket_id=ticket_id)
    assert [(e.action, e.data) for e in events] == [
        ("created", {"n": "created"}), ("categorised", {"n": "categorised"}), ("acknowledged", {"n": "acknowledged"})
    ]  # fmt: skip


async def test_a_read_of_the_event_table_in_the_transaction_sees_the_kept_events(db: Database, ticket_id: int) -> None:
    async with db.write() as session:
        keep_events(session)
        await add_event(session=session, ticket_id=ticket_id, actor="system", action="question-asked")
        await add_event(session=session, ticket_id=ticket_id, actor="system", action="created")
        counted = await session.execute(select(func.count()).select_from(Event))  # no class named: written first
        assert counted.scalar_one() == 2
        await add_event(session=session, ticket_id=ticket_id, actor="system", action="reminder")
        asked = await session.execute(select(Event.action).where(Event.action.in_(("question-asked", "reminder"))))
        assert asked.scalars().all() == ["question-asked", "reminder"]
        assert [e.action for e in await list_events(session=session, ticket_id=ticket_id)] == [
            "question-asked", "created", "reminder"
        ]  # fmt: skip
        await add_event(session=session, ticket_id=ticket_id, actor="system", action="acknowledged")
        await write_kept_events(session)
    async with db.read() as session:
        total = (await session.execute(select(func.count()).select_from(Event))).scalar_one()
    assert total == 4


async def test_kept_events_of_a_rolled_back_transaction_are_gone(db: Database, ticket_id: int) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            keep_events(session)
            await add_event(session=session, ticket_id=ticket_id, actor="system", action="created")
            raise RuntimeError("a stage fell over")
    async with db.write() as session:  # a new transaction writes at once again
        await add_event(session=session, ticket_id=ticket_id, actor="staff", action="note")
    async with db.read() as session:
        assert [e.action for e in await list_events(session=session, ticket_id=ticket_id)] == ["note"]


def test_which_statements_may_read_the_event_table() -> None:
    assert reads_events(select(Event.action))
    assert reads_events(select(func.count()))  # a count of no named table could be of events
    assert reads_events(select(Ticket.id).union_all(select(Ticket.id)))  # a compound SELECT: not looked into
    assert not reads_events(select(Ticket.id, Ticket.summary))
    assert not reads_events(insert(Event.__table__))
    statement = select(Ticket.id)
    assert reads_events(statement) is reads_events(statement) is False  # asked again: the answer kept with it


async def test_the_questions_of_a_ticket_count_kept_events_without_writing_them(db: Database, ticket_id: int) -> None:
    async with db.write() as session:
        await add_event(session=session, ticket_id=ticket_id, actor="system", action=QUESTION_ASKED,
                        data={"field": "location"})  # fmt: skip
        other = await create_ticket(session=session, prefix="SR", status="new", channel="email", summary="y")
    async with db.write() as session:
        keep_events(session)
        await add_event(session=session, ticket_id=ticket_id, actor="resident", action=QUESTION_ANSWERED,
                        data={"field": "location"})  # fmt: skip
        await add_event(session=session, ticket_id=ticket_id, actor="system", action=QUESTION_ASKED,
                        data={"field": "category"})  # fmt: skip
        await add_event(session=session, ticket_id=other.id, actor="system", action=QUESTION_ASKED,
                        data={"field": "place"})  # another ticket's: not this one's  # fmt: skip
        asked = await questions_of_ticket(session=session, ticket_id=ticket_id)
        assert len(kept_events(session)) == 3  # still kept: the transaction writes them in one go at its end
        await write_kept_events(session)
    assert asked == {"location": "answered", "category": "asked"}
