"""The raw writer's group commit: concurrent arrivals share a transaction, each is answered once it is committed, a
known key is a duplicate; on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.ingest.writer import IngestError, RawWriter
from storage.db import Database
from storage.raw import NewRaw, StoredRaw, list_raw


def _text(sid: str) -> NewRaw:
    body = f"MessageSid={sid}&Body=Streetlight+out".encode()
    return NewRaw(channel="sms", source="twilio", idempotency_key=f"twilio:{sid}", raw=body, message_id=sid)


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[RawWriter]:
    raw_writer = RawWriter(db)
    raw_writer.start()
    yield raw_writer
    await raw_writer.stop()


async def test_concurrent_arrivals_are_committed_before_their_answers(writer: RawWriter, db: Database) -> None:
    sids = [f"SM{n:032x}" for n in range(40)]

    async def store_and_read_back(item: NewRaw) -> tuple[StoredRaw, bool]:
        stored = await writer.store(item)
        async with db.read() as session:  # the answer came after the commit: another connection sees the row
            keys = {row.idempotency_key for row in await list_raw(session=session, limit=1000)}
        return stored, item.idempotency_key in keys

    results = await asyncio.gather(*(store_and_read_back(_text(sid)) for sid in sids))
    assert all(visible for _, visible in results)
    ids = [stored.raw_id for stored, _ in results]
    assert None not in ids and len(set(ids)) == len(sids)
    again = await asyncio.gather(
        writer.store(_text(sids[0])), writer.store(_text("SMnew")), writer.store(_text("SMnew"))
    )
    assert [r.duplicate for r in again] == [True, False, True]
    async with db.read() as session:
        assert len(await list_raw(session=session, limit=1000)) == len(sids) + 1


async def test_a_stopped_writer_refuses_and_what_was_queued_is_committed(db: Database) -> None:
    raw_writer = RawWriter(db)
    with pytest.raises(IngestError):
        await raw_writer.store(_text("SMbefore"))
    raw_writer.start()
    pending = [asyncio.ensure_future(raw_writer.store(_text(f"SM{n}"))) for n in range(5)]
    await asyncio.sleep(0)
    await raw_writer.stop()
    assert all(not fut.result().duplicate for fut in pending)
    with pytest.raises(IngestError):
        await raw_writer.store(_text("SMafter"))
    async with db.read() as session:
        assert len(await list_raw(session=session)) == 5
