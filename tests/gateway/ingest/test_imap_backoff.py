"""The reconnect delay of an IMAP account: doubling from `backoff_base_seconds`, capped, with a little jitter."""

from __future__ import annotations

from gateway.ingest.imap import ImapIngestor
from storage.db import Database
from tests.imap_server import account


def test_backoff_doubles_up_to_the_cap(sqlite_db: Database) -> None:
    acct = account(1143, "INBOX", backoff_base_seconds=1.0, backoff_max_seconds=60.0)
    ingestor = ImapIngestor(acct, db=sqlite_db, writer=None)  # type: ignore[arg-type]  # never started
    delays = [ingestor._backoff(n) for n in range(1, 12)]
    for n, delay in enumerate(delays[:6], start=1):  # 1, 2, 4, 8, 16, 32 s, less up to 20 % jitter
        assert 0.8 * 2 ** (n - 1) <= delay <= 2 ** (n - 1)
    assert all(48.0 <= d <= 60.0 for d in delays[6:])  # capped at 60 s from the seventh failure on
    assert 48.0 <= ingestor._backoff(10_000) <= 60.0  # no overflow after a very long outage
