"""What became of a stored web-form submission: still in the pipeline, a ticket (its number and public token), or
stopped short of one. Looked up by the submission's idempotency key, which the form's own token names."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RawInbound, RawState, Ticket


@dataclass(frozen=True, slots=True)
class SubmissionOutcome:
    pending: bool  # not processed yet
    tracking_number: str | None = None
    public_token: str | None = None


async def submission_outcome(*, session: AsyncSession, idempotency_key: str) -> SubmissionOutcome | None:
    found = await session.execute(
        select(RawInbound.state, Ticket.tracking_number, Ticket.public_token)
        .outerjoin(Ticket, Ticket.id == RawInbound.ticket_id)
        .where(RawInbound.idempotency_key == idempotency_key)
    )
    row = found.first()
    if row is None:
        return None
    state, number, token = row
    return SubmissionOutcome(
        pending=state in (RawState.PENDING, RawState.PROCESSING), tracking_number=number, public_token=token
    )
