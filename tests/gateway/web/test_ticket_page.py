"""What the staff ticket page shows: the conversation in order (the report, our acknowledgement with its delivery
state), photo thumbnails re-encoded by us, the location with a map link, the category with the rule that set it and
its confidence, duplicates and the ticket they point to, and the audit log."""

from __future__ import annotations

import io
import re
from email.message import EmailMessage

import aiosmtplib
import httpx
from PIL import Image

from gateway.app import Inbox311
from storage.tickets import list_tickets
from tests.gateway.conftest import report
from tests.gateway.web.conftest import csrf_of
from tests.smtp_sink import SmtpSink


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (90, 120, 60)).save(out, format="JPEG")
    return out.getvalue()


def _report_with_photo() -> EmailMessage:
    m = report(
        subject="Water main break on Clark",
        body="Water is gushing out of the street at 41.94740, -87.65610 near 3600 N Clark St. It is flooding.",
    )
    m.add_attachment(_photo(), maintype="image", subtype="jpeg", filename="break.jpg")
    return m


async def test_ticket_page_shows_everything_staff_need(
    web_service: Inbox311, sink: SmtpSink, agent_client: httpx.AsyncClient
) -> None:
    host, port = web_service.smtp_address
    await aiosmtplib.send(_report_with_photo(), hostname=host, port=port)
    await aiosmtplib.send(
        report(subject="Flooding on Clark St", body="Flooding again on Clark.", message_id="<r2@resident.example>"),
        hostname=host,
        port=port,
    )
    await sink.handler.wait_for(2)  # both acknowledged
    async with web_service.db.read() as session:
        by_summary = {t.summary: t for t in await list_tickets(session=session)}
    ticket, other = by_summary["Water main break on Clark"], by_summary["Flooding on Clark St"]
    first = await agent_client.get(f"/inbox/tickets/{other.id}")
    merged = await agent_client.post(
        f"/inbox/tickets/{other.id}/merge", data={"csrf_token": csrf_of(first.text), "into": ticket.tracking_number}
    )
    assert merged.status_code == 303

    page = (await agent_client.get(f"/inbox/tickets/{ticket.id}")).text
    # The conversation in order: the report, then our acknowledgement, sent (delivery state from the outbox).
    report_at = page.index("Water is gushing out of the street")
    ack = re.search(r'<li class="msg dir-out kind-ack" id="o\d+">(.*?)</li>', page, re.S)
    assert ack is not None and ack.start() > report_at
    assert re.search(r'class="badge delivery-(sent|delivered)"', ack.group(1))
    assert "jane@resident.example" in ack.group(1) and ticket.tracking_number in ack.group(1)
    # The photo as a thumbnail that we re-encoded: a small PNG, never the sender's bytes.
    thumb = re.search(r'<img src="(/inbox/attachments/(\d+)\?thumb=1)"', page)
    assert thumb is not None
    small = await agent_client.get(thumb.group(1))
    assert small.status_code == 200 and small.headers["content-type"] == "image/png"
    assert "sandbox" in small.headers["content-security-policy"]
    assert max(Image.open(io.BytesIO(small.content)).size) <= 320
    # Location: coordinates and a map link.
    assert "41.94740, -87.65610" in page
    assert "https://www.openstreetmap.org/?mlat=41.9474&amp;mlon=-87.6561" in page
    # Category with what set it and how sure it was.
    assert ticket.category == "water" and ticket.category_decided_by
    assert re.search(rf"Set by rule “{ticket.category_decided_by}”, confidence \d+%", page)
    # Duplicates: the survivor lists the merged ticket; the duplicate points at the survivor.
    assert "Merged into this one:" in page and other.tracking_number in page
    assert f"on {other.tracking_number}" in page  # its messages are in the survivor's conversation
    duplicate_page = (await agent_client.get(f"/inbox/tickets/{other.id}")).text
    assert f'Duplicate of <a href="/inbox/tickets/{ticket.id}">{ticket.tracking_number}</a>' in duplicate_page
    # The audit log names who did what.
    audit = page[page.index('id="audit-h"') :]
    assert "merged" in audit and "staff:agent@city.example" in audit and "acknowledged" in audit
