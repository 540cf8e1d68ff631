"""Core statements on the session's connection see what `session.execute` would: pending changes, kept events."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.core import execute_core
from storage.db import Database
from storage.events import add_event, keep_events, kept_events, write_kept_events
from storage.models import Contact, Event
from storage.sms import is_ticket_party, subscribe_to_ticket
from storage.tickets import get_or_create_contact


async def test_a_change_to_an_object_is_flushed_before_a_core_read(db: Database) -> None:
    async with db.write() as session:
        contact = await get_or_create_contact(session=session, kind="email", address="ana@example.org")
        contact.name = "Ana"  # pending in the session, not yet in the database
        found = await execute_core(session, select(Contact.name).where(Contact.id == contact.id))
        assert found.scalar_one() == "Ana"


async def test_kept_events_are_written_before_a_core_read_of_the_event_table(db: Database, ticket_id: int) -> None:
    async with db.write() as session:
        keep_events(session)
        await add_event(session=session, ticket_id=ticket_id, actor="system", action="created")
        await execute_core(session, select(Contact.id))  # another table: the event waits
        assert len(kept_events(session)) == 1
        counted = await execute_core(session, select(func.count(Event.id)))
        assert counted.scalar_one() == 1
        assert kept_events(session) == []


async def test_a_kept_subscription_counts_without_being_written_first(
    db: Database, ticket_id: int, event_inserts: list[int]
) -> None:
    async with db.write() as session:
        contact = await get_or_create_contact(session=session, kind="phone", address="+15555550100")
        assert contact.id is not None
    async with db.write() as session:
        keep_events(session)
        assert not await is_ticket_party(session=session, ticket_id=ticket_id, contact_id=contact.id, reporter_id=None)
        await subscribe_to_ticket(session=session, ticket_id=ticket_id, contact_id=contact.id, reporter_id=None)
        assert await is_ticket_party(session=session, ticket_id=ticket_id, contact_id=contact.id, reporter_id=None)
        await subscribe_to_ticket(session=session, ticket_id=ticket_id, contact_id=contact.id, reporter_id=None)
        assert event_inserts == []  # both answers came without writing the kept event
        await write_kept_events(session)
    assert len(event_inserts) == 1
    async with db.read() as session:
        subscribed = await session.execute(select(func.count()).select_from(Event).where(Event.action == "subscribed"))
        assert subscribed.scalar_one() == 1  # subscribed once, not twice
    async with db.write() as session:  # and a later transaction finds the written one
        assert await is_ticket_party(session=session, ticket_id=ticket_id, contact_id=contact.id, reporter_id=None)
