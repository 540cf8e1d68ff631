"""The public report form: a submission goes through the pipeline like mail (stored raw, then a ticket with the
chosen category, location and photo), the resident gets the tracking number on the page and by email or text,
and the limits hold (per-address rate, photo type and size, required location, one report per form token)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.models import Attachment, Outbox, RawInbound
from storage.tickets import list_messages, list_tickets
from tests.gateway.conftest import service_settings
from tests.gateway.web.conftest import base_url
from tests.smtp_sink import SmtpSink

TOKEN = re.compile(r'name="token" value="([^"]+)"')


@pytest.fixture
async def form_service(settings: Settings, sqlite_url: str, sink: SmtpSink) -> AsyncIterator[Inbox311]:
    svc = Inbox311(
        service_settings(settings, sqlite_url, sink.port, web={"report_per_hour": 4, "report_max_photo_bytes": 20_000})
    )
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture
async def client(form_service: Inbox311) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(form_service)) as c:
        yield c


def png(size: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def fresh_token(client: httpx.AsyncClient, lang: str = "en") -> str:
    page = await client.get(f"/report?lang={lang}")
    assert page.status_code == 200
    return TOKEN.search(page.text).group(1)


async def test_report_becomes_a_ticket_with_category_location_and_photo(
    form_service: Inbox311, client: httpx.AsyncClient, sink: SmtpSink
) -> None:
    page = await client.get("/report")
    assert "frame-ancestors *" in page.headers["content-security-policy"]  # embeddable in the city's site
    assert "x-frame-options" not in page.headers  # which would forbid the embedding in older browsers
    assert 'value="pothole"' in page.text
    fields = {
        "token": TOKEN.search(page.text).group(1),
        "description": "Deep pothole in the right lane, cars swerve around it.",
        "category": "pothole",
        "address": "1420 W Addison St",
        "lat": "41.947",
        "lon": "-87.665",
        "email": "Sam@Resident.example",
        "name": "Sam",
    }
    sent = await client.post("/report", data=fields, files={"photo": ("hole.png", png(), "image/png")})
    assert sent.status_code == 303
    done = await client.get(sent.headers["location"])
    number = re.search(r'id="tracking-number">([^<]+)<', done.text).group(1)
    track = re.search(r'href="([^"]+)" id="tracking-link"', done.text).group(1).replace("&amp;", "&")
    assert (await client.get(track)).status_code == 200

    again = await client.post("/report", data=fields, files={"photo": ("hole.png", png(), "image/png")})
    assert again.status_code == 303  # the same form sent twice is one report
    [ack] = await sink.handler.wait_for(1)
    assert ack["To"] == "sam@resident.example" and number in ack["Subject"]
    await form_service.worker.drain()
    async with form_service.db.read() as session:
        [ticket] = await list_tickets(session=session)
        [message] = await list_messages(session=session, ticket_id=ticket.id)
        attachments = (await session.execute(Attachment.__table__.select())).all()
        raws = (await session.execute(RawInbound.__table__.select())).all()
    assert ticket.tracking_number == number and ticket.channel == "web"
    assert (ticket.category, ticket.category_decided_by, ticket.category_confidence) == (
        "pothole",
        "resident-choice",
        1.0,
    )
    assert ticket.address == "1420 W Addison St" and (ticket.lat, ticket.lon) == (41.947, -87.665)
    assert ticket.location_source == "address" and ticket.status == "acknowledged"
    assert message.channel == "web" and "Deep pothole" in message.body
    assert [a.content_type for a in attachments] == ["image/png"]
    assert len(raws) == 1 and raws[0].channel == "web"


async def test_spanish_report_by_phone_is_answered_by_text_in_spanish(
    form_service: Inbox311, client: httpx.AsyncClient
) -> None:
    fields = {
        "token": await fresh_token(client, "es"),
        "lang": "es",
        "description": "Hay basura tirada en la esquina de la calle Oak desde hace una semana, por favor.",
        "address": "Oak St y 5th Ave",
        "phone": "(773) 555-0142",
    }
    sent = await client.post("/report", data=fields)
    assert sent.status_code == 303
    done = await client.get(sent.headers["location"] + "?lang=es")
    assert "Gracias" in done.text
    await form_service.worker.drain()
    async with form_service.db.read() as session:
        [ticket] = await list_tickets(session=session)
        [row] = (await session.execute(Outbox.__table__.select())).all()
    assert ticket.language == "es"
    assert row.channel == "sms" and row.recipient == "+17735550142"
    assert ticket.tracking_number in row.payload["body"] and "reporte" in row.payload["body"]


async def test_what_the_form_refuses(form_service: Inbox311, client: httpx.AsyncClient) -> None:
    base = {"description": "Broken bench in the park by the pond.", "address": "Lake Park"}
    not_a_photo = await client.post(
        "/report",
        data={**base, "token": await fresh_token(client)},
        files={"photo": ("bench.jpg", b"<?php echo 'not an image'; ?>", "image/jpeg")},
    )
    too_big = await client.post(
        "/report",
        data={**base, "token": await fresh_token(client)},
        files={"photo": ("big.png", png(400) + b"\0" * 30_000, "image/png")},
    )
    nowhere = await client.post(
        "/report", data={"description": base["description"], "token": await fresh_token(client)}
    )
    forged = await client.post("/report", data={**base, "token": "made.up"})
    assert not_a_photo.status_code == too_big.status_code == nowhere.status_code == forged.status_code == 400
    assert "not a photo we accept" in not_a_photo.text
    assert "too large" in too_big.text
    assert "use your location" in nowhere.text
    assert "expired" in forged.text
    assert "Broken bench in the park" in nowhere.text  # what they typed is kept
    limited = await client.post("/report", data={**base, "token": await fresh_token(client)})
    assert limited.status_code == 429  # the fifth POST from this address within the hour
    async with form_service.db.read() as session:
        assert (await session.execute(RawInbound.__table__.select())).all() == []
