"""Labelled texts from the ticket history, for `inbox311 train --from-db` (a city retraining on its own reports)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Ticket, TicketStatus

# Categories that are not a label: what triage gets before a person decides.
NOT_A_LABEL = ("uncategorised", "triage", "")


async def load_labelled_texts(
    *, session: AsyncSession, exclude_decided_by: tuple[str, ...] = ("triage",)
) -> list[tuple[str, str]]:
    """(text, category) for every categorised ticket: summary and description joined by a newline.

    Rejected tickets are left out (they are not reports), and so are tickets whose category was set by one of
    `exclude_decided_by` without a person confirming it. Oldest first, so a training run is reproducible.
    """
    query = (
        select(Ticket.summary, Ticket.description, Ticket.category, Ticket.category_decided_by)
        .where(col(Ticket.category).is_not(None))
        .where(col(Ticket.category).not_in(NOT_A_LABEL))
        .where(Ticket.status != TicketStatus.REJECTED)
        .order_by(col(Ticket.id))
    )
    rows = (await session.execute(query)).all()
    out: list[tuple[str, str]] = []
    for summary, description, category, decided_by in rows:
        if decided_by in exclude_decided_by:
            continue
        text = "\n".join(part for part in (summary.strip(), description.strip()) if part)
        if text:
            out.append((text, category))
    return out
