"""`inbox311 serve` reading a real Dovecot mailbox, killed with SIGKILL in the middle of its first sync and started
again: every message becomes a ticket exactly once, and every message ends in the processed folder."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.db import Database
from storage.imap import summarize_source
from storage.tickets import count_tickets
from tests.imap_server import PASSWORD, USER, Mailbox, free_port, report_bytes
from tests.smtp_sink import SmtpSink

COUNT, BATCH = 200, 10


@pytest.fixture
def mailbox(imap_port: int) -> Iterator[Mailbox]:
    box = Mailbox(imap_port).create()
    yield box
    box.remove()


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    s = await SmtpSink().start()
    yield s
    await s.stop()


class Serve:
    """One `inbox311 serve` process; its log is kept for the assertions and for a failure's message."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Serve:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX311__")}
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        return self

    async def wait_for_log(self, text: str, *, within: float = 120.0) -> None:
        assert self.proc is not None
        for _ in range(int(within / 0.05)):
            if text in self.log.read_text():
                return
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{text!r} not logged within {within} s:\n{self.log.read_text()[-3000:]}")

    async def stop(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return await asyncio.to_thread(self.proc.wait, 60)


async def counts(db_url: str) -> tuple[int, int]:
    db = Database(db_url)
    try:
        async with db.read() as session:
            stored = (await summarize_source(session=session, source="imap:city")).total
            return stored, await count_tickets(session=session)
    finally:
        await db.dispose()


async def test_killed_mid_sync_and_restarted_makes_each_ticket_once(
    tmp_path: Path, mailbox: Mailbox, imap_port: int, sink: SmtpSink
) -> None:
    mailbox.append([report_bytes(n, tag="proc") for n in range(COUNT)])
    db_url = f"sqlite+aiosqlite:///{tmp_path}/inbox311.db"
    config = tmp_path / "inbox311.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n'
        f"[smtp]\nport = {free_port()}\n[http]\nport = {free_port()}\n"
        f"[outbound.email]\nrelay_port = {sink.port}\n"
        f'[[imap]]\nname = "city"\nhost = "127.0.0.1"\nport = {imap_port}\ntls = "plain"\n'
        f'username = "{USER}"\npassword = "{PASSWORD}"\nfolder = "{mailbox.folder}"\n'
        f'processed_folder = "{mailbox.done}"\nbatch_size = {BATCH}\n'
    )
    log = tmp_path / "serve.log"

    first = Serve(config, log).start()
    try:
        await first.wait_for_log(f"imap city: {5 * BATCH}/{COUNT} taken from {mailbox.folder}")
    finally:
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL  # no clean stop: the process just dies
    stored_at_kill, _ = await counts(db_url)
    left_at_kill = await asyncio.to_thread(mailbox.count)
    assert 5 * BATCH <= stored_at_kill < COUNT and left_at_kill > 0  # killed with work left on the server

    second = Serve(config, log).start()
    try:
        await second.wait_for_log("imap city: connected", within=120)
        for _ in range(1200):
            _, tickets = await counts(db_url)
            if tickets >= COUNT and await asyncio.to_thread(mailbox.count) == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        assert await second.stop(signal.SIGTERM) == 0
    assert await counts(db_url) == (COUNT, COUNT)  # every message once as a raw row, once as a ticket
    assert mailbox.count() == 0 and mailbox.count(mailbox.done) == COUNT
    assert "inbox311: stopped" in log.read_text()
