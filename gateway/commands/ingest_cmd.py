"""`inbox311 ingest FILE...`: import .eml files, mbox files or Maildir folders through the pipeline, idempotently."""

from __future__ import annotations

import argparse
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
    add_config(p)
    p.set_defaults(func=_ingest)


class _Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.tty = sys.stderr.isatty()

    def show(self, done: int) -> None:
        if self.tty:
            width = 30
            filled = width * done // self.total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


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
        progress = _Progress(count_messages(args.paths))
        batch: list[NewRaw] = []
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
                s, d = await _store(db, batch)
                stored, duplicates, done = stored + s, duplicates + d, done + len(batch)
                batch = []
                await worker.drain(within=600)
                progress.show(done)
        if batch:
            s, d = await _store(db, batch)
            stored, duplicates, done = stored + s, duplicates + d, done + len(batch)
        await worker.drain(within=600)
        progress.show(done)
        progress.close()
    except FileIngestError as exc:
        print(f"inbox311: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(f"stored {stored} new message(s), {duplicates} already known, {worker.processed} processed")
    return 0


async def _store(db: Database, batch: list[NewRaw]) -> tuple[int, int]:
    from storage.raw import store_raw_batch

    async with db.write() as session:
        results = await store_raw_batch(session=session, items=batch)
    new = sum(1 for r in results if not r.duplicate)
    return new, len(results) - new
