"""Queries behind the reply rules: budgets per address and overall, receipts already sent, bounces of our mail."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Executable, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.apart import execute_apart, undo_on_rollback
from storage.db import DIALECTS, conflict_insert
from storage.models import Contact, Outbox, OutboxState, ReplyBudget, utcnow
from storage.sqlite_direct import prepared

EVERYONE = "*"  # the budget row that counts all automatic replies together


def _count_statement(dialect: str) -> Executable:
    """The upsert of both budgets a reply counts against, the sender's and everyone's, in one statement (the values
    are bound at execution); built once per dialect."""
    insert = conflict_insert(dialect)
    budget = ReplyBudget.__table__
    rows = [{"address": bindparam(f"address_{n}"), "window_start": bindparam("window"), "count": 1} for n in (1, 2)]
    return (
        insert(budget)  # the table, not the class: the ORM's bulk-insert path costs more than the statement
        .values(rows)
        .on_conflict_do_update(index_elements=["address", "window_start"], set_={"count": budget.c.count + 1})
        .returning(budget.c.address, budget.c.count)
    )


_COUNT_REPLY = {name: prepared(_count_statement(name)) for name in DIALECTS}
_UNCOUNT_REPLY = (
    update(ReplyBudget)
    .where(ReplyBudget.address == bindparam("of_address"), ReplyBudget.window_start == bindparam("of_window"))
    .values(count=ReplyBudget.count - 1)
)


async def take_reply_budget(
    *, session: AsyncSession, address: str, per_sender: int, overall: int, now: datetime | None = None
) -> str | None:
    """Count one automatic reply to `address` in this hour; the reason code when a budget is spent, else None.
    (On PostgreSQL the count is committed at once, and given back if the caller's transaction fails:
    storage/apart.py.)"""
    window = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    sender = address.lower()
    if sender == EVERYONE:  # (a malformed From) everyone's row, not an address a reply could reach
        return "budget:sender"
    params = {"address_1": sender, "address_2": EVERYONE, "window": window}
    counts = dict((await execute_apart(session, _COUNT_REPLY[session.bind.dialect.name], params)).all())
    undo_on_rollback(session, _UNCOUNT_REPLY, {"of_address": sender, "of_window": window})
    if counts[sender] > per_sender:
        # Not answered, so not one of everyone's replies: counted with the sender's to save a statement, given back.
        await execute_apart(session, _UNCOUNT_REPLY, {"of_address": EVERYONE, "of_window": window})
        return "budget:sender"
    undo_on_rollback(session, _UNCOUNT_REPLY, {"of_address": EVERYONE, "of_window": window})
    if counts[EVERYONE] > overall:
        return "budget:global"
    return None


async def recent_receipt_sent(*, session: AsyncSession, ticket_id: int, since: datetime) -> bool:
    found = await session.execute(
        select(Outbox.id)
        .where(Outbox.ticket_id == ticket_id, Outbox.kind == "receipt", Outbox.created_at >= since)
        .limit(1)
    )
    return found.first() is not None


async def find_outbox_by_message_id(*, session: AsyncSession, message_id: str) -> Outbox | None:
    found = await session.execute(select(Outbox).where(Outbox.message_id == message_id).limit(1))
    return found.scalar_one_or_none()


async def find_recent_outbox_to(*, session: AsyncSession, recipient: str, within: timedelta) -> Outbox | None:
    """Our latest email to `recipient` (bounces that do not quote our Message-ID are matched this way)."""
    found = await session.execute(
        select(Outbox)
        .where(Outbox.recipient == recipient.lower(), Outbox.channel == "email", Outbox.created_at >= utcnow() - within)
        .order_by(Outbox.id.desc())
        .limit(1)
    )
    return found.scalar_one_or_none()


async def mark_bounced(*, session: AsyncSession, outbox: Outbox, reason: str, hard: bool) -> None:
    """The outbox row bounced; after a hard bounce its recipient gets no more mail until they write again."""
    await session.execute(
        update(Outbox).where(Outbox.id == outbox.id).values(state=OutboxState.BOUNCED, error=reason[:2000])
    )
    if hard:
        await session.execute(
            update(Contact)
            .where(Contact.kind == "email", Contact.address == outbox.recipient.lower())
            .values(bounced=True, bounce_reason=reason[:500], updated_at=utcnow())
        )
