"""Nothing lost, nothing doubled: the IMAP ingestor across a Dovecot restart mid-sync, a restart while idle, and
being killed between storing a batch and moving it. Runs on a Dovecot of its own, which it may restart; the same
server (with XOAUTH2 enabled) checks the OAuth2 login over IMAPS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.ingest.imap import ImapIngestor, ImapUnavailable, check_imap_account
from gateway.ingest.imap_folder import select_folder, wait_in_idle
from gateway.ingest.writer import RawWriter
from gateway.settings import Settings
from storage.db import Database
from tests.imap_server import (
    GatedWriter,
    Mailbox,
    PrivateDovecot,
    account,
    raw_bytes,
    raw_rows,
    report_bytes,
    tickets_after_pipeline,
    wait_for_rows,
    wait_until,
)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[PrivateDovecot]:
    with PrivateDovecot.running() as server:
        yield server


@pytest.fixture
def mailbox(dovecot: PrivateDovecot) -> Iterator[Mailbox]:
    box = Mailbox(dovecot.imap_port).create()
    yield box
    box.remove()


@pytest.fixture
async def writer(sqlite_db: Database) -> AsyncIterator[GatedWriter]:
    w = GatedWriter(sqlite_db)
    w.start()
    yield w
    w.gate.set()
    await w.stop()


def mixed_reports(count: int) -> list[bytes]:
    """Every fifth without a Message-ID: those are recognised by their (UIDVALIDITY, UID) key alone."""
    return [report_bytes(n, message_id=n % 5 != 3) for n in range(count)]


async def assert_taken_exactly_once(db: Database, mailbox: Mailbox, sent: list[bytes], settings: Settings) -> None:
    rows = await raw_rows(db)
    stored = await raw_bytes(db, rows)
    assert sorted(raw.replace(b"\r\n", b"\n") for raw in stored) == sorted(m.replace(b"\r\n", b"\n") for m in sent)
    assert len({r.idempotency_key for r in rows}) == len(sent)
    assert mailbox.count() == 0 and mailbox.count(mailbox.done) == len(sent)
    # and through the pipeline: one ticket per message, none twice
    tickets = await tickets_after_pipeline(db, settings)
    assert sorted(t.summary for t in tickets) == sorted(f"Report {n}: pothole" for n in range(len(sent)))


async def test_dovecot_restart_mid_sync(
    dovecot: PrivateDovecot,
    mailbox: Mailbox,
    sqlite_db: Database,
    writer: GatedWriter,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ingest.imap")
    sent = mixed_reports(100)
    mailbox.append(sent)
    writer.hold_after = 30  # batch 2 of 20 is half committed, nothing of it moved yet
    ingestor = ImapIngestor(account(dovecot.imap_port, mailbox.folder, batch_size=20), db=sqlite_db, writer=writer)
    await ingestor.start()
    try:
        await asyncio.wait_for(writer.reached.wait(), 10)
        await asyncio.to_thread(dovecot.restart, down_for=0.5)
        writer.hold_after = None
        writer.gate.set()
        await wait_for_rows(sqlite_db, 100, within=30)
        await wait_until(lambda: ingestor.state.idling and mailbox.count(mailbox.done) == 100, within=30)
    finally:
        await ingestor.stop()
    await assert_taken_exactly_once(sqlite_db, mailbox, sent, settings)
    assert any("retrying in" in r.message for r in caplog.records)  # it did lose the server, and came back
    assert ingestor.state.last_error is None and ingestor.state.messages_stored == 100


async def test_dovecot_restart_while_idle(
    dovecot: PrivateDovecot,
    mailbox: Mailbox,
    sqlite_db: Database,
    writer: GatedWriter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.ingest.imap")
    ingestor = ImapIngestor(account(dovecot.imap_port, mailbox.folder), db=sqlite_db, writer=writer)
    await ingestor.start()
    try:
        await wait_until(lambda: ingestor.state.idling, what="IDLE")
        await asyncio.to_thread(dovecot.restart, down_for=0.3)
        await asyncio.to_thread(mailbox.append, [report_bytes(1)])
        await wait_for_rows(sqlite_db, 1, within=10)
        await wait_until(lambda: ingestor.state.idling and ingestor.state.connected, what="IDLE again")
    finally:
        await ingestor.stop()
    assert any("server closed the connection: Server shutting down" in r.message for r in caplog.records)
    assert len(await raw_rows(sqlite_db)) == 1


async def test_killed_between_store_and_move_then_restarted(
    dovecot: PrivateDovecot, mailbox: Mailbox, sqlite_db: Database, writer: GatedWriter, settings: Settings
) -> None:
    sent = mixed_reports(60)
    mailbox.append(sent)
    acct = account(dovecot.imap_port, mailbox.folder, batch_size=20)
    writer.hold_after = 25
    killed = ImapIngestor(acct, db=sqlite_db, writer=writer)
    task = asyncio.create_task(killed.run())
    await asyncio.wait_for(writer.reached.wait(), 10)
    task.cancel()  # the process dies: nothing after this point runs, no clean stop
    with contextlib.suppress(asyncio.CancelledError):
        await task

    stored_before = len(await raw_rows(sqlite_db))
    assert 25 <= stored_before < 60  # part of batch 2 is committed ...
    assert await asyncio.to_thread(mailbox.count) == 40  # ... but only batch 1 left the folder

    fresh = RawWriter(sqlite_db)  # a new process: new writer, new ingestor, same database and mailbox
    fresh.start()
    restarted = ImapIngestor(acct, db=sqlite_db, writer=fresh)
    await restarted.start()
    try:
        await wait_for_rows(sqlite_db, 60)
        await wait_until(lambda: restarted.state.idling, what="the restarted ingestor to finish")
    finally:
        await restarted.stop()
        await fresh.stop()
    await assert_taken_exactly_once(sqlite_db, mailbox, sent, settings)
    assert restarted.state.messages_stored == 60 - stored_before


def test_bye_during_idle_raises_for_a_reconnect(dovecot: PrivateDovecot, mailbox: Mailbox) -> None:
    client = mailbox.client()
    try:
        select_folder(client, mailbox.folder, "")
        idling = threading.Event()
        threading.Thread(target=lambda: idling.wait(5) and dovecot.kick(), daemon=True).start()
        with pytest.raises(ImapUnavailable, match="server closed the connection: Server shutting down"):
            wait_in_idle(client, stop=threading.Event(), renew_after=30, on_idle=idling.set)
    finally:
        client.shutdown()


async def test_xoauth2_over_imaps_with_a_token_command(
    dovecot: PrivateDovecot, mailbox: Mailbox, sqlite_db: Database, writer: GatedWriter, tmp_path: Path
) -> None:
    # This server's passwd-file checks the bearer token as it would a password, so the token is "secret".
    command = f"{sys.executable} -c \"print('secret')\""
    acct = account(dovecot.imaps_port, mailbox.folder, tls="ssl", ca_file=dovecot.cafile, auth="xoauth2",
                   password="", oauth2_token_command=command)  # fmt: skip
    ok, message = await check_imap_account(acct)
    assert ok and "(ssl, xoauth2)" in message, message

    token_file = tmp_path / "token"
    token_file.write_text("not-the-token\n")
    wrong = acct.model_copy(update={"oauth2_token_command": "", "oauth2_token_file": str(token_file)})
    ok, message = await check_imap_account(wrong)
    assert not ok and message.startswith("login failed for inbox@city.test") and "(xoauth2)" in message

    mailbox.append([report_bytes(1)])
    ingestor = ImapIngestor(acct, db=sqlite_db, writer=writer)
    await ingestor.start()
    try:
        [row] = await wait_for_rows(sqlite_db, 1)
    finally:
        await ingestor.stop()
    assert row.message_id == "r-1@example.test"
