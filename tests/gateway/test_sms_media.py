"""MMS media: fetched by the pipeline (never by the webhook) with the account's credentials, within size and type
limits, retried when the server may recover, stored as attachments with their EXIF GPS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from PIL import Image
from sqlalchemy import select

from gateway.app import Inbox311
from gateway.settings import Settings
from gateway.sms_media import media_request_url
from storage.models import Attachment, Blob, Message, Ticket
from tests.twilio_support import (
    ACCOUNT_SID,
    SMS_PATH,
    TOKEN,
    LoopbackHttp,
    inbound,
    photo_with_gps,
    post_signed,
    sms_settings,
)

MAX_BYTES = 200_000


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PHOTO = photo_with_gps((41.0, 56.0, 50.5), (87.0, 39.0, 22.1))
PNG = small_png()


class MediaServers:
    """Twilio's media host (asks for the account's credentials) and the storage host it redirects to."""

    def __init__(self) -> None:
        self.twilio = LoopbackHttp()
        self.storage = LoopbackHttp()
        self.release = asyncio.Event()  # the photo is served only once the webhook has answered
        self.flaky_failures = 1

    async def start(self) -> MediaServers:
        self.storage.route("GET", "/s3/photo2.png", self._png)
        await self.storage.start()
        t = self.twilio
        t.route("GET", "/Media/photo", self._photo)
        t.route("GET", "/Media/redirected", self._redirect)
        t.route("GET", "/Media/flaky", self._flaky)
        t.route("GET", "/Media/gone", self._gone)
        t.route("GET", "/Media/huge", self._huge)
        t.route("GET", "/Media/not-a-photo", self._html)
        await t.start()
        return self

    async def stop(self) -> None:
        await self.twilio.stop()
        await self.storage.stop()

    def _authorised(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == expected

    async def _photo(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        await self.release.wait()
        return web.Response(body=PHOTO, content_type="image/jpeg")

    async def _redirect(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        raise web.HTTPTemporaryRedirect(self.storage.url("/s3/photo2.png"))

    async def _png(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def _flaky(self, request: web.Request) -> web.Response:
        if self.flaky_failures > 0:
            self.flaky_failures -= 1
            return web.Response(status=503)
        return web.Response(body=PNG, content_type="image/png")

    async def _gone(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})  # chunked: no Content-Length to trust
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"\xff\xd8\xff" + b"\0" * 9997)
        await response.write_eof()
        return response

    async def _html(self, request: web.Request) -> web.Response:
        return web.Response(body=b"<html><body>Not found</body></html>", headers={"Content-Type": "image/jpeg"})


@pytest.fixture
async def media() -> AsyncIterator[MediaServers]:
    servers = await MediaServers().start()
    yield servers
    await servers.stop()


@pytest.fixture
async def service(settings: Settings, db_url: str) -> AsyncIterator[Inbox311]:
    twilio = {"account_sid": ACCOUNT_SID, "media_max_bytes": MAX_BYTES}
    svc = Inbox311(sms_settings(settings, db_url, **twilio), senders=[])
    await svc.start()
    yield svc
    await svc.stop()


async def test_mms_media_become_attachments(service: Inbox311, media: MediaServers) -> None:
    names = ["photo", "redirected", "flaky", "gone", "huge", "not-a-photo"]
    fields = {"NumMedia": str(len(names))}
    for n, name in enumerate(names):
        fields[f"MediaUrl{n}"] = media.twilio.url(f"/Media/{name}")
        fields[f"MediaContentType{n}"] = "image/png" if name in ("redirected", "flaky") else "image/jpeg"
    host, port = service.http_address
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=5) as client:
        response = await post_signed(client, SMS_PATH, inbound("Look at this pothole", **fields))
    assert response.status_code == 200  # answered while the photo download is still held back
    media.release.set()
    await service.worker.drain()

    async with service.db.read() as session:
        [ticket] = (await session.execute(select(Ticket))).scalars()
        [message] = (await session.execute(select(Message))).scalars()
        stored = list((await session.execute(select(Attachment).order_by(Attachment.id))).scalars())
        blobs = {b.sha256: b.data for b in (await session.execute(select(Blob))).scalars()}
    assert message.ticket_id == ticket.id and message.body == "Look at this pothole"
    assert [a.content_type for a in stored] == ["image/jpeg", "image/png", "image/png"]
    photo = stored[0]
    assert photo.sha256 == hashlib.sha256(PHOTO).hexdigest() and blobs[photo.sha256] == PHOTO
    assert (photo.lat, photo.lon) == (pytest.approx(41.9473611, abs=1e-6), pytest.approx(-87.6561389, abs=1e-6))
    assert stored[1].sha256 == stored[2].sha256 == hashlib.sha256(PNG).hexdigest()  # one blob, stored once
    assert len(blobs) == 2
    for n, reason in ((4, "http-404"), (5, "too-large"), (6, "type-not-allowed:application/octet-stream")):
        assert f"[media {n} not stored ({reason}): {media.twilio.url('/Media/' + names[n - 1])}]" in message.body_full

    def seen(path: str) -> list:
        return [r for r in media.twilio.requests if r.path == path]

    assert all(r.headers["Authorization"].startswith("Basic ") for r in media.twilio.requests)
    [to_storage] = media.storage.requests
    assert "Authorization" not in to_storage.headers  # the credentials stay with Twilio's host
    assert len(seen("/Media/flaky")) == 2  # a 503 is tried again
    assert len(seen("/Media/gone")) == 1 and len(seen("/Media/huge")) == 1  # these are not


def test_twilio_media_urls_follow_api_base() -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    assert media_request_url(url, "") == url
    assert (
        media_request_url(url, "http://127.0.0.1:4010")
        == "http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    )
    assert media_request_url("https://media.example/x", "http://127.0.0.1:4010") == "https://media.example/x"
