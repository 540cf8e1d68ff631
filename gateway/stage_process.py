"""The pure stages (parse, extract, classify) in child processes, so reading mail uses a core of its own.

The service's process keeps everything that touches the database or the network; a child gets a batch of raw
messages and sends back, for each, the work item the pure stages made of it, or how it ended (an outcome or an
error, as the in-process stages would have settled it). The children load the same settings, rules and model as
the service, and run the same stage functions.

A message that kills its child (a crash in a C library, the OOM killer) or keeps it past `parse_timeout_seconds`
must not take the others with it: the child is replaced, the batch is retried one message at a time, and the one
that fails alone is quarantined with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from gateway.child_process import ChildLost, SpawnedChild
from gateway.heap import settle_heap
from gateway.pipeline import PipelineOutcome, Stage, StageContext, WorkItem
from gateway.settings import Settings
from gateway.stages.classify import classify_ahead
from gateway.stages.parse import ENRICHERS
from parsers.positional import pickled_by_position
from parsers.types import Channel
from storage.models import RawState

log = logging.getLogger(__name__)

PURE_STAGES = ("parse", "extract", "classify")
START_TIMEOUT_SECONDS = 120.0  # importing spaCy and loading the model, on a busy machine


@pickled_by_position
@dataclass(frozen=True, slots=True)
class Prepared:
    """What the pure stages made of one message: an item for the transaction, or the state and reason to settle."""

    item: WorkItem | None
    state: str = ""
    reason: str = ""
    error: bool = False  # the reason is a stage that raised (logged as an error), not a decision


def handles(channel: Channel) -> bool:
    """Channels whose pure stages need no I/O (no media to fetch between parsing and reading the text)."""
    return channel not in ENRICHERS


# ---- the child's side -------------------------------------------------------------------------------------------


async def run_pure_stages(item: WorkItem, stages: Sequence[Stage], ctx: StageContext) -> Prepared:
    """The pure stages of one message, settled as the worker settles them: in the service's process (awaited) and
    in a child (`prepare_in_child`) alike."""
    stage_name = ""
    try:
        for stage in stages:
            stage_name = stage.name
            await stage.run(item, ctx)
    except PipelineOutcome as outcome:
        return Prepared(None, outcome.state, f"{stage_name}: {outcome}")
    except Exception as exc:
        log.exception("raw=%d: stage %s raised", item.raw_id, stage_name)
        return Prepared(None, RawState.QUARANTINED, f"{stage_name}: {type(exc).__name__}: {exc}"[:2000], error=True)
    return Prepared(item)


def prepare_in_child(item: WorkItem, stages: Sequence[Stage], ctx: StageContext) -> Prepared:
    """`run_pure_stages` without an event loop: the stages of an I/O-free channel never wait."""
    running = run_pure_stages(item, stages, ctx)
    try:
        running.send(None)
    except StopIteration as finished:
        prepared: Prepared = finished.value
    else:
        running.close()
        return Prepared(None, RawState.QUARANTINED, "a pure stage waited for I/O", error=True)
    if prepared.item is not None:
        prepared.item.raw = b""  # the service has the bytes: do not send them back
    return prepared


def prepare_batch_in_child(batch: Sequence[WorkItem], stages: Sequence[Stage], ctx: StageContext) -> list[Prepared]:
    """`prepare_in_child` of each message, with the category of all of them found in one pass of the model between
    the stages before `classify` and `classify` itself (which then keeps what was found)."""
    if not stages or stages[-1].name != "classify":
        return [prepare_in_child(item, stages, ctx) for item in batch]
    *reading, classify = stages
    read = [prepare_in_child(item, reading, ctx) for item in batch]
    classify_ahead([p.item for p in read if p.item is not None], ctx)
    return [p if p.item is None else prepare_in_child(p.item, [classify], ctx) for p in read]


def _child_main(conn: Connection, settings: Settings) -> None:
    from gateway.services import build_services
    from gateway.stages import pipeline_stages

    ctx = StageContext(services=build_services(settings))
    stages = pipeline_stages(PURE_STAGES)
    settle_heap()
    conn.send("ready")
    while True:
        try:
            batch: list[WorkItem] = conn.recv()
        except (EOFError, OSError):  # the service went away
            return
        conn.send(prepare_batch_in_child(batch, stages, ctx))


# ---- the service's side -----------------------------------------------------------------------------------------


class _Child(SpawnedChild):
    """One child process and its pipe; one batch at a time."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(_child_main, (settings,), "inbox311-parse")

    async def call(self, batch: list[WorkItem], within: float) -> list[Prepared]:
        try:
            self.conn.send(batch)
        except OSError as exc:
            raise ChildLost(f"the process ended (exit code {self.process.exitcode})") from exc
        result: list[Prepared] = await self.receive(within)
        return result


class StageProcesses:
    """`processes` children running the pure stages; batches are split between them."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self._settings = settings
        self._count = processes
        self._timeout = settings.worker.parse_timeout_seconds
        self._idle: asyncio.Queue[_Child] = asyncio.Queue()
        self._all: list[_Child] = []
        self.replaced = 0  # children stopped for a crash or a timeout, and started again
        self._replacing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for _ in range(self._count):
            await self._idle.put(await self._new_child())
        log.info("worker: %d parse process(es) ready", self._count)

    async def stop(self) -> None:
        if self._replacing is not None and not self._replacing.done():
            self._replacing.cancel()
        for child in self._all:
            child.kill()
        self._all.clear()
        self._idle = asyncio.Queue()  # the stopped children must not be handed out after a new start

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self._all if c.process.pid is not None and c.process.is_alive()]

    async def _new_child(self) -> _Child:
        child = _Child(self._settings)
        self._all.append(child)
        try:
            await child.ready(START_TIMEOUT_SECONDS)
        except ChildLost:
            self._drop(child)
            raise
        return child

    async def _replace(self) -> None:
        await self._idle.put(await self._new_child())

    def _drop(self, child: _Child) -> None:
        child.kill()
        if child in self._all:
            self._all.remove(child)

    async def prepare(self, items: list[WorkItem]) -> list[Prepared]:
        """The pure stages of `items`, in order, spread over the children."""
        if not items:
            return []
        share = -(-len(items) // self._count)
        chunks = [items[i : i + share] for i in range(0, len(items), share)]
        results = await asyncio.gather(*(self._prepare_chunk(chunk) for chunk in chunks))
        return [prepared for chunk in results for prepared in chunk]

    async def _prepare_chunk(self, items: list[WorkItem]) -> list[Prepared]:
        try:
            return await self._call(items)
        except ChildLost as exc:
            if len(items) == 1:
                return [Prepared(None, RawState.QUARANTINED, f"parse-process: {exc}", error=True)]
            log.warning("worker: a parse process was lost (%s); its %d messages are retried one by one", exc,
                        len(items))  # fmt: skip
        return [prepared for item in items for prepared in await self._prepare_chunk([item])]

    async def _call(self, items: list[WorkItem]) -> list[Prepared]:
        child = await self._idle.get()
        try:
            prepared = await child.call(items, self._timeout)  # fresh items: the child's answers are copies
        except ChildLost:
            self._drop(child)
            self.replaced += 1
            await self._idle.put(await self._new_child())
            raise
        except BaseException:  # cancelled mid-call: its answer would reach the next caller, so start afresh
            self._drop(child)
            self._replacing = asyncio.create_task(self._replace())
            raise
        await self._idle.put(child)
        for item, result in zip(items, prepared, strict=True):
            if result.item is not None:
                result.item.raw = item.raw
        return prepared
