"""The loop closes: an email becomes a ticket, staff log in, find it, reply, change its status, and the resident's
mail arrives at the relay sink threaded, in their language, with one-click unsubscribe that works."""

from __future__ import annotations

import re

import aiosmtplib
import httpx

from gateway.app import Inbox311
from storage.models import Contact, Outbox
from storage.tickets import list_events, list_tickets
from tests.gateway.conftest import report
from tests.gateway.web.conftest import csrf_of
from tests.smtp_sink import SmtpSink


async def _report_by_email(service: Inbox311, sink: SmtpSink, **kw: str) -> int:
    host, port = service.smtp_address
    await aiosmtplib.send(report(**kw), hostname=host, port=port)
    await sink.handler.wait_for(len(sink.handler.envelopes) + 1)  # the acknowledgement
    async with service.db.read() as session:
        [ticket] = await list_tickets(session=session, limit=1)
    assert ticket.id is not None
    return ticket.id


async def test_reply_and_status_reach_the_resident(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    ticket_id = await _report_by_email(web_service, sink)
    inbox = await agent_client.get("/inbox")
    assert inbox.status_code == 200
    assert "Pothole on Main St" in inbox.text and f"/inbox/tickets/{ticket_id}" in inbox.text

    page = await agent_client.get(f"/inbox/tickets/{ticket_id}")
    assert page.status_code == 200 and "Big pothole in front of 12 Main St." in page.text
    assert page.headers["cache-control"] == "no-store"
    csrf = csrf_of(page.text)

    sent = await agent_client.post(
        f"/inbox/tickets/{ticket_id}/reply", data={"csrf_token": csrf, "body": "A crew is on the way this week."}
    )
    assert sent.status_code == 303
    _, answer = await sink.handler.wait_for(2)
    assert answer["To"] == "jane@resident.example"
    assert answer["In-Reply-To"] == "<r1@resident.example>"
    assert answer["Subject"].startswith("Re: Pothole on Main St [SR-")
    assert answer["Auto-Submitted"] is None  # a person wrote it
    assert "A crew is on the way this week." in answer.get_payload(decode=True).decode()
    assert "Alex Agent" in answer.get_payload(decode=True).decode()

    changed = await agent_client.post(
        f"/inbox/tickets/{ticket_id}/status",
        data={"csrf_token": csrf, "status": "in_progress", "public_note": "Scheduled for Tuesday"},
    )
    assert changed.status_code == 303
    *_, notice = await sink.handler.wait_for(3)
    body = notice.get_payload(decode=True).decode()
    assert "Work has started" in body and "Scheduled for Tuesday" in body
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(http://311\.city\.example(/unsubscribe/\S+))>", notice["List-Unsubscribe"])
    assert unsubscribe is not None and unsubscribe.group(1) in body

    track = re.search(r"http://311\.city\.example(/track/\S+)", body).group(1)
    public = await httpx.AsyncClient(base_url=str(agent_client.base_url)).get(track)
    assert "Work in progress: Scheduled for Tuesday" in public.text
    assert "jane" not in public.text.lower()

    # RFC 8058 one-click: a bare POST with the form body, no cookies, no CSRF token.
    async with httpx.AsyncClient(base_url=str(agent_client.base_url)) as anonymous:
        done = await anonymous.post(unsubscribe.group(2), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Unsubscribed" in done.text
    async with web_service.db.read() as session:
        [contact] = (await session.execute(Contact.__table__.select())).all()
    assert contact.opted_out is True

    await agent_client.post(f"/inbox/tickets/{ticket_id}/status", data={"csrf_token": csrf, "status": "resolved"})
    async with web_service.db.read() as session:
        events = await list_events(session=session, ticket_id=ticket_id)
    suppressed = [e for e in events if e.action == "notification-suppressed"]
    assert suppressed and suppressed[-1].data["reason"] == "opted-out"
    assert len(sink.handler.envelopes) == 3  # nothing more went out


async def test_spanish_report_gets_spanish_updates(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    ticket_id = await _report_by_email(
        web_service,
        sink,
        subject="Bache en la calle Main",
        body="Hay un bache muy grande en la calle Main, por favor vengan a arreglarlo. Gracias.",
    )
    page = await agent_client.get(f"/inbox/tickets/{ticket_id}")
    await agent_client.post(
        f"/inbox/tickets/{ticket_id}/status", data={"csrf_token": csrf_of(page.text), "status": "resolved"}
    )
    *_, notice = await sink.handler.wait_for(2)
    body = notice.get_payload(decode=True).decode()
    assert "fue resuelto" in body and "Para dejar de recibir actualizaciones" in body
    async with web_service.db.read() as session:
        [contact] = (await session.execute(Contact.__table__.select())).all()
    assert contact.language == "es"  # detected from the report and kept on the contact for later messages


async def test_forms_need_the_csrf_token(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    ticket_id = await _report_by_email(web_service, sink)
    forged = await agent_client.post(f"/inbox/tickets/{ticket_id}/status", data={"status": "closed"})
    wrong = await agent_client.post(
        f"/inbox/tickets/{ticket_id}/status", data={"status": "closed", "csrf_token": "x" * 32}
    )
    assert forged.status_code == wrong.status_code == 403
    async with web_service.db.read() as session:
        [ticket] = await list_tickets(session=session)
    assert ticket.status == "acknowledged"


async def test_a_bounced_reporter_is_not_written_to(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    ticket_id = await _report_by_email(web_service, sink)
    async with web_service.db.write() as session:
        await session.execute(Contact.__table__.update().values(bounced=True))
    page = await agent_client.get(f"/inbox/tickets/{ticket_id}")
    assert "bounced" in page.text  # staff see why nothing goes out
    csrf = csrf_of(page.text)
    changed = await agent_client.post(
        f"/inbox/tickets/{ticket_id}/status", data={"csrf_token": csrf, "status": "in_progress"}
    )
    refused = await agent_client.post(f"/inbox/tickets/{ticket_id}/reply", data={"csrf_token": csrf, "body": "Hi"})
    assert changed.status_code == 303
    assert refused.status_code == 400 and "cannot be written to (bounced)" in refused.text
    async with web_service.db.read() as session:
        events = await list_events(session=session, ticket_id=ticket_id)
    [suppressed] = [e for e in events if e.action == "notification-suppressed"]
    assert suppressed.data == {"kind": "status-in_progress", "reason": "bounced", "channel": "email"}
    async with web_service.db.read() as session:
        queued = (await session.execute(Outbox.__table__.select())).all()
    assert len(queued) == 1 and len(sink.handler.envelopes) == 1  # only the acknowledgement, from before the bounce
