"""Checkpoint and source queries of the IMAP ingestor, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

from storage.db import Database
from storage.imap import (
    get_checkpoint,
    list_checkpoints,
    save_checkpoint,
    stored_digests_without_message_id,
    stored_message_ids,
    summarize_source,
)
from storage.raw import NewRaw, store_raw_batch


async def test_checkpoint_only_moves_forward_under_one_uidvalidity(db: Database) -> None:
    async with db.write() as session:
        assert await get_checkpoint(session=session, account="city", folder="INBOX") is None
        await save_checkpoint(session=session, account="city", folder="INBOX", uidvalidity=7, last_uid=40)
    async with db.write() as session:
        await save_checkpoint(session=session, account="city", folder="INBOX", uidvalidity=7, last_uid=12)
    async with db.read() as session:
        cp = await get_checkpoint(session=session, account="city", folder="INBOX")
    assert cp is not None and (cp.uidvalidity, cp.last_uid) == (7, 40)


async def test_new_uidvalidity_replaces_the_checkpoint(db: Database) -> None:
    async with db.write() as session:
        await save_checkpoint(session=session, account="city", folder="INBOX", uidvalidity=7, last_uid=40)
    async with db.write() as session:
        await save_checkpoint(session=session, account="city", folder="INBOX", uidvalidity=9, last_uid=3)
    async with db.read() as session:
        cp = await get_checkpoint(session=session, account="city", folder="INBOX")
    assert cp is not None and (cp.uidvalidity, cp.last_uid) == (9, 3)


async def test_checkpoints_are_per_account_and_folder(db: Database) -> None:
    async with db.write() as session:
        await save_checkpoint(session=session, account="city", folder="INBOX", uidvalidity=1, last_uid=5)
        await save_checkpoint(session=session, account="city", folder="Reports", uidvalidity=2, last_uid=6)
        await save_checkpoint(session=session, account="parks", folder="INBOX", uidvalidity=3, last_uid=7)
    async with db.read() as session:
        everything = await list_checkpoints(session=session)
        city = await list_checkpoints(session=session, account="city")
    assert [(c.account, c.folder, c.last_uid) for c in everything] == [
        ("city", "INBOX", 5), ("city", "Reports", 6), ("parks", "INBOX", 7),
    ]  # fmt: skip
    assert [c.folder for c in city] == ["INBOX", "Reports"]


async def test_uidvalidity_and_uid_above_31_bits_are_kept(db: Database) -> None:
    # RFC 3501: both are unsigned 32-bit numbers; servers do hand out values above 2**31.
    async with db.write() as session:
        await save_checkpoint(session=session, account="city", folder="INBOX", uidvalidity=4_294_967_295,
                              last_uid=3_000_000_000)  # fmt: skip
    async with db.read() as session:
        cp = await get_checkpoint(session=session, account="city", folder="INBOX")
    assert cp is not None and (cp.uidvalidity, cp.last_uid) == (4_294_967_295, 3_000_000_000)


async def test_stored_message_ids_and_source_summary(db: Database) -> None:
    items = [
        NewRaw(channel="email", source="imap:city", idempotency_key=f"imap:city:INBOX:1:{n}", raw=b"x",
               message_id=f"m{n}@example.test")
        for n in range(3)
    ]  # fmt: skip
    async with db.write() as session:
        await store_raw_batch(session=session, items=items)
    async with db.read() as session:
        known = await stored_message_ids(session=session, message_ids=["m1@example.test", "nope@x", "m2@example.test"])
        summary = await summarize_source(session=session, source="imap:city")
        other = await summarize_source(session=session, source="imap:parks")
        assert await stored_message_ids(session=session, message_ids=[]) == set()
    assert known == {"m1@example.test", "m2@example.test"}
    assert summary.by_state == {"pending": 3} and summary.total == 3 and summary.last_received_at is not None
    assert other.total == 0 and other.last_received_at is None


async def test_digests_of_stored_messages_without_a_message_id(db: Database) -> None:
    anonymous, other_size, named = b"Subject: a\r\n\r\nno id\r\n", b"Subject: b\r\n\r\nlonger, no id\r\n", b"x" * 22
    async with db.write() as session:
        await store_raw_batch(
            session=session,
            items=[
                NewRaw(channel="email", source="imap:city", idempotency_key="k1", raw=anonymous),
                NewRaw(channel="email", source="imap:city", idempotency_key="k2", raw=other_size),
                NewRaw(channel="email", source="imap:city", idempotency_key="k3", raw=named, message_id="m@x"),
                NewRaw(channel="email", source="imap:parks", idempotency_key="k4", raw=anonymous + b" "),
            ],
        )
    async with db.read() as session:
        found = await stored_digests_without_message_id(session=session, source="imap:city", sizes=[len(anonymous)])
        none = await stored_digests_without_message_id(session=session, source="imap:parks", sizes=[len(anonymous)])
    assert found == {hashlib.sha256(anonymous).hexdigest()}  # not the longer one, not the one with a Message-ID
    assert none == set()  # another account's rows are not read
