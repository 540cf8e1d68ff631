"""Flow control at the SMTP edge: when more mail waits for the pipeline than it can soon settle, DATA waits for
room, first come first served, and after `busy_wait_seconds` answers 451 without storing; the MTA retries later."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiosmtplib
import pytest

from gateway.app import Inbox311
from gateway.ingest.admission import MIN_BACKLOG, Backlog
from gateway.settings import Settings
from storage.db import Database
from storage.raw import NewRaw, count_backlog, list_raw, store_raw_batch
from tests.gateway.conftest import report, service_settings
from tests.smtp_sink import SmtpSink


@pytest.fixture
async def ingest_only(settings: Settings, sqlite_url: str, sink: SmtpSink) -> AsyncIterator[Inbox311]:
    """An instance without a worker of its own: nothing leaves the backlog unless the test settles it."""
    smtp = {"max_backlog": 2, "busy_wait_seconds": 0.5}
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port, smtp=smtp, worker={"enabled": False}))
    await svc.start()
    yield svc
    await svc.stop()


async def _send(svc: Inbox311, n: int) -> aiosmtplib.SMTPResponse | aiosmtplib.SMTPDataError:
    host, port = svc.smtp_address
    try:
        _, reply = await aiosmtplib.send(report(message_id=f"<flow{n}@resident.example>"), hostname=host, port=port)
    except aiosmtplib.SMTPDataError as exc:
        return exc
    return aiosmtplib.SMTPResponse(250, reply)


async def test_a_full_backlog_defers_with_451_and_stores_nothing(ingest_only: Inbox311) -> None:
    first = [await _send(ingest_only, n) for n in range(2)]
    assert [r.code for r in first] == [250, 250]
    third = await _send(ingest_only, 2)
    assert isinstance(third, aiosmtplib.SMTPDataError)
    assert third.code == 451 and "4.3.2" in third.message
    async with ingest_only.db.read() as session:
        assert len(await list_raw(session=session)) == 2  # the deferred message was never stored
    assert ingest_only.backlog.refused == 1
    ok, details = await ingest_only.health()
    assert ok and details["backlog"] == {"limit": 2, "waited": 1, "deferred": 1}  # operators see it in /healthz


async def test_a_waiting_message_goes_in_when_room_is_made(ingest_only: Inbox311) -> None:
    for n in range(2):
        assert (await _send(ingest_only, n)).code == 250
    waiting = asyncio.create_task(_send(ingest_only, 2))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # DATA is not answered while the backlog is full
    ingest_only.backlog.settled(1)  # as the worker does when it finishes a row
    assert (await waiting).code == 250
    assert ingest_only.backlog.waited == 1 and ingest_only.backlog.refused == 0


async def test_duplicates_take_no_room(ingest_only: Inbox311) -> None:
    assert (await _send(ingest_only, 0)).code == 250
    for _ in range(3):  # the same Message-ID again: acknowledged, not stored, not counted
        assert (await _send(ingest_only, 0)).code == 250
    assert ingest_only.backlog.size == 1


async def test_the_limit_follows_the_workers_rate(settings: Settings, sqlite_db: Database) -> None:
    smtp = settings.smtp.model_copy(update={"backlog_seconds": 0.5, "max_backlog": 100})
    backlog = Backlog(sqlite_db, smtp, local_worker=True)
    assert backlog.limit() == MIN_BACKLOG  # rate not known yet: room for a burst
    backlog.settled(400)  # 400 rows in the 5-second window: 80/s, half a second of that is 40
    assert backlog.limit() == 40
    backlog.settled(2000)
    assert backlog.limit() == 100  # never above max_backlog


async def test_only_the_rate_window_is_remembered(
    settings: Settings, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlog = Backlog(sqlite_db, settings.smtp, local_worker=True)
    clock = [1000.0]
    monkeypatch.setattr("gateway.ingest.admission.time.monotonic", lambda: clock[0])
    for _ in range(100):  # a long run of texts and mailbox mail, with no SMTP session asking for the limit
        backlog.settled(50)
        clock[0] += 1.0
    assert len(backlog._settled) <= 50 * 6  # about the last five seconds, not all 5000


async def test_the_count_includes_what_others_stored(settings: Settings, sqlite_db: Database) -> None:
    smtp = settings.smtp.model_copy(update={"max_backlog": 4, "busy_wait_seconds": 0.3})
    backlog = Backlog(sqlite_db, smtp, local_worker=False)
    async with sqlite_db.write() as session:  # e.g. another instance, or the rows left when the service restarted
        await store_raw_batch(
            session=session,
            items=[NewRaw(channel="email", source="imap", idempotency_key=f"k{n}", raw=b"x") for n in range(3)],
        )
        assert await count_backlog(session=session) == 3
    assert await backlog.admit() is True  # 3 waiting, room for one more
    assert await backlog.admit() is False  # that one is on its way in: full
    assert backlog.size == 4 and backlog.refused == 1
    backlog.release()  # it was not stored after all
    assert backlog.size == 3
