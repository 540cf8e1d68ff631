"""Admission to the pipeline's backlog: when accepted mail waits longer than a reply should take, SMTP slows down.

Every accepted message is durable at once, so a backlog never loses anything; but a resident whose report sits
behind thousands of others gets the tracking number minutes late. SMTP has the remedy built in: the sending MTA
waits for our answer to DATA (RFC 5321 gives it ten minutes) and retries later on a 4xx. So before a message is
stored, `admit()` waits while the backlog (raw rows pending or in processing) is over its limit, first come first
served, and gives up after `busy_wait_seconds` (the handler then answers 451 and the MTA keeps the message).

The limit follows the pipeline: about `backlog_seconds` of what this process's worker settles in a second of
work (so a new report waits that long behind the others at most), never below one of its batches and never above
`max_backlog`; an instance without a worker of its own uses `max_backlog`. The pace is measured over the time the
worker spent on its batches, not over the clock: over the clock it would start from nothing at the head of every
burst, and a limit too low to keep the worker busy would measure only the pace it allowed. (Two batches, so that
the worker could always read one while it commits the other, held a reply on PostgreSQL, at about 120 messages a
second, half a second longer: not worth what it gained.) The backlog is counted in the database now and then (it
also holds other instances' and channels' arrivals) and kept current in between from what this process admits and
settles.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from gateway.settings import SmtpSettings
from storage.db import Database
from storage.raw import count_backlog

MIN_BACKLOG = 16  # the least room ever, whatever the worker's batches
PACE_WINDOW_S = 5.0  # the worker's batches of this long ago give its pace; with none that recent, the last pace
RECOUNT_S = 1.0  # the database is asked again after this long


class Backlog:
    def __init__(self, db: Database, settings: SmtpSettings, *, local_worker: bool, worker_batch: int = 0) -> None:
        self._db = db
        self._seconds = settings.backlog_seconds
        self._max = settings.max_backlog
        self._floor = max(MIN_BACKLOG, worker_batch)
        self._wait = settings.busy_wait_seconds
        self._local_worker = local_worker
        self._counted = 0  # the database's count at the last recount
        self._counted_at = float("-inf")
        self._since = 0  # stored minus settled since the last recount
        self._unstored = 0  # admitted, not yet stored (nor released)
        self._batches: deque[tuple[float, int, float]] = deque()  # the worker's recent batches: when, rows, seconds
        self._pace = 0.0  # rows the worker settles in a second of work; 0 until its first batch
        self._turn = asyncio.Lock()  # waiters are admitted in the order they came
        self._room = asyncio.Event()
        self.waited = 0  # messages that had to wait (shown in /healthz)
        self.refused = 0

    @property
    def enabled(self) -> bool:
        return self._seconds > 0

    @property
    def size(self) -> int:
        return max(0, self._counted + self._since) + self._unstored

    def limit(self) -> int:
        if not self._local_worker:
            return self._max
        return min(self._max, max(self._floor, int(self._pace * self._seconds)))

    @property
    def pace(self) -> float:
        """Rows the worker settles in a second of work, over its recent batches (0 before its first)."""
        return self._pace

    def worked(self, rows: int, seconds: float) -> None:
        """The worker took `seconds` from taking a batch of `rows` to settling it (both stages running side by side
        in the steady state, so this is its pace when it has work, whatever arrives)."""
        now = time.monotonic()
        self._batches.append((now, rows, seconds))
        while self._batches[0][0] < now - PACE_WINDOW_S:
            self._batches.popleft()
        total_rows = sum(b[1] for b in self._batches)
        total_seconds = sum(b[2] for b in self._batches)
        self._pace = total_rows / max(total_seconds, 1e-3)

    def settled(self, count: int = 1) -> None:
        """The worker finished rows (done, quarantined or held): room for as many new ones."""
        self._since -= count
        self._room.set()

    def stored(self) -> None:
        """An admitted message is in the database now."""
        self._unstored -= 1
        self._since += 1

    def release(self) -> None:
        """An admitted message was not added after all (a duplicate, or storing failed)."""
        self._unstored -= 1
        self._room.set()

    async def admit(self) -> bool:
        """Wait for room in the backlog; False when none came within `busy_wait_seconds`."""
        if not self.enabled:
            return True
        fresh = time.monotonic() - self._counted_at <= RECOUNT_S
        if fresh and not self._turn.locked() and self.size < self.limit():
            self._unstored += 1
            return True
        deadline = time.monotonic() + self._wait
        waited = False
        async with self._turn:
            while True:
                if time.monotonic() - self._counted_at > RECOUNT_S:
                    await self._recount()
                if self.size < self.limit():
                    self._unstored += 1
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.refused += 1
                    return False
                if not waited:
                    waited = True
                    self.waited += 1
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), timeout=min(RECOUNT_S, remaining))
                except TimeoutError:
                    pass

    async def _recount(self) -> None:
        async with self._db.read() as session:
            counted = await count_backlog(session=session)
        self._counted, self._since = counted, 0
        self._counted_at = time.monotonic()
