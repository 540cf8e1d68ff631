"""What the ticket records when an answer to its reporter is queued: an acknowledgement moves it to "acknowledged"
with a public event (a report linked as a duplicate keeps the status its link gave it); a receipt (the "added to
SR-…" note on a follow-up) leaves only a staff-side event. One place for every channel, so the timeline reads the
same whether the resident wrote by email, text or the web form."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Ticket, TicketStatus
from storage.tickets import add_event, touch_ticket


async def record_answer_queued(
    *, session: AsyncSession, ticket: Ticket, kind: str, outbox_id: int | None, actor: str = "system", **details: Any
) -> None:
    ticket_id = ticket.id
    assert ticket_id is not None
    data = {"outbox_id": outbox_id, **details}
    if kind == "ack":
        if ticket.status != TicketStatus.DUPLICATE:
            await touch_ticket(session=session, ticket_id=ticket_id, status=TicketStatus.ACKNOWLEDGED)
        await add_event(
            session=session, ticket_id=ticket_id, actor=actor, action="acknowledged", data=data, public=True
        )
    else:
        await add_event(session=session, ticket_id=ticket_id, actor=actor, action="receipt-queued", data=data)
