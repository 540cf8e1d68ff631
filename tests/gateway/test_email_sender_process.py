"""Outbox email sent from a child process: the same outcomes as in process, and a lost child loses no reply."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import signal
from collections.abc import AsyncIterator

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.app import Inbox311
from gateway.outbox.email_process import ProcessSmtpSender, _Answers
from gateway.outbox.worker import OutboxError
from gateway.settings import Settings
from storage.models import Outbox
from tests.gateway.conftest import report, service_settings
from tests.smtp_sink import RecordingHandler, SmtpSink


def _row(n: int) -> Outbox:
    payload = {
        "from": "City 311 <reports@city.example>",
        "to": f"Resident {n} <r{n}@resident.example>",
        "subject": f"Re: Pothole [SR-2026-{n:06d}]",
        "text": f"Your report is SR-2026-{n:06d}.\n",
        "headers": {"Message-ID": f"<sr-2026-{n:06d}.ack.test@city.example>", "Auto-Submitted": "auto-replied"},
    }
    return Outbox(id=n, channel="email", kind="ack", recipient=f"r{n}@resident.example", payload=payload)


@pytest.fixture
async def sender(settings: Settings, sink: SmtpSink) -> AsyncIterator[ProcessSmtpSender]:
    relay = settings.replace(outbound={"email": {"relay_port": sink.port, "timeout_seconds": 5}}).outbound.email
    process_sender = ProcessSmtpSender(relay)
    await process_sender.start()
    yield process_sender
    await process_sender.close()


async def test_a_service_sending_from_a_child_process_answers_a_report(
    settings: Settings, db_url: str, sink: SmtpSink
) -> None:
    in_a_child = settings.replace(outbound={"email": {"sender_process": True}})
    service = Inbox311(service_settings(in_a_child, db_url, sink.port))
    await service.start()
    try:
        [email_sender] = [s for s in service.outbox._senders.values() if s.channel == "email"]
        assert isinstance(email_sender, ProcessSmtpSender)
        pid = email_sender.pid
        assert pid is not None and pid != os.getpid()
        os.kill(pid, 0)  # started with the service, before any reply is owed
        ok, details = await service.health()
        assert ok and details["sending_process"] == {"running": True, "replaced": 0}
        host, port = service.smtp_address
        await aiosmtplib.send(report(), hostname=host, port=port)
        [ack] = await sink.handler.wait_for(1)
        assert re.fullmatch(r"Re: Pothole on Main St \[SR-\d{4}-000001\]", ack["Subject"])
        assert ack["In-Reply-To"] == "<r1@resident.example>"
    finally:
        await service.stop()
    with pytest.raises(ProcessLookupError):  # stopped with the service
        os.kill(pid, 0)


async def test_outcomes_cross_the_process_boundary(sender: ProcessSmtpSender, sink: SmtpSink) -> None:
    assert await sender.send(_row(1)) is None
    [sent] = await sink.handler.wait_for(1)
    assert sent["To"] == "Resident 1 <r1@resident.example>" and sent["Subject"] == "Re: Pothole [SR-2026-000001]"
    assert [e.rcpt_tos for e in sink.handler.envelopes] == [["r1@resident.example"]]

    sink.handler.refuse_with = "550 5.1.1 no such mailbox"
    with pytest.raises(OutboxError, match="relay said 550") as refused:
        await sender.send(_row(2))
    assert refused.value.retryable is False

    sink.handler.refuse_with = "451 4.3.0 try again later"
    with pytest.raises(OutboxError, match="relay said 451") as deferred:
        await sender.send(_row(3))
    assert deferred.value.retryable is True


async def test_relay_down_is_a_retryable_failure(settings: Settings, unused_tcp_port: int) -> None:
    relay = settings.replace(outbound={"email": {"relay_port": unused_tcp_port, "timeout_seconds": 2}}).outbound.email
    process_sender = ProcessSmtpSender(relay)
    try:
        with pytest.raises(OutboxError, match="relay unreachable") as down:
            await process_sender.send(_row(1))
        assert down.value.retryable is True
    finally:
        await process_sender.close()


class HeldHandler(RecordingHandler):
    """Answers DATA only once released, so that sends stay in the child's hands."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.all_held = asyncio.Event()  # `count` messages are waiting for their answer
        self._count, self._holding = count, 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._holding += 1
        if self._holding >= self._count:
            self.all_held.set()
        await self.release.wait()
        return await super().handle_DATA(server, session, envelope)


async def test_a_killed_sending_process_fails_its_sends_as_retryable_and_is_replaced(
    settings: Settings, sink: SmtpSink
) -> None:
    held = HeldHandler(3)
    sink.handler = held
    relay = settings.replace(outbound={"email": {"relay_port": sink.port, "timeout_seconds": 5}}).outbound.email
    process_sender = ProcessSmtpSender(relay)
    await process_sender.start()
    try:
        first = process_sender.pid
        assert first is not None
        sends = [asyncio.create_task(process_sender.send(_row(n))) for n in (1, 2, 3)]
        await asyncio.wait_for(held.all_held.wait(), 10)
        os.kill(first, signal.SIGKILL)
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        assert all(isinstance(o, OutboxError) and o.retryable for o in outcomes)
        assert all("sending process ended" in str(o) for o in outcomes)
        held.release.set()
        assert await process_sender.send(_row(4)) is None  # a new child took over
        assert process_sender.pid not in (None, first)
        assert process_sender.running and process_sender.replaced == 1
        assert [e.rcpt_tos for e in held.envelopes][-1] == ["r4@resident.example"]
    finally:
        held.release.set()
        await process_sender.close()


async def test_outcomes_that_finish_together_reach_the_service_in_one_message() -> None:
    service_end, child_end = multiprocessing.Pipe()
    answers = _Answers(child_end)
    answers.add(1, None)
    answers.add(2, ("relay said 451 try later", True))
    answers.add(3, None)
    assert not service_end.poll()  # written at the end of this turn of the loop, not one by one
    await asyncio.sleep(0)
    assert service_end.recv() == [(1, None), (2, ("relay said 451 try later", True)), (3, None)]
    answers.add(4, None)
    await asyncio.sleep(0)
    assert service_end.recv() == [(4, None)] and not service_end.poll()
