"""`inbox311 db upgrade`: bring the database schema up to date."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from gateway.settings import Settings


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply all migrations")
    add_config(up)
    up.set_defaults(func=_upgrade)


async def _upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import upgrade

    await upgrade(settings.database.url)
    print("database is up to date")
    return 0
