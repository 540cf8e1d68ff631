"""`inbox311 outbox list` and `inbox311 raw list|replay`: what waits to go out, what came in and where it stopped."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from gateway.commands.tickets_cmd import render_table
from gateway.redact import redact
from gateway.settings import Settings
from storage.states import RawState


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    outbox = sub.add_parser("outbox", help="outgoing messages")
    osub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    ls = osub.add_parser("list", help="list outbox rows (newest first)")
    ls.add_argument("--state", default=None, help="pending, sending, sent, dead, bounced, suppressed ...")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.add_argument("--limit", type=int, default=100)
    add_config(ls)
    ls.set_defaults(func=_outbox_list)

    raw = sub.add_parser("raw", help="raw inbound messages")
    rsub = raw.add_subparsers(dest="raw_command", required=True, metavar="ACTION")
    rl = rsub.add_parser("list", help="list raw messages (newest first)")
    rl.add_argument("--state", default=None, help="pending, done, quarantined, discarded, held")
    rl.add_argument("--format", choices=("table", "json"), default="table")
    rl.add_argument("--limit", type=int, default=100)
    add_config(rl)
    rl.set_defaults(func=_raw_list)
    rr = rsub.add_parser("replay", help="send quarantined (or held) messages through the pipeline again")
    target = rr.add_mutually_exclusive_group(required=True)
    target.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
    target.add_argument("--all", action="store_true")
    rr.add_argument("--state", default=RawState.QUARANTINED, choices=(RawState.QUARANTINED, RawState.HELD))
    add_config(rr)
    rr.set_defaults(func=_raw_replay)


def _print(rows: list[dict], columns: tuple[str, ...], fmt: str, empty: str) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
    else:
        print(render_table(rows, columns) if rows else empty)


async def _outbox_list(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.outbox import list_outbox

    async with Database(settings.database.url) as db, db.read() as session:
        rows = await list_outbox(session=session, state=args.state, limit=args.limit)
    out = [
        {
            "id": r.id,
            "state": r.state,
            "channel": r.channel,
            "kind": r.kind,
            "ticket_id": r.ticket_id,
            "recipient": redact(r.recipient),
            "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at.isoformat(timespec="seconds"),
            "error": r.error,
        }
        for r in rows
    ]
    _print(
        out,
        ("id", "state", "channel", "kind", "ticket_id", "recipient", "attempts", "next_attempt_at", "error"),
        args.format,
        "outbox is empty",
    )
    return 0


async def _raw_list(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.raw import list_raw

    async with Database(settings.database.url) as db, db.read() as session:
        rows = await list_raw(session=session, state=args.state, limit=args.limit)
    out = [
        {
            "id": r.id,
            "state": r.state,
            "channel": r.channel,
            "source": r.source,
            "message_id": r.message_id,
            "size": r.size,
            "received_at": r.received_at.isoformat(timespec="seconds"),
            "ticket_id": r.ticket_id,
            "reason": r.reason,
        }
        for r in rows
    ]
    _print(
        out,
        ("id", "state", "channel", "source", "size", "received_at", "ticket_id", "reason"),
        args.format,
        "no raw messages",
    )
    return 0


async def _raw_replay(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.raw import requeue_raw

    async with Database(settings.database.url) as db, db.write() as session:
        n = await requeue_raw(session=session, raw_ids=None if args.all else args.ids, state=args.state)
    print(f"{n} message(s) queued for the pipeline again; a running `inbox311 serve` picks them up")
    return 0
