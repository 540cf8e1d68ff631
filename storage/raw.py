"""Queries on `raw_inbound` (and `raw_body`): idempotent storing, claiming pending rows with a lease, settling them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.core import execute_core, rows_changed
from storage.db import DIALECTS, conflict_insert
from storage.leases import Claimable, claim_rows
from storage.models import RawBody, RawInbound, RawState, utcnow
from storage.sqlite_direct import prepared
from storage.wakeups import announce_new_raw


@dataclass(frozen=True, slots=True)
class NewRaw:
    """What an ingestor hands over: one message exactly as it arrived."""

    channel: str
    source: str
    idempotency_key: str
    raw: bytes
    message_id: str | None = None
    envelope_from: str = ""
    envelope_to: str = ""


@dataclass(frozen=True, slots=True)
class StoredRaw:
    raw_id: int | None  # None when the key was already stored (a redelivery)
    duplicate: bool


def _store_statement(insert):  # noqa: ANN001, ANN202 (a dialect's insert() and its Insert construct)
    table = RawInbound.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.idempotency_key, table.c.id, sort_by_parameter_order=False)
    )


# Built once, so SQLAlchemy compiles each only once: a multi-row VALUES built per batch was compiled per batch,
# which cost more than the database's work.
_STORE = {name: _store_statement(conflict_insert(name)) for name in DIALECTS}
STORE_BODY = prepared(insert(RawBody.__table__))


async def store_raw_batch(*, session: AsyncSession, items: Sequence[NewRaw]) -> list[StoredRaw]:
    """Insert every item whose idempotency key is new; a known key is reported as a duplicate, not an error.

    One INSERT for the whole batch (its rows are what a group commit of the ingestors holds), sent by SQLAlchemy as
    multi-row VALUES ("insertmanyvalues"), and one for the new rows' bytes (`raw_body`). The caller commits;
    nothing is acknowledged to a sender before that commit. On SQLite files the raw writer uses
    storage/raw_sqlite.py instead, which does the same in fewer steps.
    """
    now = utcnow()
    first: dict[str, NewRaw] = {}
    for item in items:
        first.setdefault(item.idempotency_key, item)  # the same message twice in one batch is stored once
    ids: dict[str, int] = {}
    if first:
        stmt = _STORE[session.bind.dialect.name]
        rows = await session.execute(stmt, [raw_row_values(item, now) for item in first.values()])
        ids = {key: raw_id for key, raw_id in rows.all()}
    if ids:
        await execute_core(
            session, STORE_BODY, [{"raw_id": raw_id, "raw": first[key].raw} for key, raw_id in ids.items()]
        )
        await announce_new_raw(session)  # to the workers of other instances, at commit (PostgreSQL)
    results: list[StoredRaw] = []
    for item in items:
        raw_id = ids.pop(item.idempotency_key, None)  # popped: a second copy in the batch is the duplicate
        results.append(StoredRaw(raw_id=raw_id, duplicate=raw_id is None))
    return results


def raw_row_values(item: NewRaw, now: datetime) -> dict[str, object]:
    """The columns of a new `raw_inbound` row for `item`, as received at `now` (its bytes go to `raw_body`)."""
    return {
        "channel": item.channel,
        "source": item.source,
        "idempotency_key": item.idempotency_key,
        "message_id": item.message_id,
        "envelope_from": item.envelope_from,
        "envelope_to": item.envelope_to,
        "size": len(item.raw),
        "state": RawState.PENDING,
        "attempts": 0,
        "received_at": now,
    }


async def has_message_id(*, session: AsyncSession, message_id: str) -> bool:
    """Whether a message with this Message-ID was already stored under any key (IMAP re-scans, SMTP + IMAP)."""
    found = await session.execute(select(RawInbound.id).where(RawInbound.message_id == message_id).limit(1))
    return found.first() is not None


async def claim_pending(
    *, session: AsyncSession, owner: str, limit: int, lease: timedelta, now: datetime | None = None
) -> list[RawInbound]:
    """Lease up to `limit` rows that are pending, or whose lease ran out (their worker died), oldest first."""
    now = now or utcnow()
    return await claim_rows(
        session=session, model=RawInbound, claimable=_CLAIMABLE, params={"now": now}, held_state=RawState.PROCESSING,
        owner=owner, limit=limit, lease_until=now + lease,
    )  # fmt: skip


async def read_raw_bodies(*, session: AsyncSession, raw_ids: Sequence[int]) -> dict[int, bytes]:
    """The bytes of these rows, by id (one statement for a claimed batch)."""
    if not raw_ids:
        return {}
    found = await session.execute(select(RawBody.raw_id, RawBody.raw).where(RawBody.raw_id.in_(list(raw_ids))))
    return {raw_id: raw for raw_id, raw in found.all()}


_CLAIMABLE = (  # built once (storage/leases.py); a raw row is taken in the order it arrived
    Claimable(RawInbound.state == RawState.PENDING, RawInbound.id),
    Claimable((RawInbound.state == RawState.PROCESSING) & (RawInbound.lease_until < bindparam("now")), RawInbound.id),
)


_raw = RawInbound.__table__.c
_SETTLE = prepared(
    update(RawInbound.__table__)
    .where(_raw.id == bindparam("raw_id"), _raw.lease_owner == bindparam("owner"), _raw.state == RawState.PROCESSING)
    .values(
        state=bindparam("new_state"),
        reason=bindparam("new_reason"),
        ticket_id=bindparam("new_ticket"),
        processed_at=bindparam("now"),
        lease_owner=None,
        lease_until=None,
    )
)


async def settle_raw(
    *,
    session: AsyncSession,
    raw_id: int,
    owner: str,
    state: str,
    reason: str | None = None,
    ticket_id: int | None = None,
) -> bool:
    """Move a claimed row to its final state, only if this worker still holds the lease.

    Returns False when the lease was lost (another worker took the row over); the caller must then roll back.
    """
    # Core on the table, not the ORM, and built once: no raw rows are loaded in the pipeline's session to keep in
    # step, and building the statement anew was a measurable share of the per-message cost.
    result = await execute_core(
        session,
        _SETTLE,
        {"raw_id": raw_id, "owner": owner, "new_state": state, "new_reason": reason, "new_ticket": ticket_id,
         "now": utcnow()},
    )  # fmt: skip
    return result.rowcount == 1


async def settle_done(*, session: AsyncSession, owner: str, done: Sequence[tuple[int, int | None]]) -> bool:
    """Settle several claimed rows as done, each with its ticket id, in one statement where the driver counts the
    rows of a multi-row UPDATE (SQLite), else one by one. False when any lease was lost: roll back."""
    now = utcnow()
    params = [{"raw_id": raw_id, "owner": owner, "new_state": RawState.DONE, "new_reason": None,
               "new_ticket": ticket_id, "now": now} for raw_id, ticket_id in done]  # fmt: skip
    return await rows_changed(session, _SETTLE, params) == len(done)


async def release_leases(*, session: AsyncSession, owner: str | None = None) -> int:
    """Put leased rows back to pending: those of `owner`, or all (a single SQLite instance starting up)."""
    stmt = update(RawInbound).where(RawInbound.state == RawState.PROCESSING)
    if owner is not None:
        stmt = stmt.where(RawInbound.lease_owner == owner)
    result = await session.execute(stmt.values(state=RawState.PENDING, lease_owner=None, lease_until=None))
    return result.rowcount


async def requeue_raw(*, session: AsyncSession, raw_ids: Sequence[int] | None = None, state: str) -> int:
    """Send rows in `state` (e.g. quarantined) back through the pipeline: all of them, or those named."""
    stmt = update(RawInbound).where(RawInbound.state == state)
    if raw_ids is not None:
        stmt = stmt.where(RawInbound.id.in_(list(raw_ids)))
    result = await session.execute(stmt.values(state=RawState.PENDING, reason=None, attempts=0))
    return result.rowcount


async def count_raw_by_state(*, session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(RawInbound.state, func.count()).group_by(RawInbound.state))
    return {state: n for state, n in rows.all()}


async def count_raw_states_of(*, session: AsyncSession, raw_ids: Sequence[int]) -> dict[str, int]:
    """How many of these rows are in each state (an import's outcome), in chunks that keep each IN list short."""
    counts: dict[str, int] = {}
    for start in range(0, len(raw_ids), 500):
        chunk = raw_ids[start : start + 500]
        rows = await session.execute(
            select(RawInbound.state, func.count()).where(RawInbound.id.in_(chunk)).group_by(RawInbound.state)
        )
        for state, n in rows.all():
            counts[state] = counts.get(state, 0) + n
    return counts


async def count_backlog(*, session: AsyncSession) -> int:
    """Rows the pipeline has still to settle: pending or in a worker's hands (an index range, not a scan)."""
    unsettled = RawInbound.state.in_((RawState.PENDING, RawState.PROCESSING))
    found = await session.execute(select(func.count()).select_from(RawInbound).where(unsettled))
    return int(found.scalar_one())


async def list_raw(*, session: AsyncSession, state: str | None = None, limit: int = 100) -> list[RawInbound]:
    stmt = select(RawInbound).order_by(RawInbound.id.desc()).limit(limit)
    if state:
        stmt = stmt.where(RawInbound.state == state)
    return list((await session.execute(stmt)).scalars())
