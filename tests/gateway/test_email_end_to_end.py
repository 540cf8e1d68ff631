"""An email becomes a ticket and the resident gets a tracking number: real SMTP in, real SMTP relay out, real HTTP."""

from __future__ import annotations

import asyncio
import re

import aiosmtplib
import httpx
import pytest

from gateway.app import Inbox311
from storage.tickets import list_tickets
from tests.gateway.conftest import report
from tests.smtp_sink import SmtpSink


async def test_email_becomes_ticket_with_ack(service: Inbox311, sink: SmtpSink) -> None:
    host, port = service.smtp_address
    errors, response = await aiosmtplib.send(report(), hostname=host, port=port)
    assert errors == {} and response.startswith("2.0.0 OK: queued as")

    [ack] = await sink.handler.wait_for(1)
    number = re.search(r"SR-\d{4}-\d{6}", ack["Subject"]).group(0)
    assert ack["Subject"] == f"Re: Pothole on Main St [{number}]"
    assert ack["In-Reply-To"] == "<r1@resident.example>"
    assert "<r1@resident.example>" in ack["References"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Message-ID"].endswith("@city.example>")
    assert ack["To"] == "jane@resident.example"
    assert sink.handler.envelopes[0].rcpt_tos == ["jane@resident.example"]
    body = ack.get_payload(decode=True).decode()
    link = re.search(r"http://311\.city\.example(/track/\S+)", body).group(1)
    assert number in body

    async with service.db.read() as session:
        [ticket] = await list_tickets(session=session)
    assert ticket.tracking_number == number and ticket.channel == "email"
    assert ticket.status == "acknowledged"

    http_host, http_port = service.http_address
    async with httpx.AsyncClient(base_url=f"http://{http_host}:{http_port}") as client:
        page = await client.get(link)
        assert page.status_code == 200
        assert number in page.text and "Pothole on Main St" in page.text
        assert "jane" not in page.text.lower() and "resident.example" not in page.text
        wrong = await client.get(f"/track/{number}?t=wrong")
        unknown = await client.get("/track/SR-2026-999999?t=wrong")
        assert wrong.status_code == unknown.status_code == 404
        assert wrong.text == unknown.text  # says nothing about whether the number exists
        missing = await client.get(f"/track/{number}")
        assert missing.status_code == 404


async def test_redelivery_makes_no_second_ticket(service: Inbox311, sink: SmtpSink) -> None:
    host, port = service.smtp_address
    await aiosmtplib.send(report(), hostname=host, port=port)
    _, response = await aiosmtplib.send(report(), hostname=host, port=port)
    assert "already received" in response
    await sink.handler.wait_for(1)
    await service.worker.drain()
    async with service.db.read() as session:
        assert len(await list_tickets(session=session)) == 1
    assert len(sink.handler.envelopes) == 1


async def test_drain_leaves_the_claiming_to_the_running_worker(
    service: Inbox311, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second claimer beside the worker's loop could commit a later message first: drain only waits for it."""

    async def claim_beside_the_loop() -> int:
        raise AssertionError("drain claimed rows while the worker's loop was running")

    monkeypatch.setattr(service.worker, "run_once", claim_beside_the_loop)
    host, port = service.smtp_address
    for n in (1, 2, 3):
        await aiosmtplib.send(report(message_id=f"<order{n}@resident.example>"), hostname=host, port=port)
    await service.worker.drain()
    async with service.db.read() as session:
        assert len(await list_tickets(session=session)) == 3


async def test_reply_to_ack_lands_on_same_ticket_with_one_receipt(service: Inbox311, sink: SmtpSink) -> None:
    host, port = service.smtp_address
    await aiosmtplib.send(report(), hostname=host, port=port)
    [ack] = await sink.handler.wait_for(1)
    for n in (2, 3):
        follow = report(
            subject="Re: " + ack["Subject"],
            body=f"Update {n}: it is getting bigger.",
            message_id=f"<r{n}@resident.example>",
        )
        follow["In-Reply-To"] = ack["Message-ID"]
        await aiosmtplib.send(follow, hostname=host, port=port)
    await service.worker.drain()
    _, receipt = await sink.handler.wait_for(2)
    async with service.db.read() as session:
        tickets = await list_tickets(session=session)
    assert len(tickets) == 1
    assert receipt["In-Reply-To"] == "<r2@resident.example>"
    assert tickets[0].tracking_number in receipt["Subject"]
    assert "added your message" in receipt.get_payload(decode=True).decode()
    await asyncio.sleep(0.3)
    assert len(sink.handler.envelopes) == 2  # one receipt per hour at most: none for the third message
