"""The pipeline worker: claims pending raw rows, runs the stages, and settles each row exactly once.

A row is claimed with a lease (so a crashed worker's rows are taken over when the lease runs out); the transactional
stages and the row's final state are committed together, and only while this worker still holds the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.metrics import Metrics
from gateway.pipeline import PipelineOutcome, Services, Stage, StageContext, WorkItem
from gateway.redact import redact
from gateway.stage_process import PURE_STAGES, Prepared, StageProcesses, handles, run_pure_stages
from gateway.stages import pipeline_stages
from parsers.types import Channel
from storage.db import Database
from storage.events import keep_events, write_kept_events
from storage.models import Outbox, RawInbound, RawState, utcnow
from storage.outbox import OutboxLease, offer_outbox_lease, take_leased_outbox
from storage.raw import (
    claim_pending,
    count_raw_by_state,
    read_raw_bodies,
    release_leases,
    settle_done,
    settle_raw,
)
from storage.wakeups import RawListener

log = logging.getLogger(__name__)

AHEAD_BATCHES = 2  # batches claimed and being read by the parse processes beyond the one being committed

# A claimed batch after the pure stages: how many rows it took, and those still to commit with their work items.
PreparedBatch: TypeAlias = tuple[int, list[tuple[RawInbound, WorkItem]]]


# How long one transaction of the worker may go on taking rows: long enough that a commit serves many messages,
# short enough that an SMTP session waiting for the (SQLite) write lock to store its message is not held up.
GROUP_SECONDS = 0.1


class LeaseLost(Exception):
    """Another worker took this row over; our work on it is rolled back."""


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"


class PipelineWorker:
    def __init__(
        self,
        db: Database,
        services: Services,
        *,
        metrics: Metrics | None = None,
        stages: tuple[Stage, ...] | None = None,
        owner: str | None = None,
        stage_processes: StageProcesses | None = None,
    ) -> None:
        self._db = db
        self._services = services
        self._metrics = metrics
        self._stages = stages or pipeline_stages()
        self._pure = [s for s in self._stages if not s.transactional]
        self._transactional = [s for s in self._stages if s.transactional]
        # Child processes read the mail only when the pure stages are the standard ones they run.
        standard = tuple(s.name for s in self._pure) == PURE_STAGES
        self._processes = stage_processes if standard else None
        self._settings = services.settings.worker
        self.owner = owner or new_owner_id()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.listener: RawListener | None = None  # PostgreSQL: other instances' new mail wakes this worker too
        self.processed = 0
        self.last_error: str | None = None
        self.on_committed: Callable[[], None] | None = None  # e.g. wake the outbox sender
        self.on_settled: Callable[[int], None] | None = None  # rows left the backlog (e.g. SMTP flow control)
        self.on_worked: Callable[[int, float], None] | None = None  # a batch of n rows took s seconds (its pace)
        # The outbox's sender: a lease for the replies a transaction queues, and the replies once it has committed.
        self.outbox_lease: Callable[[], OutboxLease | None] | None = None
        self.hand_over: Callable[[list[Outbox]], None] | None = None

    # ---- lifecycle ------------------------------------------------------------------------------------------

    def wake(self) -> None:
        """Called by ingestors after a commit so new work starts at once instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False  # (started again after a stop)
        if self._db.sqlite:
            # One instance per SQLite file: whatever was leased when it stopped is ours to redo now.
            async with self._db.write() as session:
                released = await release_leases(session=session)
            if released:
                log.info("worker: %d raw rows left in processing by an earlier run are pending again", released)
        if self._processes is not None:
            await self._processes.start()
        if not self._db.sqlite and isinstance(self._db.engine, AsyncEngine):
            self.listener = RawListener(self._db.engine, self.wake)
            self.listener.start()
        self._task = asyncio.create_task(self._loop(), name="pipeline-worker")

    async def stop(self) -> None:
        """Finish the batches in hand (the one being committed and those claimed ahead), then stop."""
        self._stopping = True
        self._wake.set()
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        if self._task is not None:
            await self._task
            self._task = None
        if self._processes is not None:
            await self._processes.stop()

    @property
    def stage_processes(self) -> StageProcesses | None:
        return self._processes

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        ahead: deque[asyncio.Task[PreparedBatch]] = deque()
        while not self._stopping:
            # Cleared before the claim, not after it: a wake-up for rows committed while the claim runs (which it
            # may not see) must still end the wait below.
            self._wake.clear()
            started = time.monotonic()
            try:
                claimed = ahead.popleft() if ahead else None
                taken, ready = await (claimed if claimed is not None else self._claim_and_prepare())
                if taken and self._processes is not None:
                    await self._claim_ahead(ahead)
                await self._commit_in_groups(ready)
                n = taken
                if taken and self.on_worked is not None:
                    self.on_worked(taken, time.monotonic() - started)
            except Exception as exc:  # the database went away: log, back off, keep the service up
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("worker: batch failed")
                n = 0
                await asyncio.sleep(1.0)
            if n == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_seconds)
                except TimeoutError:
                    pass
        while ahead:  # claimed already: finish them rather than leave them leased
            with contextlib.suppress(Exception):
                await self._commit_in_groups((await ahead.popleft())[1])

    async def _claim_ahead(self, ahead: deque[asyncio.Task[PreparedBatch]]) -> None:
        """Keep AHEAD_BATCHES batches with the parse processes while this process commits the one in hand.

        One batch ahead, the two sides waited for each other: a child done early stood idle until the commit ended
        and the next claim came, and a commit done early waited for the child. Claimed now: once this batch's
        transaction has the write turn, a claim would wait for all of it."""
        while len(ahead) < AHEAD_BATCHES:
            try:
                claimed = await self._claim()
            except Exception:  # (the database is away or locked) the batches in hand still go first
                log.warning("worker: could not claim ahead; the next batch is claimed after this one")
                return
            if not claimed:
                return
            ahead.append(asyncio.create_task(self._prepare_claimed(claimed), name="pipeline-prepare"))

    # ---- work -----------------------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim and process one batch; returns how many rows it took."""
        taken, ready = await self._claim_and_prepare()
        await self._commit_in_groups(ready)
        return taken

    async def _claim(self) -> list[tuple[RawInbound, bytes | None]]:
        """Lease the next batch of rows, each with its bytes (read in the same transaction)."""
        lease = timedelta(seconds=self._settings.lease_seconds)
        async with self._db.write() as session:
            rows = await claim_pending(session=session, owner=self.owner, limit=self._settings.batch_size, lease=lease)
            bodies = await read_raw_bodies(session=session, raw_ids=[row.id for row in rows if row.id is not None])
        return [(row, bodies.get(row.id)) for row in rows if row.id is not None]

    async def _prepare_claimed(self, claimed: list[tuple[RawInbound, bytes | None]]) -> PreparedBatch:
        return len(claimed), await self._prepare_rows(claimed)

    async def _claim_and_prepare(self) -> PreparedBatch:
        return await self._prepare_claimed(await self._claim())

    async def drain(self, *, within: float = 30.0) -> None:
        """Process until nothing is pending or in another task's hands (tests, `inbox311 ingest`).

        While the worker's own loop runs, this waits for it rather than claiming beside it: two claimers in one
        process could commit a later message before an earlier one (a follow-up's receipt would then answer the
        second follow-up instead of the first)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.running:
                self.wake()  # rows stored without waking it (an import, a test) need not wait for its next poll
            elif await self.run_once():
                continue
            async with self._db.read() as session:
                counts = await count_raw_by_state(session=session)
            if counts.get(RawState.PENDING, 0) == 0 and counts.get(RawState.PROCESSING, 0) == 0:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"raw rows still pending after {within} s")

    async def _prepare_rows(self, claimed: list[tuple[RawInbound, bytes | None]]) -> list[tuple[RawInbound, WorkItem]]:
        """The rows, in order, as work items after the pure stages, leaving out those settled already."""
        items: list[tuple[RawInbound, WorkItem]] = []
        for row, raw in claimed:
            item = _new_item(row, raw or b"")
            if raw is None:  # (written in the row's own transaction: only a damaged database lacks it)
                await self._settle(item, RawState.QUARANTINED, "raw-body: the message's bytes are missing")
            elif row.attempts > self._settings.max_attempts:
                await self._settle(item, RawState.QUARANTINED, "too-many-attempts: the worker stopped on it repeatedly")
            else:
                items.append((row, item))
        elsewhere: dict[int, Prepared] = {}
        if self._processes is not None:
            sent = [item for _, item in items if handles(item.channel)]
            elsewhere = dict(zip((i.raw_id for i in sent), await self._processes.prepare(sent), strict=True))
        ready: list[tuple[RawInbound, WorkItem]] = []
        for row, item in items:
            prepared = elsewhere.get(item.raw_id)
            if prepared is None:
                await asyncio.sleep(0)  # the stages seldom wait on I/O: let SMTP sessions and sends in between
                prepared = await run_pure_stages(item, self._pure, StageContext(services=self._services))
            if prepared.item is not None:
                ready.append((row, prepared.item))
                continue
            if prepared.error and item.raw_id in elsewhere:  # (in this process, the stage's raise was logged)
                log.error("raw=%d quarantined: %s", item.raw_id, prepared.reason)
            await self._settle(item, prepared.state, prepared.reason)
        return ready

    async def _commit_in_groups(self, ready: list[tuple[RawInbound, WorkItem]]) -> None:
        """Run the transactional stages of several rows in one transaction, up to GROUP_SECONDS of work each.

        One commit per group instead of per row is most of the pipeline's database cost. When any row of a group
        ends other than done (an outcome, an error, a lost lease), the group is rolled back and its rows up to that
        one are redone one transaction each, exactly as if they had never been grouped; the rest start a new group.
        """
        start = 0
        while start < len(ready):
            attempted = start
            committed: list[tuple[RawInbound, WorkItem]] = []
            try:
                async with self._db.write() as session:
                    keep_events(session)  # the group's audit rows go in as one INSERT
                    self._offer_outbox_lease(session)
                    opened = time.monotonic()
                    for row, item in ready[start:]:
                        await asyncio.sleep(0)  # (as above; the transaction holds only this process's write turn)
                        attempted += 1
                        trial = _copy_item(item)
                        ctx = StageContext(services=self._services, session=session)
                        await self._transact(trial, ctx, [""], settle=False)
                        committed.append((row, trial))
                        if time.monotonic() - opened > GROUP_SECONDS:
                            break
                    await write_kept_events(session)
                    done = [(item.raw_id, item.ticket_id) for _, item in committed]
                    if not await settle_done(session=session, owner=self.owner, done=done):
                        raise LeaseLost("a row of the group")  # redone one by one: those still ours are settled
                    replies = take_leased_outbox(session)
            except Exception:
                if attempted == start:  # the transaction did not even begin: the database is away
                    raise
                log.debug("group of raw=%d rolled back; its rows are redone one by one", ready[start][1].raw_id)
                for row, item in ready[start:attempted]:
                    await self._process_alone(row, item)
                start = attempted
                continue
            self._hand_over(replies)
            for row, item in committed:
                self._processed(row, item)
            start = attempted

    async def _transact(self, item: WorkItem, ctx: StageContext, reached: list[str], *, settle: bool = True) -> None:
        """The transactional stages and (unless the caller settles a group at once) the row's final state in the
        caller's transaction; `reached` ends holding the name of the step that was running if one raises (or
        LeaseLost)."""
        assert ctx.session is not None
        for stage in self._transactional:
            reached[0] = stage.name
            await stage.run(item, ctx)
        if not settle:
            return
        reached[0] = "settle"
        if not await settle_raw(
            session=ctx.session, raw_id=item.raw_id, owner=self.owner, state=RawState.DONE, ticket_id=item.ticket_id
        ):
            raise LeaseLost(str(item.raw_id))

    async def _process_alone(self, row: RawInbound, prepared: WorkItem) -> None:
        """The transactional stages of one prepared row in a transaction of its own, settling it however it ends."""
        item = _copy_item(prepared)
        reached = [""]
        try:
            async with self._db.write() as session:
                keep_events(session)
                self._offer_outbox_lease(session)
                await self._transact(item, StageContext(services=self._services, session=session), reached)
                await write_kept_events(session)
                replies = take_leased_outbox(session)
        except LeaseLost:
            log.warning("raw=%d lease lost; another worker has it", item.raw_id)
            return
        except PipelineOutcome as outcome:
            await self._settle(item, outcome.state, f"{reached[0]}: {outcome}")
            return
        except Exception as exc:
            log.exception("raw=%d quarantined: stage %s raised", item.raw_id, reached[0])
            await self._settle(item, RawState.QUARANTINED, f"{reached[0]}: {type(exc).__name__}: {exc}"[:2000])
            return
        self._hand_over(replies)
        self._processed(row, item)

    def _offer_outbox_lease(self, session: AsyncSession) -> None:
        """The replies this transaction queues are written leased to the sender, if it takes them (`_hand_over`)."""
        lease = self.outbox_lease() if self.outbox_lease is not None else None
        if lease is not None:
            offer_outbox_lease(session, lease)

    def _hand_over(self, replies: list[Outbox]) -> None:
        """After the commit: the replies written leased go to the sender directly."""
        if replies and self.hand_over is not None:
            self.hand_over(replies)

    def _processed(self, row: RawInbound, item: WorkItem) -> None:
        """After the commit: count, wake the outbox, log."""
        self.processed += 1
        if self.on_committed is not None:
            self.on_committed()
        if self.on_settled is not None:
            self.on_settled(1)
        if self._metrics is not None:
            self._metrics.observe_processed(str(item.channel), (utcnow() - row.received_at).total_seconds())
        message_id = item.parsed.message_id if item.parsed else None
        sender = redact(item.parsed.sender) if item.parsed else ""
        log.info(
            "raw=%d processed ticket=%s message_id=%s from=%s%s",
            item.raw_id,
            item.ticket_id,
            message_id,
            sender,
            f" thread={item.thread.rule}" if item.thread else "",
        )

    async def _settle(self, item: WorkItem, state: str, reason: str) -> None:
        async with self._db.write() as session:
            await settle_raw(session=session, raw_id=item.raw_id, owner=self.owner, state=state, reason=reason)
        if self.on_settled is not None:
            self.on_settled(1)
        if self._metrics is not None:
            self._metrics.count_outcome(str(item.channel), state)
        log.warning("raw=%d %s: %s", item.raw_id, state, reason)


def _new_item(row: RawInbound, raw: bytes) -> WorkItem:
    assert row.id is not None
    return WorkItem(
        raw_id=row.id,
        channel=Channel(row.channel),
        source=row.source,
        raw=raw,
        received_at=row.received_at,
        envelope_from=row.envelope_from,
        envelope_to=row.envelope_to,
    )


def _copy_item(item: WorkItem) -> WorkItem:
    """A copy that the transactional stages may change while the prepared original stays as it was (for a redo)."""
    copied = copy.copy(item)
    for name in ("locations", "rule_hits", "rule_misses"):
        setattr(copied, name, list(getattr(item, name)))
    return copied
