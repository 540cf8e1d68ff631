"""Drains the outbox: claims due rows with a lease, hands them to the channel's sender, records the result.

Failures retry with capped exponential backoff and jitter; after `max_attempts` a row is `dead` and shows in
`inbox311 outbox list`. A relay that is down for minutes loses nothing: rows simply wait.

The pipeline's replies come a shorter way: the transaction that queues one writes it already leased to this worker
(`lease_offer`), and hands it over once committed (`hand_over`), so it goes out without a claim. The lease keeps
the rules the same: a reply handed over whose lease is too near its end is left to be claimed again once it ends,
and one this process never sent is released when it stops (or, after a crash, claimed once its lease ends, or at
the next start on SQLite). While replies are being handed over, the due rows (retries, staff replies, status
updates) are claimed every `CLAIM_EVERY_S` rather than at every wake-up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.metrics import Metrics
from gateway.redact import redact
from gateway.settings import OutboxSettings
from storage.db import Database
from storage.models import Outbox, OutboxState, utcnow
from storage.outbox import (
    OutboxLease,
    claim_due_outbox,
    mark_outbox_failed,
    mark_outbox_sent_many,
    next_due_at,
    release_outbox_leases,
)

log = logging.getLogger(__name__)

CLAIM_EVERY_S = 0.5  # while replies are being handed over, the due rows are claimed this often
HANDED_BATCHES = 4  # lease offers stop while this many batches of handed-over replies wait


class OutboxError(Exception):
    """A send failed. `retryable` False means trying again cannot help (e.g. 5xx for the recipient)."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Sender(Protocol):
    channel: str

    async def send(self, row: Outbox) -> str | None:
        """Send one row; returns the provider's id for it (if any) or raises OutboxError."""
        ...

    async def close(self) -> None: ...


