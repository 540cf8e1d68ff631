"""`inbox311 imap status`: each configured mailbox's checkpoint, what it has stored, and the running service's view.

The checkpoint and the stored rows come from the database, so the verb answers whether or not the service runs; the
live state (connected, idling, last error) comes from the running service's `/healthz` when it answers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from gateway.commands.tickets_cmd import render_table
from gateway.settings import Settings

LIVE_TIMEOUT_SECONDS = 3.0
COLUMNS = ("account", "folder", "state", "last_sync", "uidvalidity", "last_uid", "stored", "error")


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    imap = sub.add_parser("imap", help="IMAP mailboxes")
    isub = imap.add_subparsers(dest="imap_command", required=True, metavar="ACTION")
    st = isub.add_parser(
        "status", help="per mailbox: connected or not, last sync, last error, checkpoint, messages stored"
    )
    st.add_argument("--format", choices=("table", "json"), default="table")
    add_config(st)
    st.set_defaults(func=_status)


def health_url(settings: Settings) -> str:
    """Where this configuration's service answers `/healthz` (a wildcard listen address is reached on loopback)."""
    host = settings.http.host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http.port}/healthz"


async def fetch_live_imap_state(settings: Settings) -> dict[str, dict[str, Any]] | None:
    """The `imap` part of the running service's `/healthz`; None when no service answers there."""
    import httpx

    if not settings.http.enabled or settings.http.port == 0:
        return None
    try:
        async with httpx.AsyncClient(timeout=LIVE_TIMEOUT_SECONDS) as client:
            response = await client.get(health_url(settings))
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return body.get("imap", {}) if isinstance(body, dict) else None


def _state_word(live: dict[str, Any] | None) -> str:
    if live is None:
        return "unknown"
    if not live.get("running", True):
        return "stopped"
    if live.get("connected"):
        return "idle" if live.get("idling") else "connected"
    return "error" if live.get("last_error") else "connecting"


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import Database
    from storage.imap import get_checkpoint, summarize_source

    if not settings.imap:
        print("no [[imap]] mailboxes are configured")
        return 0
    db = Database(settings.database.url)
    rows: list[dict[str, Any]] = []
    try:
        live_all = await fetch_live_imap_state(settings)
        async with db.read() as session:
            for account in settings.imap:
                checkpoint = await get_checkpoint(session=session, account=account.name, folder=account.folder)
                summary = await summarize_source(session=session, source=f"imap:{account.name}")
                live = None if live_all is None else live_all.get(account.name)
                last_sync = (live or {}).get("last_sync") or (
                    checkpoint.updated_at.isoformat(timespec="seconds") if checkpoint else None
                )
                rows.append(
                    {
                        "account": account.name,
                        "folder": account.folder,
                        "host": f"{account.host}:{account.port}",
                        "state": _state_word(live),
                        "connected": None if live is None else bool(live.get("connected")),
                        "last_sync": last_sync,
                        "error": None if live is None else live.get("last_error"),
                        "uidvalidity": checkpoint.uidvalidity if checkpoint else None,
                        "last_uid": checkpoint.last_uid if checkpoint else None,
                        "stored": summary.total,
                        "stored_by_state": summary.by_state,
                    }
                )
    finally:
        await db.dispose()
    if args.format == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(render_table(rows, COLUMNS))
        if live_all is None:
            print(f"(no running service answered at {health_url(settings)}: live state unknown)")
    # non-zero when the running service reports a mailbox it cannot read, for monitoring scripts
    return 1 if any(r["state"] in ("error", "stopped") for r in rows) else 0
