"""Storing a batch of raw messages: one answer per item, in order; known keys and repeats are duplicates."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.db import Database
from storage.models import RawBody, RawState
from storage.raw import NewRaw, list_raw, read_raw_bodies, store_raw_batch


def _raw(key: str, body: bytes = b"Subject: x\r\n\r\nbody\r\n") -> NewRaw:
    return NewRaw(channel="email", source="smtp", idempotency_key=key, raw=body, message_id=key, envelope_to="a@b")


async def test_batch_answers_each_item_in_order_and_stores_each_key_once(db: Database) -> None:
    async with db.write() as session:
        [first] = await store_raw_batch(session=session, items=[_raw("k0")])
    batch = [_raw("k1", b"one"), _raw("k0"), _raw("k2"), _raw("k1", b"again"), _raw("k3")]
    async with db.write() as session:
        results = await store_raw_batch(session=session, items=batch)
    assert first.raw_id is not None and not first.duplicate
    assert [r.duplicate for r in results] == [False, True, False, True, False]
    assert results[1].raw_id is None and results[3].raw_id is None
    new_ids = [r.raw_id for r in results if r.raw_id is not None]
    assert len(set(new_ids)) == 3 and first.raw_id not in new_ids
    async with db.read() as session:
        rows = {r.id: r for r in await list_raw(session=session)}
        bodies = await read_raw_bodies(session=session, raw_ids=list(rows))
        body_rows = (await session.execute(select(func.count()).select_from(RawBody))).scalar_one()
    assert len(rows) == 4 and body_rows == 4  # a repeat stores no second body
    one = rows[results[0].raw_id]
    assert (one.idempotency_key, one.size, one.state, one.attempts) == ("k1", 3, RawState.PENDING, 0)
    assert bodies[results[0].raw_id] == b"one" and bodies[first.raw_id] == _raw("k0").raw  # the first copy's bytes
    assert (one.envelope_to, one.message_id, one.lease_owner) == ("a@b", "k1", None)
    assert rows[results[2].raw_id].idempotency_key == "k2" and rows[results[4].raw_id].idempotency_key == "k3"


async def test_a_batch_of_only_known_keys_stores_nothing(db: Database) -> None:
    async with db.write() as session:
        await store_raw_batch(session=session, items=[_raw("a"), _raw("b")])
    async with db.write() as session:
        results = await store_raw_batch(session=session, items=[_raw("b"), _raw("a")])
    assert [r.duplicate for r in results] == [True, True]
    async with db.read() as session:
        assert len(await list_raw(session=session)) == 2
