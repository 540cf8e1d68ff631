"""`inbox311 ingest FILE...`: import .eml files, mbox files or Maildir folders through the pipeline, idempotently."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.settings import Settings

if TYPE_CHECKING:
    from storage.db import Database
    from storage.raw import NewRaw

BATCH = 200


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("ingest", help="import .eml files, an mbox or a Maildir")
    p.add_argument("paths", nargs="+", type=Path, metavar="FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="log every message on a terminal too (no progress bar)")
    add_config(p)
    p.set_defaults(func=_ingest)


class _AboveTheBar(logging.Handler):
    """Stands in for a handler writing to the terminal while a bar is drawn there: a warning or an error is written
    on a line of its own in place of the bar, and the bar is drawn again under it; lines below WARNING are left out."""

    def __init__(self, inner: logging.Handler, progress: _Progress) -> None:
        super().__init__(max(logging.WARNING, inner.level))
        self.inner = inner
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write("\r\x1b[K")  # clear the bar's line
        self.inner.handle(record)
        self.progress.draw()


class _Progress:
    """A one-line progress bar while stderr is a terminal, silent otherwise.

    While the bar is up, the log lines below WARNING (a few for every message imported) stay off the terminal:
    they would scroll the bar away. `--verbose` keeps every line and draws no bar; in a pipe or a log file nothing
    changes.
    """

    WIDTH = 30

    def __init__(self, total: int, *, verbose: bool = False) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.tty = sys.stderr.isatty() and not verbose
        self._swapped: list[tuple[logging.Handler, logging.Handler]] = []

    def __enter__(self) -> _Progress:
        if self.tty:
            root = logging.getLogger()
            for handler in list(root.handlers):
                if getattr(handler, "stream", None) is sys.stderr:
                    stand_in = _AboveTheBar(handler, self)
                    root.removeHandler(handler)
                    root.addHandler(stand_in)
                    self._swapped.append((handler, stand_in))
            self.draw()
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        for handler, stand_in in self._swapped:
            root.removeHandler(stand_in)
            root.addHandler(handler)
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def show(self, done: int) -> None:
        self.done = done
        self.draw()

    def draw(self) -> None:
        if self.tty:
            filled = self.WIDTH * self.done // self.total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()


async def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    # heavy imports here, not at module level: every `inbox311` verb imports every command module
    from gateway.app import build_services
    from gateway.ingest.files import FileIngestError, count_messages, iter_messages
    from gateway.ingest.smtp import idempotency_key
    from gateway.ingest.smtp_scan import message_id_of
    from gateway.worker import PipelineWorker
    from storage.db import Database, upgrade
    from storage.raw import NewRaw

    await upgrade(settings.database.url)
    db = Database(settings.database.url)
    worker = PipelineWorker(db, build_services(settings))
    stored = duplicates = 0
    try:
        with _Progress(count_messages(args.paths), verbose=args.verbose) as progress:
            batch: list[NewRaw] = []
            new_ids: list[int] = []
            done = 0
            for source, raw in iter_messages(args.paths):
                message_id = message_id_of(raw)
                batch.append(
                    NewRaw(
                        channel="email",
                        source=f"ingest:{source}"[:200],
                        idempotency_key=idempotency_key(raw, message_id),
                        raw=raw,
                        message_id=message_id,
                    )
                )
                if len(batch) >= BATCH:
                    s, d = await _store(db, batch, new_ids)
                    stored, duplicates, done = stored + s, duplicates + d, done + len(batch)
                    batch = []
                    await worker.drain(within=600)
                    progress.show(done)
            if batch:
                s, d = await _store(db, batch, new_ids)
                stored, duplicates, done = stored + s, duplicates + d, done + len(batch)
            await worker.drain(within=600)
            progress.show(done)
        not_taken = await _not_taken(db, new_ids)
    except FileIngestError as exc:
        print(f"inbox311: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(f"stored {stored} new message(s), {duplicates} already known, {worker.processed} processed{not_taken}")
    return 0


async def _store(db: Database, batch: list[NewRaw], new_ids: list[int]) -> tuple[int, int]:
    """Store a batch; (new, already known), the new rows' ids added to `new_ids`."""
    from storage.raw import store_raw_batch

    async with db.write() as session:
        results = await store_raw_batch(session=session, items=batch)
    fresh = [r.raw_id for r in results if r.raw_id is not None]  # (a duplicate has no id of its own)
    new_ids.extend(fresh)
    return len(fresh), len(results) - len(fresh)


async def _not_taken(db: Database, new_ids: list[int]) -> str:
    """The imported messages the pipeline did not make into tickets, as the summary line's tail ("" for none)."""
    from storage.raw import count_raw_states_of
    from storage.states import RawState

    async with db.read() as session:
        states = await count_raw_states_of(session=session, raw_ids=new_ids)
    parts = [
        f"{states[state]} {label} (inbox311 raw list --state {state})"
        for state, label in ((RawState.QUARANTINED, "quarantined"), (RawState.HELD, "held for review"))
        if states.get(state)
    ]
    return "".join(f", {part}" for part in parts)