def backoff_delay(attempts: int, settings: OutboxSettings, *, rng: random.Random | None = None) -> float:
    base = settings.backoff_base_seconds * (2 ** max(attempts - 1, 0))
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(base, settings.backoff_max_seconds) * jitter


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        settings: OutboxSettings,
        senders: list[Sender],
        *,
        owner: str,
        metrics: Metrics | None = None,
        concurrency: int = 16,
    ) -> None:
        self._db = db
        self._settings = settings
        self._senders = {s.channel: s for s in senders}
        self._owner = owner
        self._metrics = metrics
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handed: deque[Outbox] = deque()  # committed replies leased to this worker, not yet taken
        self._claimed_at = self._handed_at = float("-inf")
        self.last_error: str | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self._senders)

    def wake(self) -> None:
        self._wake.set()

    def lease_offer(self) -> OutboxLease | None:
        """A lease for the replies a transaction is about to queue, when this worker will take them from it."""
        if not self.running or self._stopping or len(self._handed) >= HANDED_BATCHES * self._settings.batch_size:
            return None
        until = utcnow() + timedelta(seconds=self._settings.lease_seconds)
        return OutboxLease(owner=self._owner, channels=frozenset(self._senders), until=until)

    def hand_over(self, rows: list[Outbox]) -> None:
        """Replies written leased to this worker (`lease_offer`), once their transaction has committed."""
        self._handed.extend(rows)
        self._handed_at = time.monotonic()
        self._wake.set()

    def _handing(self) -> bool:
        """Replies were handed over lately: the database need not be asked at every wake-up."""
        return time.monotonic() - self._handed_at < CLAIM_EVERY_S

    def _until_claim(self) -> float:
        """Seconds until the due rows are claimed again while replies are being handed over (0 or less: now)."""
        return CLAIM_EVERY_S - (time.monotonic() - self._claimed_at)

    def _take_handed(self) -> list[Outbox]:
        """Up to a batch of the handed-over replies, leaving out any whose lease is past half its time (it will be
        claimed again once it ends: sending it now could overlap with that)."""
        fresh_until = utcnow() + timedelta(seconds=self._settings.lease_seconds / 2)
        taken: list[Outbox] = []
        while self._handed and len(taken) < self._settings.batch_size:
            row = self._handed.popleft()
            if row.lease_until is not None and row.lease_until > fresh_until:
                taken.append(row)
        return taken

    async def start(self) -> None:
        if self._db.sqlite:
            async with self._db.write() as session:
                await release_outbox_leases(session=session)
        for sender in self._senders.values():
            start = getattr(sender, "start", None)  # a sender with something to prepare (a process of its own)
            if start is not None:
                await start()
        self._task = asyncio.create_task(self._loop(), name="outbox-worker")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._handed:  # handed over but not sent: due again at once, for whoever runs next
            self._handed.clear()
            try:
                async with self._db.write() as session:
                    await release_outbox_leases(session=session, owner=self._owner)
            except Exception:  # the database is away: the leases end by themselves
                log.warning("outbox: could not release the replies handed over and not sent")
        for sender in self._senders.values():
            await sender.close()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the claim and the look at what is due: a reply queued meanwhile ends the wait
            try:
                n = await self.run_once()
                if n:
                    wait = 0.0
                elif self._handing():  # until the next claim, unless a hand-over comes first
                    wait = max(self._until_claim(), 0.01)
                else:
                    wait = await self._seconds_until_due()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("outbox: batch failed")
                wait = 1.0
            if wait > 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except TimeoutError:
                    pass

    async def _seconds_until_due(self) -> float:
        async with self._db.read() as session:
            due = await next_due_at(session=session, channels=self.channels)
        if due is None:
            return self._settings.poll_seconds
        return min(max((due - utcnow()).total_seconds(), 0.01), self._settings.poll_seconds)

    async def run_once(self, *, now: datetime | None = None) -> int:
        """Send the replies handed over (a batch at most) and, when it is time to claim them, the due rows; returns
        how many were attempted."""
        if not self._senders:
            return 0
        rows = self._take_handed()
        if not self._handing() or self._until_claim() <= 0:
            self._claimed_at = time.monotonic()
            async with self._db.write() as session:
                rows += await claim_due_outbox(
                    session=session,
                    owner=self._owner,
                    channels=self.channels,
                    limit=self._settings.batch_size,
                    lease=timedelta(seconds=self._settings.lease_seconds),
                    now=now,
                )
        if not rows:
            return 0
        results = await asyncio.gather(*(self._send(row) for row in rows))
        sent: list[tuple[int, str | None]] = []
        failed: list[tuple[Outbox, OutboxError]] = []
        for row, (provider_id, error) in zip(rows, results, strict=True):
            assert row.id is not None
            if error is None:
                sent.append((row.id, provider_id))
            else:
                failed.append((row, error))
        async with self._db.write() as session:
            # The sent ones in one statement (a lease lost meanwhile leaves its row to the new holder, as before).
            await mark_outbox_sent_many(session=session, owner=self._owner, sent=sent)
            for row, error in failed:
                await self._record_failure(session, row, error)
        return len(rows)

    async def _record_failure(self, session: AsyncSession, row: Outbox, error: OutboxError) -> None:
        """Pending again after a backoff, or dead once retrying cannot help or the attempts are used up."""
        assert row.id is not None
        retry_at = None
        if error.retryable and row.attempts < self._settings.max_attempts:
            retry_at = utcnow() + timedelta(seconds=backoff_delay(row.attempts, self._settings))
        await mark_outbox_failed(
            session=session, outbox_id=row.id, owner=self._owner, error=str(error), retry_at=retry_at
        )
        if retry_at is None:
            log.error("outbox=%d dead after %d attempts to %s: %s", row.id, row.attempts, redact(row.recipient), error)

    async def _send(self, row: Outbox) -> tuple[str | None, OutboxError | None]:
        sender = self._senders[row.channel]
        async with self._limit:
            try:
                provider_id = await sender.send(row)
            except OutboxError as exc:
                self._count_failure(row)
                log.warning("outbox=%d attempt %d to %s failed: %s", row.id, row.attempts, redact(row.recipient), exc)
                return None, exc
            except Exception as exc:  # a sender bug must not stop the others
                self._count_failure(row)
                log.exception("outbox=%d sender raised", row.id)
                return None, OutboxError(f"{type(exc).__name__}: {exc}")
        if self._metrics is not None:
            self._metrics.sent.labels(row.channel).inc()
        log.info("outbox=%d sent %s ticket=%s to=%s", row.id, row.kind, row.ticket_id, redact(row.recipient))
        return provider_id, None

    def _count_failure(self, row: Outbox) -> None:
        if self._metrics is not None:
            self._metrics.send_failures.labels(row.channel).inc()


__all__ = ["OutboxError", "OutboxState", "OutboxWorker", "Sender", "backoff_delay"]
