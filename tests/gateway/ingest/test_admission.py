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
    # Operators see it in /healthz (no worker here, so no pace).
    assert ok and details["backlog"] == {"limit": 2, "pace_per_second": 0.0, "waited": 1, "deferred": 1}


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


async def test_the_limit_follows_the_workers_pace(settings: Settings, sqlite_db: Database) -> None:
    smtp = settings.smtp.model_copy(update={"backlog_seconds": 0.5, "max_backlog": 1000})
    backlog = Backlog(sqlite_db, smtp, local_worker=True, worker_batch=32)
    assert backlog.limit() == 32  # pace not known yet: room for one of the worker's batches
    backlog.worked(32, 0.1)  # 320 rows a second of work, half a second of that is 160
    assert backlog.pace == pytest.approx(320) and backlog.limit() == 160
    backlog.worked(32, 0.3)  # 64 rows in 0.4 s of work: 160/s
    assert backlog.limit() == 80
    backlog.worked(6400, 0.1)
    assert backlog.limit() == 1000  # never above max_backlog


async def test_the_floor_is_the_least_room_and_max_backlog_wins(settings: Settings, sqlite_db: Database) -> None:
    slow = Backlog(sqlite_db, settings.smtp.model_copy(update={"backlog_seconds": 0.25}), local_worker=True)
    slow.worked(10, 1.0)  # 2.5 rows in a quarter of a second
    assert slow.limit() == MIN_BACKLOG
    small = settings.smtp.model_copy(update={"max_backlog": 5})
    assert Backlog(sqlite_db, small, local_worker=True, worker_batch=32).limit() == 5  # the operator's cap


async def test_a_burst_gets_the_full_limit_from_the_first_batch(
    settings: Settings, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured over the clock, the pace would be a fifth of the truth a second into a burst after a quiet spell
    (and the limit with it); measured over the worker's own time it is right at once, and stays right while idle."""
    smtp = settings.smtp.model_copy(update={"backlog_seconds": 0.25, "max_backlog": 1000})
    backlog = Backlog(sqlite_db, smtp, local_worker=True, worker_batch=32)
    clock = [1000.0]
    monkeypatch.setattr("gateway.ingest.admission.time.monotonic", lambda: clock[0])
    backlog.worked(32, 0.08)  # the first batch of a burst: 400 rows a second of work
    assert backlog.limit() == 100
    clock[0] += 3600.0  # an idle hour: the pipeline is no slower for it
    assert backlog.limit() == 100
    backlog.worked(32, 0.16)  # the new burst's first batch, slower: only it counts now (the old one is past)
    assert backlog.limit() == 50


async def test_only_the_pace_window_is_remembered(
    settings: Settings, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlog = Backlog(sqlite_db, settings.smtp, local_worker=True)
    clock = [1000.0]
    monkeypatch.setattr("gateway.ingest.admission.time.monotonic", lambda: clock[0])
    for _ in range(100):  # a long run of batches, with no SMTP session asking for the limit
        backlog.worked(50, 0.5)
        clock[0] += 1.0
    assert len(backlog._batches) <= 6  # about the last five seconds, not all 100
    assert backlog.pace == pytest.approx(100)


async def test_the_worker_reports_its_pace(service: Inbox311) -> None:
    host, port = service.smtp_address
    for n in range(3):
        await aiosmtplib.send(report(message_id=f"<pace{n}@resident.example>"), hostname=host, port=port)
    await service.worker.drain()
    assert service.backlog.pace > 0  # the worker's batches were measured
    ok, details = await service.health()
    assert ok and details["backlog"]["pace_per_second"] == round(service.backlog.pace, 1)


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
