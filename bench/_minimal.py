"""A second baseline for `ingest_smtp.py`: the least an email-to-acknowledgement service can do with these parts.

The same packages and the same durability as the service, and nothing else: aiosmtpd, with the service's protocol
class (`IngestSMTP`, which reads DATA in large reads), answers 250 once the message is committed to SQLite (WAL,
synchronous=NORMAL, the rows of concurrent sessions in one commit); a worker parses each message with the stdlib,
stores a ticket, the message and the acknowledgement and marks the raw row done, a batch per transaction; a sender
relays the acknowledgements over reused aiosmtplib connections and marks them sent. No ORM, no quote stripping, no
places, no category, no threading, no duplicates, no budgets, no audit log, no logging.

Its rate is what this machine allows such a pipeline at all, with the load generator and the sink beside it: the
ceiling that a leaner design of Inbox311 could approach, measured in the same run as the service.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.header import Header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
from _common import serve_smtp
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.ingest.smtp_scan import IngestSMTP

SCHEMA = """
CREATE TABLE raw (id INTEGER PRIMARY KEY, message_id TEXT UNIQUE, sender TEXT, data BLOB, state TEXT);
CREATE INDEX raw_state ON raw (state);
CREATE TABLE ticket (id INTEGER PRIMARY KEY, number TEXT UNIQUE, token TEXT, summary TEXT, description TEXT,
                     created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE message (id INTEGER PRIMARY KEY, ticket_id INTEGER, external_id TEXT, subject TEXT, body TEXT);
CREATE TABLE outbox (id INTEGER PRIMARY KEY, ticket_id INTEGER, recipient TEXT, data BLOB, state TEXT);
CREATE INDEX outbox_state ON outbox (state);
"""
BATCH = 64
_HEADERS = BytesHeaderParser(policy=compat32)
SENDERS = 4


class MinimalPipeline:
    """The SMTP handler and its three tasks (group-committing writer, worker, sender) on one SQLite file."""

    def __init__(self, db_path: Path, relay_port: int) -> None:
        self._db = sqlite3.connect(db_path, isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + SCHEMA)
        self._relay_port = relay_port
        self._arrived: list[tuple[str, str, bytes, asyncio.Future[None]]] = []
        self._flush = asyncio.Event()
        self._work = asyncio.Event()
        self._send = asyncio.Event()
        self._numbers = itertools.count(1)
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(t) for t in (self._writer(), self._worker(), self._sender())]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        message_id = str(_HEADERS.parsebytes(data)["Message-ID"] or "")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrived.append((message_id.strip("<> "), str(envelope.mail_from), data, done))
        self._flush.set()
        await done
        return "250 2.0.0 OK"

    async def _writer(self) -> None:
        """Group commit: every session waiting since the last commit is answered after the next one."""
        while True:
            await self._flush.wait()
            self._flush.clear()
            rows, self._arrived = self._arrived, []
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO raw (message_id, sender, data, state) VALUES (?, ?, ?, 'pending')",
                [(mid, sender, data) for mid, sender, data, _ in rows],
            )
            self._db.execute("COMMIT")
            for *_, done in rows:
                done.set_result(None)
            self._work.set()
            await asyncio.sleep(0)  # let the sessions answer before the next commit

    async def _pending(self, wake: asyncio.Event, query: str) -> AsyncIterator[list[Any]]:
        """Batches of pending rows, oldest first, while there are any; then until `wake` is set again."""
        while True:
            await wake.wait()
            wake.clear()
            while rows := self._db.execute(query, (BATCH,)).fetchall():
                yield rows
                await asyncio.sleep(0)  # let the sessions and the other task in between batches

    async def _worker(self) -> None:
        query = "SELECT id, data FROM raw WHERE state = 'pending' ORDER BY id LIMIT ?"
        async for rows in self._pending(self._work, query):
            self._db.execute("BEGIN")
            for raw_id, data in rows:
                self._process(raw_id, data)
            self._db.execute("COMMIT")
            self._send.set()

    def _process(self, raw_id: int, data: bytes) -> None:
        mail = message_from_bytes(data, policy=compat32)
        subject, message_id = " ".join(str(mail["Subject"] or "").split()), str(mail["Message-ID"] or "")
        recipient = parseaddr(str(mail["From"] or ""))[1]
        part = next((p for p in mail.walk() if p.get_content_type() == "text/plain"), None)
        payload = part.get_payload(decode=True) if part is not None else b""
        body = payload.decode(part.get_content_charset() or "utf-8", "replace") if isinstance(payload, bytes) else ""
        number = f"SR-2026-{next(self._numbers):06d}"
        token = secrets.token_urlsafe(16)
        ticket_id = self._db.execute(
            "INSERT INTO ticket (number, token, summary, description) VALUES (?, ?, ?, ?) RETURNING id",
            (number, token, subject[:120], body),
        ).fetchone()[0]
        self._db.execute(
            "INSERT INTO message (ticket_id, external_id, subject, body) VALUES (?, ?, ?, ?)",
            (ticket_id, message_id, subject, body),
        )
        ack = (  # written out, not built with `email.message`: the leanest correct reply
            f"From: City 311 <reports@city.example>\r\nTo: {recipient}\r\n"
            f"Subject: {_encoded(f'Re: {subject} [{number}]')}\r\n"
            f"Message-ID: <{number}.{secrets.token_hex(8)}@city.example>\r\n"
            f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\nAuto-Submitted: auto-replied\r\n"
            f"Date: {formatdate()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Thank you. Your report is {number}.\r\nTrack it: http://127.0.0.1/track/{number}?t={token}\r\n"
        )
        self._db.execute(
            "INSERT INTO outbox (ticket_id, recipient, data, state) VALUES (?, ?, ?, 'pending')",
            (ticket_id, recipient, ack.encode()),
        )
        self._db.execute("UPDATE raw SET state = 'done' WHERE id = ?", (raw_id,))

    async def _sender(self) -> None:
        relay = self._relay_port
        clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=relay, start_tls=False) for _ in range(SENDERS)]
        await asyncio.gather(*(c.connect() for c in clients))
        query = "SELECT id, recipient, data FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?"
        async for rows in self._pending(self._send, query):
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE outbox SET state = 'sending' WHERE id = ?", [(r[0],) for r in rows])
            self._db.execute("COMMIT")
            queue = iter(rows)  # one iterator: each connection takes the next row when it is free
            await asyncio.gather(*(_relay(client, queue) for client in clients))
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE outbox SET state = 'sent' WHERE id = ?", [(r[0],) for r in rows])
            self._db.execute("COMMIT")


def _encoded(text: str) -> str:
    """A header value as written: plain when ASCII, an RFC 2047 word otherwise."""
    return text if text.isascii() else Header(text, "utf-8").encode()


async def _relay(client: aiosmtplib.SMTP, queue: Iterator[tuple[int, str, bytes]]) -> None:
    for _, recipient, data in queue:
        await client.sendmail("reports@city.example", [recipient], data)


async def run_minimal(relay_port: int) -> None:
    """The body of the baseline's process: print `port N`, serve until SIGTERM (or until a task of it fails)."""
    with tempfile.TemporaryDirectory(prefix="inbox311-minimal-") as tmp:
        pipeline = MinimalPipeline(Path(tmp) / "minimal.db", relay_port)
        pipeline.start()
        await serve_smtp(pipeline, "minimal", pipeline.tasks, IngestSMTP)
