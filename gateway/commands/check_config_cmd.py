"""`inbox311 check-config`: load the configuration, then log in to every mailbox and the relay and say what works.

Exit 0 when everything answered as configured, 1 when something did not (each failure on its own line), 2 when the
configuration itself does not load (handled by the CLI, one line naming the key).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from gateway.settings import Settings

CheckResult = tuple[str, bool, str]  # what was checked, whether it works, one line saying how


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "check-config", help="log in to the database, every [[imap]] mailbox and the outbound relay; report"
    )
    add_config(p)
    p.set_defaults(func=_check_config)


async def check_database(settings: Settings) -> CheckResult:
    from sqlalchemy import text

    from storage.db import Database

    db = Database(settings.database.url)
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
        return "database", True, f"reachable ({db.engine.dialect.name})"
    except Exception as exc:  # any driver error: the report names it and goes on with the other checks
        return "database", False, f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        await db.dispose()


async def check_relay(settings: Settings) -> CheckResult:
    """Connect to the outbound relay as the sender does (TLS, login), then QUIT; nothing is sent."""
    import aiosmtplib

    from gateway.outbox.email import open_relay

    s = settings.outbound.email
    where = f"relay {s.relay_host}:{s.relay_port}"
    try:
        client = await open_relay(s)
    except aiosmtplib.SMTPAuthenticationError as exc:
        return where, False, f"login as {s.username} refused: {exc.code} {exc.message}"
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return where, False, f"cannot connect: {type(exc).__name__}: {exc}"
    try:
        security = "TLS" if s.use_tls else "STARTTLS" if s.starttls else "no TLS"
        login = f"logged in as {s.username}" if s.username else "no login configured"
        return where, True, f"connected ({security}), {login}"
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


async def run_checks(settings: Settings) -> list[CheckResult]:
    """Every check, run side by side; a failure in one never hides the others."""
    from gateway.ingest.imap_connect import check_imap_account

    async def imap(account_index: int) -> CheckResult:
        account = settings.imap[account_index]
        ok, message = await check_imap_account(account)
        return f"imap {account.name}", ok, message

    return list(
        await asyncio.gather(
            check_database(settings),
            *(imap(i) for i in range(len(settings.imap))),
            check_relay(settings),
        )
    )


async def _check_config(_args: argparse.Namespace, settings: Settings) -> int:
    results = await run_checks(settings)
    if not settings.imap:
        print("note  no [[imap]] mailboxes are configured")
    for what, ok, message in results:
        print(f"{'ok  ' if ok else 'FAIL'}  {what}: {message}")
    failed = sum(1 for _, ok, _ in results if not ok)
    print(f"{len(results) - failed} of {len(results)} checks passed" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0
