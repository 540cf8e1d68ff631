"""Labelled texts from the ticket history, for a city retraining the classifier on its own reports."""

from __future__ import annotations

from storage.db import Database
from storage.models import TicketStatus
from storage.tickets import create_ticket
from storage.training import load_labelled_texts


async def add_tickets(db: Database) -> None:
    async with db.write() as session:
        for summary, description, category, decided_by, status in [
            ("Pothole on Main", "deep one by the school", "pothole", "pothole", TicketStatus.NEW),
            ("", "loud music every night", "noise", "staff:ana@city.example", TicketStatus.CLOSED),
            ("Noise", "", "noise", "model", TicketStatus.RESOLVED),
            ("spam", "buy now", "other", "staff:ana@city.example", TicketStatus.REJECTED),
            ("???", "not sure what this is", "uncategorised", "triage", TicketStatus.NEW),
            ("no category yet", "", None, None, TicketStatus.NEW),
            ("   ", "  ", "litter", "litter", TicketStatus.NEW),
        ]:
            await create_ticket(
                session=session,
                prefix="SR",
                channel="email",
                summary=summary,
                description=description,
                category=category,
                category_decided_by=decided_by,
                status=status,
            )


async def test_categorised_tickets_become_training_texts(db: Database) -> None:
    await add_tickets(db)
    async with db.read() as session:
        rows = await load_labelled_texts(session=session)
    assert rows == [
        ("Pothole on Main\ndeep one by the school", "pothole"),
        ("loud music every night", "noise"),
        ("Noise", "noise"),
    ]


async def test_model_decisions_can_be_left_out(db: Database) -> None:
    await add_tickets(db)
    async with db.read() as session:
        rows = await load_labelled_texts(session=session, exclude_decided_by=("triage", "model"))
    assert [category for _, category in rows] == ["pothole", "noise"]
