"""bench/transactions.py: the worker's transactions of the benchmark's mails, measured apart from the rest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import gateway.worker
from bench.transactions import measure


async def test_every_mail_becomes_a_ticket_and_a_queued_reply_and_the_warm_up_is_left_out(tmp_path: Path) -> None:
    group_seconds = gateway.worker.GROUP_SECONDS
    measured, claims, transactions = await measure(96, tmp_path)  # batches of 32: one warms up, two measured
    assert group_seconds == gateway.worker.GROUP_SECONDS  # put back for the tests that run after this one
    assert measured == 64
    assert claims > 0 and transactions > 0
    with sqlite3.connect(tmp_path / "inbox311.db") as db:
        states = dict(db.execute("SELECT state, count(*) FROM raw_inbound GROUP BY state").fetchall())
        tickets = db.execute("SELECT count(*) FROM ticket").fetchone()[0]
        replies = db.execute("SELECT count(*) FROM outbox WHERE channel = 'email'").fetchone()[0]
    assert states == {"done": 96}
    assert tickets == replies == 96
