"""The staff ticket page loads in a fixed number of queries however long the conversation (no N+1), with each
message's attachments and delivery state, and a merged duplicate's messages shown on the survivor."""

from __future__ import annotations

from sqlalchemy import event

from storage.attachments import store_attachment
from storage.conversation import load_ticket_page
from storage.db import Database
from storage.outbox import enqueue_outbox
from storage.tickets import add_event, add_message, create_ticket, get_or_create_contact


async def _ticket_with(db: Database, messages: int) -> int:
    async with db.write() as session:
        contact = await get_or_create_contact(session=session, kind="email", address="r@resident.example")
        ticket = await create_ticket(session=session, prefix="SR", channel="email", summary="s", reporter_id=contact.id)
        duplicate = await create_ticket(
            session=session, prefix="SR", channel="email", summary="d", duplicate_of_id=ticket.id
        )
        for n in range(messages):
            inbound = await add_message(
                session=session,
                ticket_id=ticket.id,
                direction="in",
                channel="email",
                contact_id=contact.id,
                body=f"m{n}",
            )
            await store_attachment(
                session=session, message_id=inbound.id, filename=f"p{n}.png", content_type="image/png", data=b"x%d" % n
            )
            row = await enqueue_outbox(session=session, ticket_id=ticket.id, channel="email", kind="reply",
                                       recipient="r@resident.example", payload={})  # fmt: skip
            await add_message(session=session, ticket_id=ticket.id, direction="out", channel="email", outbox_id=row.id,
                              body=f"answer {n}")  # fmt: skip
            await add_event(session=session, ticket_id=ticket.id, actor="system", action="x")
        await add_message(session=session, ticket_id=duplicate.id, direction="in", channel="email", body="dup")
        return ticket.id


async def _count_queries(db: Database, ticket_id: int) -> tuple[int, object]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(db.sync_engine, "before_cursor_execute", record)
    try:
        async with db.read() as session:
            page = await load_ticket_page(session=session, ticket_id=ticket_id)
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", record)
    return sum(1 for s in seen if s.lstrip().upper().startswith("SELECT")), page


async def test_ticket_page_queries_do_not_grow_with_the_conversation(db: Database) -> None:
    small, _ = await _count_queries(db, await _ticket_with(db, 2))
    large, page = await _count_queries(db, await _ticket_with(db, 25))
    assert small == large <= 8
    assert len(page.conversation) == 25 * 2 + 1
    inbound = [e for e in page.conversation if e.message.direction == "in" and e.message.body.startswith("m")]
    assert all(len(e.attachments) == 1 and e.attachments[0].filename == f"p{e.message.body[1:]}.png" for e in inbound)
    assert {e.delivery for e in page.conversation if e.message.direction == "out"} == {"pending"}
    [dup] = [e for e in page.conversation if e.message.body == "dup"]
    assert dup.ticket_number == page.duplicates[0].tracking_number != page.ticket.tracking_number
