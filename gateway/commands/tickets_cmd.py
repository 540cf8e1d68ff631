"""`inbox311 tickets list`: the tickets, newest activity first, as JSON or a readable table."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from gateway.settings import Settings

COLUMNS = ("tracking_number", "status", "channel", "category", "summary", "created_at")


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    tickets = sub.add_parser("tickets", help="tickets")
    tsub = tickets.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    ls = tsub.add_parser("list", help="list tickets")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.add_argument("--status", default=None)
    ls.add_argument("--channel", default=None)
    ls.add_argument("--limit", type=int, default=100)
    add_config(ls)
    ls.set_defaults(func=_list)


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, max_width: int = 48) -> str:
    """A plain fixed-width table; long cells are cut with an ellipsis."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = " ".join(text.split())
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    # heavy imports here, not at module level: every `inbox311` verb imports every command module
    from storage.db import Database
    from storage.tickets import list_tickets

    async with Database(settings.database.url) as db, db.read() as session:
        tickets = await list_tickets(session=session, limit=args.limit, status=args.status, channel=args.channel)
    rows = [{c: getattr(t, c) for c in COLUMNS} for t in tickets]
    for row in rows:
        row["created_at"] = row["created_at"].isoformat(timespec="seconds")
    if args.format == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(render_table(rows, COLUMNS) if rows else "no tickets")
    return 0
