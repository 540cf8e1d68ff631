"""Follow-ups land on the right ticket by the right rule; robots are never answered; loops stop by themselves."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import update

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.models import Contact, OutboxState, Ticket, TicketStatus, utcnow
from storage.outbox import list_outbox
from storage.tickets import list_events, list_messages, list_tickets
from tests.gateway.conftest import report, service_settings
from tests.smtp_sink import SmtpSink


async def send(svc: Inbox311, msg: EmailMessage) -> None:
    host, port = svc.smtp_address
    await aiosmtplib.send(msg, hostname=host, port=port)


async def tickets_of(svc: Inbox311) -> list[Ticket]:
    await svc.worker.drain()
    async with svc.db.read() as session:
        return sorted(await list_tickets(session=session), key=lambda t: t.id)


async def actions(svc: Inbox311, ticket_id: int) -> list[str]:
    async with svc.db.read() as session:
        return [e.action for e in await list_events(session=session, ticket_id=ticket_id)]


async def close(svc: Inbox311, ticket_id: int, *, days_ago: int) -> None:
    async with svc.db.write() as session:
        await session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(status=TicketStatus.CLOSED, closed_at=utcnow() - timedelta(days=days_ago))
        )


def followup(number: str, n: int, sender: str = "Jane Resident <jane@resident.example>") -> EmailMessage:
    return report(
        subject=f"Re: Pothole [{number}]",
        body=f"More details {n}.",
        message_id=f"<f{n}@resident.example>",
        sender=sender,
    )


async def test_tracking_number_in_subject_threads_and_logs_rule(service: Inbox311, sink: SmtpSink) -> None:
    await send(service, report())
    [t] = await tickets_of(service)
    hand_written = report(subject=f"more about sr {t.tracking_number[3:]} please", message_id="<h1@resident.example>")
    await send(service, hand_written)
    assert [x.id for x in await tickets_of(service)] == [t.id]
    async with service.db.read() as session:
        events = await list_events(session=session, ticket_id=t.id)
    assert [e.data.get("rule") for e in events if e.action == "follow-up"] == ["subject-tracking-number"]


async def test_reply_token_address_threads(service: Inbox311, sink: SmtpSink) -> None:
    await send(service, report())
    [ack] = await sink.handler.wait_for(1)
    [t] = await tickets_of(service)
    reply_to = ack["Reply-To"].split("<")[-1].rstrip(">")
    assert reply_to == f"reports+{t.reply_token}@city.example"
    await send(service, report(subject="no tag here", message_id="<rt@resident.example>", to=reply_to))
    assert len(await tickets_of(service)) == 1
    async with service.db.read() as session:
        events = await list_events(session=session, ticket_id=t.id)
    assert [e.data.get("rule") for e in events if e.action == "follow-up"] == ["reply-token"]


async def test_other_sender_is_flagged_and_does_not_reopen(service: Inbox311, sink: SmtpSink) -> None:
    await send(service, report())
    [t] = await tickets_of(service)
    await close(service, t.id, days_ago=1)
    await send(service, followup(t.tracking_number, 1, sender="Neighbour <bob@elsewhere.example>"))
    [t2] = await tickets_of(service)
    assert t2.status == TicketStatus.CLOSED
    async with service.db.read() as session:
        messages = await list_messages(session=session, ticket_id=t.id)
    assert [m.flagged for m in messages] == [False, True]
    await asyncio.sleep(0.2)
    assert len(sink.handler.envelopes) == 1  # no receipt to someone who is not the reporter


async def test_reporter_reopens_within_window_else_new_linked_ticket(service: Inbox311, sink: SmtpSink) -> None:
    await send(service, report())
    [t] = await tickets_of(service)
    await close(service, t.id, days_ago=3)
    await send(service, followup(t.tracking_number, 1))
    [t_again] = await tickets_of(service)
    assert t_again.status == TicketStatus.ACKNOWLEDGED and "reopened" in await actions(service, t.id)

    await close(service, t.id, days_ago=30)
    await send(service, followup(t.tracking_number, 2))
    old, new = await tickets_of(service)
    assert old.status == TicketStatus.CLOSED
    assert new.linked_from_id == old.id and new.tracking_number != old.tracking_number


def auto_reply(number: str, headers: dict[str, str], sender: str = "jane@resident.example") -> EmailMessage:
    m = report(
        subject=f"Out of office: Re: Pothole [{number}]",
        body="I am away until Monday.",
        message_id=f"<ooo-{len(headers)}-{sender}>",
        sender=sender,
    )
    for k, v in headers.items():
        m[k] = v
    return m


async def test_auto_replies_are_recorded_never_answered(service: Inbox311, sink: SmtpSink) -> None:
    await send(service, report())
    await sink.handler.wait_for(1)
    [t] = await tickets_of(service)
    await send(service, auto_reply(t.tracking_number, {"Auto-Submitted": "auto-replied"}))
    await send(
        service, auto_reply(t.tracking_number, {"Auto-Submitted": "auto-generated"}, sender="noreply@resident.example")
    )
    assert len(await tickets_of(service)) == 1
    async with service.db.read() as session:
        kinds = [m.kind for m in await list_messages(session=session, ticket_id=t.id)]
    assert kinds == ["message", "auto-reply", "auto-reply"]
    assert (await actions(service, t.id)).count("auto-reply") == 2
    await asyncio.sleep(0.3)
    assert len(sink.handler.envelopes) == 1


def dsn(original_message_id: str, recipient: str, status: str = "5.1.1") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.resident.example\r\nTo: reports@city.example\r\nSubject: Undelivered Mail\r\n"
        "Message-ID: <dsn1@mx.resident.example>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.resident.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: reports@city.example\r\nTo: {recipient}\r\nMessage-ID: <{original_message_id}>\r\n"
        "Subject: Re: Pothole\r\n--b1--\r\n"
    ).encode()


async def test_hard_bounce_marks_outbox_and_contact(service: Inbox311, sink: SmtpSink) -> None:
    await send(service, report())
    [ack] = await sink.handler.wait_for(1)
    [t] = await tickets_of(service)
    host, port = service.smtp_address
    async with aiosmtplib.SMTP(hostname=host, port=port) as client:  # bounces come from the null sender
        await client.mail("")
        await client.rcpt("reports@city.example")
        await client.data(dsn(ack["Message-ID"].strip("<>"), "jane@resident.example"))
    await tickets_of(service)
    async with service.db.read() as session:
        [row] = await list_outbox(session=session)
        contact = await session.get(Contact, t.reporter_id)
    assert row.state == OutboxState.BOUNCED
    assert contact.bounced is True
    assert "bounce" in await actions(service, t.id)
    # no more mail to a bounced address until it writes again: a new report from it would be answered, though
    await send(service, report(subject="Another pothole", message_id="<r9@resident.example>"))
    await sink.handler.wait_for(2)
    async with service.db.read() as session:
        assert (await session.get(Contact, t.reporter_id)).bounced is False


class NaiveResponder:
    """A robot that answers every message it gets with a brand-new message (no threading, no RFC 3834 headers)."""

    def __init__(self, gateway: tuple[str, int]) -> None:
        self.gateway = gateway
        self.received = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received += 1
        answer = report(
            subject=f"Re: your message {self.received}",
            body="Thank you for your email!",
            message_id=f"<bot{self.received}@resident.example>",
            sender="bot@resident.example",
        )
        task = asyncio.create_task(aiosmtplib.send(answer, hostname=self.gateway[0], port=self.gateway[1]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return "250 OK"

    async def start(self) -> int:
        self._server = await asyncio.get_running_loop().create_server(lambda: SMTP(self), "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


async def test_loop_with_a_naive_autoresponder_stops(settings: Settings, sqlite_url: str) -> None:
    bot = NaiveResponder(("127.0.0.1", 0))
    port = await bot.start()
    svc = Inbox311(service_settings(settings, sqlite_url, port, replies={"per_sender_per_hour": 5}))
    await svc.start()
    bot.gateway = svc.smtp_address
    try:
        await send(svc, report(subject="Start", sender="bot@resident.example", message_id="<start@x.example>"))
        previous = -1
        for _ in range(100):  # wait until the exchange has been quiet for a while
            await asyncio.sleep(0.2)
            await svc.worker.drain()
            if bot.received == previous:
                break
            previous = bot.received
        assert bot.received == 5, "the per-sender budget allows exactly five automatic replies per hour"
        async with svc.db.read() as session:
            tickets = await list_tickets(session=session)
        assert len(tickets) == 6
        suppressed = [a for t in tickets for a in await actions(svc, t.id) if a == "ack-suppressed"]
        assert len(suppressed) == 1
    finally:
        await svc.stop()
        await bot.stop()
