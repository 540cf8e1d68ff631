"""The Twilio side of the SMS tests: webhook requests signed with Twilio's own RequestValidator, a loopback HTTP server
(MMS media, Twilio error answers), and a recording proxy in front of the Prism mock of Twilio's API.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import httpx
from aiohttp import web
from PIL import Image
from twilio.request_validator import RequestValidator

TOKEN = "test-auth-token"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
OUR_NUMBER = "+13125550199"
RESIDENT = "+17735550100"
NEIGHBOUR = "+17735550111"
PUBLIC_BASE = "http://311.city.example"  # the `settings` fixture's [http] public_base_url
SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"

CAMERA_JPEG = Path(__file__).resolve().parent / "fixtures/email/piexif/r_canon.jpg"

_sids = iter(range(1, 10**6))


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def inbound(body: str, *, sender: str = RESIDENT, sid: str | None = None, **fields: str) -> dict[str, str]:
    """An inbound-message webhook form as Twilio posts it."""
    form = {"ToCountry": "US", "SmsMessageSid": "", "NumMedia": "0", "SmsSid": "", "SmsStatus": "received",
            "Body": body, "To": OUR_NUMBER, "NumSegments": "1", "MessageSid": "", "AccountSid": ACCOUNT_SID,
            "From": sender, "ApiVersion": "2010-04-01"}  # fmt: skip
    sid = sid or new_sid("MM" if "MediaUrl0" in fields else "SM")
    form.update(SmsMessageSid=sid, SmsSid=sid, MessageSid=sid)
    form.update(fields)
    return form


def signature(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


async def post_signed(
    client: httpx.AsyncClient,
    path: str,
    form: dict[str, str],
    *,
    signed_url: str | None = None,
    token: str = TOKEN,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST `form` to `path`, signed for `signed_url` (default: the public URL of `path`)."""
    sig = signature(signed_url or PUBLIC_BASE + path, form, token)
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig, **(headers or {})}
    return await client.post(path, content=urlencode(form), headers=all_headers)


def photo_with_gps(lat: tuple[float, float, float], lon: tuple[float, float, float]) -> bytes:
    """A real camera JPEG with GPS (north, west) written into its EXIF, as a phone sends it by MMS."""
    image = Image.open(CAMERA_JPEG)
    exif = image.getexif()
    exif.get_ifd(0x8825).update({1: "N", 2: lat, 3: "W", 4: lon})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    form: dict[str, str]
    headers: dict[str, str]
    status: int = 0
    json: Any = None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class LoopbackHttp:
    """An aiohttp server on 127.0.0.1:0 whose routes the test sets; it records every request."""

    requests: list[Recorded] = field(default_factory=list)
    _app: web.Application = field(default_factory=web.Application)
    _runner: web.AppRunner | None = None
    port: int = 0

    def route(self, method: str, path: str, handler: Handler) -> None:
        async def recording(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    request.query_string,
                    dict(parse_qsl(body.decode("utf-8", "replace"))),
                    dict(request.headers),
                )
            )
            return await handler(request)

        self._app.router.add_route(method, path, recording)

    async def start(self) -> LoopbackHttp:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class PrismRecorder(LoopbackHttp):
    """Forwards every request to the Prism mock and records what went there and what the mock answered."""

    def __init__(self, mock_url: str) -> None:
        super().__init__()
        self._mock = mock_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self.route("*", "/{tail:.*}", self._forward)

    async def start(self) -> PrismRecorder:
        self._session = aiohttp.ClientSession()
        await super().start()
        return self

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self._session.request(
            request.method, self._mock + request.path_qs, headers=headers, data=await request.read()
        ) as answer:
            body = await answer.read()
            record = self.requests[-1]
            record.status = answer.status
            if answer.content_type.endswith("json"):
                record.json = json.loads(body)
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    def messages_created(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    async def stop(self) -> None:
        await super().stop()
        if self._session is not None:
            await self._session.close()


def sms_settings(settings: Any, db_url: str, **twilio: Any) -> Any:
    """The `settings` fixture with this database, fast outbox retries and a Twilio section for the tests."""
    section = {"auth_token": TOKEN, "from_number": OUR_NUMBER, **twilio}
    return settings.replace(
        database={"url": db_url},
        outbox={"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2},
        twilio=section,
    )
