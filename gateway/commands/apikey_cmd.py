"""`inbox311 apikey add|list|revoke`: the keys Open311 clients post requests with.

`add NAME` prints the new key once; only its hash is stored, so a lost key is revoked and replaced, never shown.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from gateway.commands.tickets_cmd import render_table
from gateway.settings import Settings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    apikey = sub.add_parser("apikey", help="Open311 API keys")
    asub = apikey.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    add = asub.add_parser("add", help="create a key and print it (once)")
    add.add_argument("name", help="who the key is for, e.g. seeclickfix (letters, digits, '.', '_', '-')")
    add_config(add)
    add.set_defaults(func=_add)
    ls = asub.add_parser("list", help="list keys (names only; secrets are never shown again)")
    add_config(ls)
    ls.set_defaults(func=_list)
    rv = asub.add_parser("revoke", help="stop accepting a key")
    rv.add_argument("name")
    add_config(rv)
    rv.set_defaults(func=_revoke)


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    from storage.apikeys import ApiKeyExists, create_api_key
    from storage.db import Database, upgrade

    if not _NAME.match(args.name):
        print("inbox311: apikey name: use letters, digits, '.', '_' or '-' (at most 100)", file=sys.stderr)
        return 2
    await upgrade(settings.database.url)  # the first command on a new install may come before `serve`
    try:
        async with Database(settings.database.url) as db, db.write() as session:
            key = await create_api_key(session=session, name=args.name)
    except ApiKeyExists:
        print(f"inbox311: apikey {args.name!r} exists already (revoke it and add another name)", file=sys.stderr)
        return 1
    print(key.secret)
    print(f"API key {key.name!r} created; it is shown only this once.", file=sys.stderr)
    return 0


async def _list(_args: argparse.Namespace, settings: Settings) -> int:
    from storage.apikeys import list_api_keys
    from storage.db import Database

    async with Database(settings.database.url) as db, db.read() as session:
        keys = await list_api_keys(session=session)
    rows = [
        {"name": k.name, "active": "yes" if k.active else "revoked", "created_at": k.created_at.isoformat()[:19]}
        for k in keys
    ]
    print(render_table(rows, ("name", "active", "created_at")) if rows else "no API keys")
    return 0


async def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    from storage.apikeys import revoke_api_key
    from storage.db import Database

    async with Database(settings.database.url) as db, db.write() as session:
        found = await revoke_api_key(session=session, name=args.name)
    if not found:
        print(f"inbox311: no apikey named {args.name!r}", file=sys.stderr)
        return 1
    print(f"API key {args.name!r} revoked")
    return 0
