"""The pure stages in child processes: the same items as in the service's own process; a lost child loses nothing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Inbox311
from gateway.pipeline import StageContext, WorkItem
from gateway.services import build_services
from gateway.settings import Settings
from gateway.stage_process import PURE_STAGES, Prepared, StageProcesses, run_pure_stages
from gateway.stages import pipeline_stages
from parsers.types import Channel
from storage.models import RawInbound, RawState
from storage.raw import list_raw
from storage.tickets import list_tickets
from tests.gateway.conftest import report, service_settings
from tests.gateway.test_durability import raw_email, store
from tests.smtp_sink import SmtpSink

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def _item(raw_id: int, raw: bytes) -> WorkItem:
    return WorkItem(
        raw_id=raw_id, channel=Channel.EMAIL, source="smtp", raw=raw, received_at=datetime(2026, 5, 1, tzinfo=UTC)
    )


def _corpus_mails() -> list[bytes]:
    """Real third-party messages (see tests/fixtures/email/README.md), plus reports with a place and a category."""
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix == ".eml")[::19]  # ~40, from every set
    reports = [
        report("Light out", "The light on the corner of Clark and Belmont has been out for a week."),
        report("", "huge pothole in front of 1420 W Addison St, almost lost a tire"),
        report("", ""),  # empty: rejected
    ]
    return [p.read_bytes() for p in files] + [bytes(m) for m in reports]


@pytest.fixture
async def children(settings: Settings) -> AsyncIterator[StageProcesses]:
    processes = StageProcesses(settings.replace(worker={"parse_processes": 1}), 1)
    await processes.start()
    yield processes
    await processes.stop()


async def test_children_make_the_same_items_as_the_service_itself(settings: Settings, children: StageProcesses) -> None:
    mails = _corpus_mails()
    assert len(mails) > 20
    ctx = StageContext(services=build_services(settings))
    stages = pipeline_stages(PURE_STAGES)
    here: list[Prepared] = []
    for n, raw in enumerate(mails, start=1):
        here.append(await run_pure_stages(_item(n, raw), stages, ctx))  # what the worker runs in its own process

    there = await children.prepare([_item(n, raw) for n, raw in enumerate(mails, start=1)])

    assert there == here
    made = [p.item for p in there if p.item is not None]
    assert len(made) >= len(mails) - 3 and all(item.parsed is not None for item in made)
    light, pothole = made[-2], made[-1]
    assert light.classification is not None and light.classification.category == "street-light"
    assert pothole.location is not None and "1420 W Addison" in pothole.location.text
    assert there[-1] == Prepared(None, "quarantined", "parse: empty: no subject, no text and no attachments")


async def test_a_child_is_named_for_ps_and_top(children: StageProcesses) -> None:
    [pid] = children.pids
    name = await asyncio.to_thread(Path(f"/proc/{pid}/comm").read_text)
    assert name.strip() == "inbox311-parse"  # not "python", like the others


async def test_a_killed_child_is_replaced_and_its_messages_are_still_read(children: StageProcesses) -> None:
    [pid] = children.pids
    os.kill(pid, signal.SIGKILL)  # what the OOM killer or a crash in a C extension does
    mails = [bytes(report(f"Pothole {n}", f"Pothole at {n} Main St")) for n in range(1, 4)]

    prepared = await children.prepare([_item(n, raw) for n, raw in enumerate(mails, start=1)])

    subjects = [p.item.parsed.subject for p in prepared if p.item and p.item.parsed]
    assert subjects == ["Pothole 1", "Pothole 2", "Pothole 3"]
    assert children.replaced == 1 and children.pids and children.pids != [pid]


async def test_a_message_the_child_does_not_finish_in_time_is_quarantined_and_the_next_is_read(
    settings: Settings,
) -> None:
    slow = settings.replace(worker={"parse_processes": 1, "parse_timeout_seconds": 0.01})
    processes = StageProcesses(slow, 1)
    await processes.start()
    try:
        words = "Another line of a very long report about a pothole on Main Street.\n" * 60_000  # ~4 MB to parse
        [stuck] = await processes.prepare([_item(1, bytes(report("Long", words)))])
        assert stuck == Prepared(None, "quarantined", "parse-process: no answer within 0.01 s", error=True)
        assert processes.replaced == 1 and len(processes.pids) == 1
    finally:
        await processes.stop()
    assert processes.pids == []


async def test_a_service_with_a_parse_process_answers_a_report(settings: Settings, db_url: str, sink: SmtpSink) -> None:
    service = Inbox311(service_settings(settings, db_url, sink.port, worker={"parse_processes": 1}))
    await service.start()
    try:
        children = service.worker.stage_processes
        assert children is not None and len(children.pids) == 1
        ok, details = await service.health()
        assert ok and details["parse_processes"] == {"running": 1, "replaced": 0}
        host, port = service.smtp_address
        await aiosmtplib.send(report(), hostname=host, port=port)
        await aiosmtplib.send(report("", "", message_id="<empty@resident.example>"), hostname=host, port=port)
        [ack] = await sink.handler.wait_for(1)
        assert re.fullmatch(r"Re: Pothole on Main St \[SR-\d{4}-000001\]", ack["Subject"])
        for _ in range(100):
            async with service.db.read() as session:
                states = sorted(r.state for r in await list_raw(session=session))
            if RawState.PENDING not in states and RawState.PROCESSING not in states:
                break
            await asyncio.sleep(0.05)
        async with service.db.read() as session:
            [ticket] = await list_tickets(session=session)
            _, empty = sorted(await list_raw(session=session), key=lambda r: r.id)
        assert ticket.category == "pothole" and ticket.address_key
        assert empty.state == RawState.QUARANTINED
        assert empty.reason == "parse: empty: no subject, no text and no attachments"
    finally:
        await service.stop()
    assert children.pids == []


async def test_the_next_two_batches_are_claimed_before_this_batch_commits(
    settings: Settings, db_url: str, sink: SmtpSink
) -> None:
    """So that the children read them while the service commits (a claim made after would wait for the commit),
    and a child done early with one has the other to go on with."""
    cfg = service_settings(settings, db_url, sink.port, worker={"parse_processes": 1, "batch_size": 4})
    service = Inbox311(cfg)
    await service.start()
    try:
        await service.worker.stop()  # restarted below with all rows waiting
        await store(service, [raw_email(n) for n in range(1, 15)])
        steps: list[tuple[str, list[int]]] = []
        worker = service.worker
        claim, commit = worker._claim, worker._commit_in_groups

        async def recorded_claim() -> list[tuple[RawInbound, bytes | None]]:
            rows = await claim()
            steps.append(("claim", [r.id for r, _ in rows if r.id is not None]))
            return rows

        async def recorded_commit(ready: list[tuple[RawInbound, WorkItem]]) -> None:
            steps.append(("commit", [item.raw_id for _, item in ready]))
            await commit(ready)

        worker._claim, worker._commit_in_groups = recorded_claim, recorded_commit  # type: ignore[method-assign]
        await worker.start()
        await worker.drain()
        assert steps[:6] == [
            ("claim", [1, 2, 3, 4]),
            ("claim", [5, 6, 7, 8]),
            ("claim", [9, 10, 11, 12]),
            ("commit", [1, 2, 3, 4]),
            ("claim", [13, 14]),
            ("commit", [5, 6, 7, 8]),
        ]
        commits = [rows for step, rows in steps if step == "commit" and rows]
        assert commits == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14]]  # in the order they came
        async with service.db.read() as session:
            assert {r.state for r in await list_raw(session=session)} == {RawState.DONE}
            assert len(await list_tickets(session=session)) == 14
    finally:
        await service.stop()
