"""Queries for the IMAP ingestor: per-account, per-folder checkpoints and what an account has stored so far."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import conflict_insert
from storage.models import ImapCheckpoint, RawBody, RawInbound, utcnow


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """What one ingest source (e.g. `imap:city`) has stored: rows per state and the newest arrival."""

    by_state: dict[str, int]
    last_received_at: datetime | None

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


async def get_checkpoint(*, session: AsyncSession, account: str, folder: str) -> ImapCheckpoint | None:
    found = await session.execute(
        select(ImapCheckpoint).where(ImapCheckpoint.account == account, ImapCheckpoint.folder == folder)
    )
    return found.scalar_one_or_none()


async def save_checkpoint(*, session: AsyncSession, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
    """Record that every message up to `last_uid` under `uidvalidity` is stored and handled on the server.

    Under the same UIDVALIDITY the last UID only moves forward, so a late or repeated save cannot rewind it; a new
    UIDVALIDITY replaces it (the server renumbered the folder). `updated_at` is touched either way: it is the
    time of the last completed sync.
    """
    insert = conflict_insert(session.bind.dialect.name)
    stmt = insert(ImapCheckpoint).values(
        account=account, folder=folder, uidvalidity=uidvalidity, last_uid=last_uid, updated_at=utcnow()
    )
    same_validity = ImapCheckpoint.uidvalidity == stmt.excluded.uidvalidity
    keep_higher = func.max if session.bind.dialect.name != "postgresql" else func.greatest
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account", "folder"],
            set_={
                "uidvalidity": stmt.excluded.uidvalidity,
                "last_uid": case(
                    (same_validity, keep_higher(ImapCheckpoint.last_uid, stmt.excluded.last_uid)),
                    else_=stmt.excluded.last_uid,
                ),
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


async def list_checkpoints(*, session: AsyncSession, account: str | None = None) -> list[ImapCheckpoint]:
    stmt = select(ImapCheckpoint).order_by(ImapCheckpoint.account, ImapCheckpoint.folder)
    if account is not None:
        stmt = stmt.where(ImapCheckpoint.account == account)
    return list((await session.execute(stmt)).scalars())


async def stored_message_ids(*, session: AsyncSession, message_ids: Sequence[str]) -> set[str]:
    """Which of these Message-IDs are already stored under any key: one query for a whole fetched batch."""
    wanted = sorted(set(message_ids))
    if not wanted:
        return set()
    found: set[str] = set()
    # stay well under SQLite's bound-parameter limit however large a batch is configured
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await session.execute(select(RawInbound.message_id).where(RawInbound.message_id.in_(chunk)))
        found.update(m for m in rows.scalars() if m is not None)
    return found


async def stored_digests_without_message_id(*, session: AsyncSession, source: str, sizes: Sequence[int]) -> set[str]:
    """SHA-256 of this source's stored messages that have no Message-ID and one of these sizes.

    After a UIDVALIDITY change their old keys no longer match, and they have no Message-ID to be recognised by; their
    exact bytes are what is left. Only rows of the same size are read, so a re-scan reads few of them.
    """
    wanted = sorted(set(sizes))
    digests: set[str] = set()
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(RawBody.raw)
            .join(RawInbound, RawInbound.id == RawBody.raw_id)
            .where(
                RawInbound.source == source,
                RawInbound.message_id.is_(None),
                RawInbound.size.in_(wanted[start : start + 500]),
            )
        )
        digests.update(hashlib.sha256(raw).hexdigest() for raw in rows.scalars())
    return digests


async def summarize_source(*, session: AsyncSession, source: str) -> SourceSummary:
    rows = await session.execute(
        select(RawInbound.state, func.count(), func.max(RawInbound.received_at))
        .where(RawInbound.source == source)
        .group_by(RawInbound.state)
    )
    by_state: dict[str, int] = {}
    last: datetime | None = None
    for state, count, newest in rows.all():
        by_state[state] = count
        if newest is not None and (last is None or newest > last):
            last = newest
    return SourceSummary(by_state=by_state, last_received_at=last)
