"""Fixtures of the storage tests."""

from __future__ import annotations

import pytest

from storage.db import Database
from storage.tickets import create_ticket


@pytest.fixture
async def ticket_id(db: Database) -> int:
    """A new ticket in the test's database, committed."""
    async with db.write() as session:
        ticket = await create_ticket(session=session, prefix="SR", status="new", channel="email", summary="x")
    assert ticket.id is not None
    return ticket.id
