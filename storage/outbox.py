"""Queries on the outbox: enqueue in the caller's transaction, claim due rows with a lease, settle them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.core import rows_changed
from storage.db import as_transient, insert_returning, insert_row_id
from storage.leases import Claimable, claim_rows
from storage.models import Outbox, OutboxState, utcnow
from storage.sqlite_direct import prepared


async def enqueue_outbox(
    *,
    session: AsyncSession,
    channel: str,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    ticket_id: int | None = None,
    message_id: str | None = None,
    state: str = OutboxState.PENDING,
    error: str | None = None,
) -> Outbox:
    values = _outbox_values(ticket_id, channel, kind, recipient, payload, message_id, state, error)
    return await insert_returning(session, Outbox, values)


@dataclass(frozen=True, slots=True)
class OutboxLease:
    """A sender's offer to take a transaction's new replies of `channels` straight from it once it commits: they
    are written already leased to `owner` until `until`, so the sender needs no claim to take them."""

    owner: str
    channels: frozenset[str]
    until: datetime


_OFFER, _LEASED = "outbox_lease", "outbox_leased"


def offer_outbox_lease(session: AsyncSession, lease: OutboxLease) -> None:
    """From now on this transaction's `enqueue_outbox_row` writes its rows of the lease's channels leased, and keeps
    them for `take_leased_outbox`."""
    session.info[_OFFER] = lease
    session.info[_LEASED] = []


def take_leased_outbox(session: AsyncSession) -> list[Outbox]:
    """The rows written leased in this transaction so far (transient objects), for the sender once it commits."""
    leased: list[Outbox] = session.info.get(_LEASED) or []
    if leased:
        session.info[_LEASED] = []
    return leased


async def enqueue_outbox_row(
    *,
    session: AsyncSession,
    channel: str,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    ticket_id: int | None = None,
    message_id: str | None = None,
) -> int:
    """`enqueue_outbox` for callers that need only the new id (the pipeline's acknowledgements). Under a sender's
    lease offer (`offer_outbox_lease`) the row is written leased to it, one attempt begun."""
    values = _outbox_values(ticket_id, channel, kind, recipient, payload, message_id, OutboxState.PENDING, None)
    lease: OutboxLease | None = session.info.get(_OFFER)
    if lease is None or channel not in lease.channels:
        return await insert_row_id(session, Outbox, values)
    values |= {"state": OutboxState.SENDING, "lease_owner": lease.owner, "lease_until": lease.until, "attempts": 1}
    outbox_id = await insert_row_id(session, Outbox, values)
    session.info[_LEASED].append(as_transient(Outbox, {**values, "id": outbox_id}))
    return outbox_id


def _outbox_values(
    ticket_id: int | None,
    channel: str,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    message_id: str | None,
    state: str,
    error: str | None,
) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "channel": channel, "kind": kind, "recipient": recipient, "payload": payload,
            "message_id": message_id, "state": state, "error": error}  # fmt: skip


async def claim_due_outbox(
    *,
    session: AsyncSession,
    owner: str,
    channels: tuple[str, ...],
    limit: int,
    lease: timedelta,
    now: datetime | None = None,
) -> list[Outbox]:
    """Lease due rows (pending and due, or sending with an expired lease), those due longest first."""
    now = now or utcnow()
    return await claim_rows(
        session=session, model=Outbox, claimable=_due(tuple(channels)), params={"now": now},
        held_state=OutboxState.SENDING, owner=owner, limit=limit, lease_until=now + lease,
    )  # fmt: skip


@functools.cache
def _due(channels: tuple[str, ...]) -> tuple[Claimable, ...]:
    """Due rows of these channels, built once per sender (storage/leases.py), taken in the order they fell due:
    pending ones by the time of their next attempt (the index on state and next attempt reads them in that order),
    those held by a sender that died by the end of its lease."""
    mine = Outbox.channel.in_(channels)
    return (
        Claimable((Outbox.state == OutboxState.PENDING) & (Outbox.next_attempt_at <= bindparam("now")) & mine,
                  Outbox.next_attempt_at),
        Claimable((Outbox.state == OutboxState.SENDING) & (Outbox.lease_until < bindparam("now")) & mine,
                  Outbox.lease_until),
    )  # fmt: skip


_row = Outbox.__table__.c
# Core on the table, not the ORM (the sender's session holds no outbox objects to keep in step), and built once.
_MARK_SENT = prepared(
    update(Outbox.__table__)
    .where(_row.id == bindparam("outbox_id"), _row.lease_owner == bindparam("owner"))
    .values(
        state=bindparam("new_state"),
        provider_id=bindparam("provider"),
        sent_at=bindparam("now"),
        error=None,
        lease_owner=None,
        lease_until=None,
    )
)


async def mark_outbox_sent_many(
    *, session: AsyncSession, owner: str, sent: list[tuple[int, str | None]], state: str = OutboxState.SENT
) -> int:
    """Mark rows (id, provider id) sent, those this owner still holds: one statement where the driver counts the rows
    of an executemany (SQLite), else one by one. Returns how many were still this owner's to mark."""
    now = utcnow()
    params = [{"outbox_id": outbox_id, "owner": owner, "new_state": state, "provider": provider_id, "now": now}
              for outbox_id, provider_id in sent]  # fmt: skip
    return await rows_changed(session, _MARK_SENT, params)


async def mark_outbox_failed(
    *,
    session: AsyncSession,
    outbox_id: int,
    owner: str,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """Record a failed attempt: pending again at `retry_at`, or dead when `retry_at` is None."""
    state = OutboxState.PENDING if retry_at is not None else OutboxState.DEAD
    values: dict[str, Any] = {"state": state, "error": error[:2000], "lease_owner": None, "lease_until": None}
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    row = Outbox.__table__.c
    result = await session.execute(
        update(Outbox.__table__).where(row.id == outbox_id, row.lease_owner == owner).values(**values)
    )
    return result.rowcount == 1


async def release_outbox_leases(*, session: AsyncSession, owner: str | None = None) -> int:
    stmt = update(Outbox).where(Outbox.state == OutboxState.SENDING)
    if owner is not None:
        stmt = stmt.where(Outbox.lease_owner == owner)
    result = await session.execute(stmt.values(state=OutboxState.PENDING, lease_owner=None, lease_until=None))
    return result.rowcount


async def count_outbox_by_state(*, session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Outbox.state, func.count()).group_by(Outbox.state))
    return {state: n for state, n in rows.all()}


async def list_outbox(*, session: AsyncSession, state: str | None = None, limit: int = 100) -> list[Outbox]:
    stmt = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if state:
        stmt = stmt.where(Outbox.state == state)
    return list((await session.execute(stmt)).scalars())


async def next_due_at(*, session: AsyncSession, channels: tuple[str, ...]) -> datetime | None:
    """When the next pending row becomes due (so a sender can sleep exactly that long)."""
    found = await session.execute(
        select(func.min(Outbox.next_attempt_at)).where(
            Outbox.state == OutboxState.PENDING, Outbox.channel.in_(channels)
        )
    )
    return found.scalar_one_or_none()


async def get_outbox(*, session: AsyncSession, outbox_id: int) -> Outbox | None:
    return await session.get(Outbox, outbox_id)
