"""Mirrors the upstream's status onto forwarded tickets: resolve tokens to ids, read statuses, apply what changed.

Only a change in what the upstream says is applied (the last answer is kept as an `upstream-status` event), so
staff closing a ticket here is not undone by an upstream that still says "open". Upstream "closed" closes an open
ticket; upstream going from "closed" back to "open" re-opens it as in progress. New status notes are shown on the
tracking page. The status change itself goes through a `StatusChanger` (gateway.open311.status: the staff
service), so it notifies the resident the way any status change does; it re-reads the ticket under a lock and
applies nothing when the status changed meanwhile, so two instances never apply one change twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.open311.upstream import UpstreamClient, UpstreamError, UpstreamStatus
from storage.db import Database
from storage.models import TicketStatus
from storage.open311 import (
    CLOSED_STATES,
    UPSTREAM_STATUS_ACTION,
    ForwardedTicket,
    last_upstream_statuses,
    list_forwarded_tickets,
    record_upstream_ids,
)
from storage.tickets import add_event

log = logging.getLogger(__name__)

CLOSED_WITHIN = timedelta(days=30)  # closed tickets are still watched this long (an upstream may re-open them)
ACTOR = "open311-upstream"

# (session, ticket, new status, public note, actor) -> applied? Called inside the mirror's write transaction.
StatusChanger = Callable[[AsyncSession, ForwardedTicket, str, str | None, str], Awaitable[bool]]


@dataclass(slots=True)
class MirrorReport:
    polled: int = 0
    ids_resolved: int = 0
    changed: list[str] = field(default_factory=list)  # tracking numbers whose status changed
    errors: list[str] = field(default_factory=list)


def mirror_target(ours: str, upstream: str, last_seen: str | None) -> str | None:
    """Our new status for an upstream answer, or None to leave it."""
    if upstream == "closed" and ours in TicketStatus.OPEN_STATES:
        return TicketStatus.CLOSED
    reopened = last_seen == "closed" and upstream == "open"
    if reopened and ours in CLOSED_STATES and ours != TicketStatus.DUPLICATE:
        return TicketStatus.IN_PROGRESS
    return None


async def _resolve_tokens(
    db: Database, client: UpstreamClient, tickets: list[ForwardedTicket]
) -> list[ForwardedTicket]:
    out: list[ForwardedTicket] = []
    for t in tickets:
        if t.upstream_id is None and t.upstream_token:
            upstream_id = await client.resolve_token(t.upstream_token)
            if upstream_id is None:
                continue
            async with db.write() as session:
                await record_upstream_ids(session=session, ticket_id=t.id, upstream_id=upstream_id, upstream_token=None)
            t = ForwardedTicket(t.id, t.tracking_number, t.status, upstream_id, t.upstream_token)
        out.append(t)
    return out


async def _apply(db: Database, ticket: ForwardedTicket, answer: UpstreamStatus, changer: StatusChanger) -> bool:
    async with db.write() as session:
        last = (await last_upstream_statuses(session=session, ticket_ids=[ticket.id])).get(ticket.id)
        seen = (last or {}).get("status"), (last or {}).get("status_notes")
        if seen == (answer.status, answer.status_notes):
            return False  # another instance got here first, or nothing changed
        await add_event(session=session, ticket_id=ticket.id, actor=ACTOR, action=UPSTREAM_STATUS_ACTION,
                        data={"status": answer.status, "status_notes": answer.status_notes,
                              "upstream_id": ticket.upstream_id, "updated": answer.updated})  # fmt: skip
        target = mirror_target(ticket.status, answer.status, seen[0])
        if target is not None:
            return await changer(session, ticket, target, answer.status_notes, ACTOR)
        if answer.status_notes and answer.status_notes != seen[1]:
            await add_event(session=session, ticket_id=ticket.id, actor=ACTOR, action="upstream-update",
                            data={"public_note": answer.status_notes}, public=True)  # fmt: skip
        return False


async def mirror_upstream_statuses(*, db: Database, client: UpstreamClient, changer: StatusChanger) -> MirrorReport:
    """One pass over the forwarded tickets that may still change. Safe to run on several instances at once."""
    report = MirrorReport()
    async with db.read() as session:
        tickets = await list_forwarded_tickets(session=session, closed_within=CLOSED_WITHIN)
    report.polled = len(tickets)
    try:
        known = await _resolve_tokens(db, client, tickets)
        report.ids_resolved = sum(1 for t in known if t.upstream_id and t not in tickets)
        answers = await client.fetch_statuses([t.upstream_id for t in known if t.upstream_id])
    except UpstreamError as exc:
        report.errors.append(str(exc))
        log.warning("open311 mirror: upstream unavailable: %s", exc)
        return report
    async with db.read() as session:
        last = await last_upstream_statuses(session=session, ticket_ids=[t.id for t in known])
    for t in known:
        answer = answers.get(t.upstream_id or "")
        if answer is None:
            continue
        seen = last.get(t.id, {})
        if (seen.get("status"), seen.get("status_notes")) == (answer.status, answer.status_notes):
            continue
        if await _apply(db, t, answer, changer):
            report.changed.append(t.tracking_number)
            log.info("open311 mirror: ticket=%s upstream=%s is %s now", t.tracking_number, t.upstream_id, answer.status)
    return report
