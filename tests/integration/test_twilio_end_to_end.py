"""A resident texts the city: signed webhooks into a running service, the acknowledgement sent by the real `twilio`
client to a mock serving Twilio's own API contract (Prism), delivery receipts, STOP, the conversation rules, and an
MMS photo fetched from a loopback media server and stored with its EXIF GPS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select, update

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.models import Attachment, Blob, Message, Outbox, OutboxState, Ticket, utcnow
from storage.outbox import enqueue_outbox
from storage.tickets import list_messages
from tests.twilio_support import (
    ACCOUNT_SID,
    NEIGHBOUR,
    OUR_NUMBER,
    PUBLIC_BASE,
    RESIDENT,
    SMS_PATH,
    STATUS_PATH,
    TOKEN,
    LoopbackHttp,
    PrismRecorder,
    inbound,
    new_sid,
    photo_with_gps,
    post_signed,
    sms_settings,
)

PHOTO = photo_with_gps((41.0, 56.0, 50.5), (87.0, 39.0, 22.1))  # Clark St and Addison St, Chicago


@pytest.fixture
async def prism(twilio_mock: str) -> AsyncIterator[PrismRecorder]:
    recorder = await PrismRecorder(twilio_mock).start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def media_host() -> AsyncIterator[LoopbackHttp]:
    """Stands in for Twilio's media URLs: the photo only for the account's credentials."""
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()

    async def photo(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        return web.Response(body=PHOTO, content_type="image/jpeg")

    host = LoopbackHttp()
    host.route("GET", "/2010-04-01/Accounts/{account}/Messages/{sid}/Media/{media}", photo)
    await host.start()
    yield host
    await host.stop()


@pytest.fixture
async def service(settings: Settings, db_url: str, prism: PrismRecorder) -> AsyncIterator[Inbox311]:
    svc = Inbox311(sms_settings(settings, db_url, account_sid=ACCOUNT_SID, api_base=prism.url("")))
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture
async def client(service: Inbox311) -> AsyncIterator[httpx.AsyncClient]:
    host, port = service.http_address
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as c:
        yield c


async def eventually(check: Callable[[], object], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s: {check}")
        await asyncio.sleep(0.05)


async def texts(service: Inbox311) -> list[Outbox]:
    async with service.db.read() as session:
        return list(
            (await session.execute(select(Outbox).where(Outbox.channel == "sms").order_by(Outbox.id))).scalars()
        )


async def tickets(service: Inbox311) -> list[Ticket]:
    async with service.db.read() as session:
        return list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars())


async def settled(service: Inbox311) -> bool:
    return all(row.state not in (OutboxState.PENDING, OutboxState.SENDING) for row in await texts(service))


async def say(service: Inbox311, client: httpx.AsyncClient, body: str, sender: str = RESIDENT) -> None:
    response = await post_signed(client, SMS_PATH, inbound(body, sender=sender))
    assert response.status_code == 200
    await service.worker.drain()
    await eventually(lambda: settled(service))


async def age_conversation(service: Inbox311, minutes: int) -> None:
    then = utcnow() - timedelta(minutes=minutes)
    async with service.db.write() as session:
        await session.execute(update(Message).values(created_at=then))
        await session.execute(update(Outbox).values(created_at=then))


async def test_a_resident_texts_the_city(service: Inbox311, client: httpx.AsyncClient, prism: PrismRecorder) -> None:
    # 1. The first text makes a ticket; the acknowledgement goes out through the twilio client to the mock.
    await say(service, client, "Pothole in front of 1420 W Addison")
    [ticket] = await tickets(service)
    [ack] = await texts(service)
    [call] = prism.messages_created()
    assert call.status == 201
    assert ack.state == OutboxState.SENT and ack.provider_id == call.json["sid"]  # the SID the mock returned
    assert call.form["To"] == RESIDENT and call.form["From"] == OUR_NUMBER
    assert ticket.tracking_number in call.form["Body"] and f"/track/{ticket.tracking_number}?t=" in call.form["Body"]
    assert call.form["StatusCallback"] == f"{PUBLIC_BASE}/webhooks/twilio/status?outbox={ack.id}"

    # 2. Twilio reports delivery at the callback URL it was given, signed for exactly that URL.
    receipt = {"MessageSid": ack.provider_id, "MessageStatus": "delivered", "SmsStatus": "delivered",
               "To": RESIDENT, "From": OUR_NUMBER, "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01"}  # fmt: skip
    status_path = call.form["StatusCallback"].removeprefix(PUBLIC_BASE)
    response = await post_signed(client, status_path, receipt, signed_url=call.form["StatusCallback"])
    assert response.status_code == 204
    assert [t.state for t in await texts(service)] == [OutboxState.DELIVERED]

    # 3. A second text within the window is the same conversation: same ticket, no second text back.
    await say(service, client, "it's big, a car lost a hubcap in it")
    # 4. A neighbour naming the tracking number adds to that ticket (flagged for staff) and is not answered.
    await say(service, client, f"{ticket.tracking_number} I saw it too", sender=NEIGHBOUR)
    # 5. Hours later, the resident's text with the tracking number still lands on its ticket, with one receipt.
    await age_conversation(service, 180)
    await say(service, client, f"Any news on {ticket.tracking_number}? It is worse")
    assert len(await tickets(service)) == 1
    async with service.db.read() as session:
        messages = await list_messages(session=session, ticket_id=ticket.id)
    assert [m.flagged for m in messages] == [False, False, True, False]
    assert [c.form["To"] for c in prism.messages_created()] == [RESIDENT, RESIDENT]
    assert "added your message" in prism.messages_created()[-1].form["Body"]

    # 6. STOP: one confirmation, and from then on nothing more is sent, though reports still make tickets.
    await say(service, client, "STOP")
    assert "unsubscribed" in prism.messages_created()[-1].form["Body"]
    await age_conversation(service, 180)
    await say(service, client, "Streetlight out at Clark and Diversey")
    async with service.db.write() as session:  # a status update staff queued anyway
        await enqueue_outbox(
            session=session,
            channel="sms",
            kind="status",
            recipient=RESIDENT,
            payload={"body": "Your report is in progress"},
            ticket_id=ticket.id,
        )
    service.outbox.wake()
    await eventually(lambda: settled(service))
    assert len(await tickets(service)) == 2
    assert len(prism.messages_created()) == 3  # ack, receipt, STOP confirmation: nothing after
    last = (await texts(service))[-1]
    assert last.state == OutboxState.DEAD and last.error is not None and "opted-out" in last.error


async def test_redelivered_webhook_makes_one_ticket_and_one_text(
    service: Inbox311, client: httpx.AsyncClient, prism: PrismRecorder
) -> None:
    form = inbound("Graffiti on the Belmont viaduct", sid=new_sid())
    for _ in range(3):  # Twilio retries when our answer was lost on the way
        assert (await post_signed(client, SMS_PATH, form)).status_code == 200
    await service.worker.drain()
    await eventually(lambda: settled(service))
    assert len(await tickets(service)) == 1
    assert len(prism.messages_created()) == 1


async def test_an_mms_photo_becomes_a_ticket_with_its_gps(
    service: Inbox311, client: httpx.AsyncClient, prism: PrismRecorder, media_host: LoopbackHttp
) -> None:
    sid = new_sid("MM")
    url = media_host.url(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{sid[2:]}")
    form = inbound("Huge pothole here", sid=sid, NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    response = await post_signed(client, SMS_PATH, form)
    assert response.status_code == 200
    assert media_host.requests == []  # the webhook answered without touching the media: the pipeline fetches it
    await service.worker.drain()
    await eventually(lambda: settled(service))

    [ticket] = await tickets(service)
    async with service.db.read() as session:
        [message] = await list_messages(session=session, ticket_id=ticket.id)
        [photo] = (await session.execute(select(Attachment).where(Attachment.message_id == message.id))).scalars()
        blob = await session.get(Blob, photo.sha256)
    assert [r.headers["Authorization"].startswith("Basic ") for r in media_host.requests] == [True]
    assert photo.content_type == "image/jpeg" and photo.sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert blob is not None and blob.data == PHOTO
    assert (photo.lat, photo.lon) == (pytest.approx(41.9473611, abs=1e-6), pytest.approx(-87.6561389, abs=1e-6))
    assert (ticket.lat, ticket.lon) == (pytest.approx(41.9473611, abs=1e-6), pytest.approx(-87.6561389, abs=1e-6))

    # The acknowledgement went out through the twilio client; Twilio then reports it undelivered.
    [call] = prism.messages_created()
    assert call.status == 201 and ticket.tracking_number in call.form["Body"]
    [ack] = await texts(service)
    receipt = {"MessageSid": ack.provider_id, "MessageStatus": "undelivered", "ErrorCode": "30003",
               "To": RESIDENT, "From": OUR_NUMBER, "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01"}  # fmt: skip
    callback = call.form["StatusCallback"]
    assert callback.startswith(PUBLIC_BASE + STATUS_PATH)
    response = await post_signed(client, callback.removeprefix(PUBLIC_BASE), receipt, signed_url=callback)
    assert response.status_code == 204
    [ack] = await texts(service)
    assert ack.state == OutboxState.BOUNCED and ack.error is not None and "30003" in ack.error
