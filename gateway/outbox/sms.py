"""Sends outbox texts with the official `twilio` client (`messages.create`), asking for delivery receipts.

Twilio's errors become OutboxError: rate limits, Twilio's own 5xx and network failures are retried; a request
Twilio refuses for the recipient (invalid number, unsubscribed) is not. Error 21610 means the number sent STOP to
our sender at Twilio: the contact is marked opted out so nothing else is queued for it.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from gateway.outbox.worker import OutboxError
from gateway.redact import redact
from gateway.settings import ConfigError, Settings
from rules.sms_keywords import KINDS_SENT_WHEN_OPTED_OUT
from storage.db import Database
from storage.models import Outbox
from storage.sms import UNREACHABLE, UNSUBSCRIBED, find_phone_contact, mark_phone_undeliverable

log = logging.getLogger(__name__)

STATUS_PATH = "/webhooks/twilio/status"
_RETRYABLE_CODES = frozenset({"20429", "30001", "20500", "20503"})  # too many requests, queue overflow, Twilio down


class RoutedTwilioHttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client with a default timeout; with `api_base`, every request goes there instead."""

    def __init__(self, *, api_base: str, timeout: float) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        self._base = urlsplit(api_base) if api_base else None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the signature of the method this overrides)
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:
            # As a header: aiohttp deprecates the BasicAuth object the parent class would build from `auth`.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
            auth = None
        if self._base is not None:
            parts = urlsplit(url)
            url = urlunsplit(
                (self._base.scheme, self._base.netloc, self._base.path.rstrip("/") + parts.path, parts.query, "")
            )
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )


def is_retryable(exc: TwilioRestException) -> bool:
    """Whether trying the same request again later can succeed."""
    if str(exc.code or "") in _RETRYABLE_CODES or exc.status >= 500:
        return True
    return exc.status in (401, 408, 429)  # 401: credentials being rotated is ours to fix, not the recipient's


class TwilioSender:
    channel = "sms"

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        t = settings.twilio
        if not (t.from_number or t.messaging_service_sid):
            raise ConfigError("config key twilio.from_number: set it or twilio.messaging_service_sid to send texts")
        self._settings = t
        self._status_callback = settings.http.public_base_url + STATUS_PATH
        self._db = db
        self._http: RoutedTwilioHttpClient | None = None
        self._client: Client | None = None

    def _twilio(self) -> Client:
        # aiohttp sessions belong to a running loop: made on first use, not in the constructor
        if self._client is None:
            t = self._settings
            self._http = RoutedTwilioHttpClient(api_base=t.api_base, timeout=t.timeout_seconds)
            self._client = Client(t.account_sid, t.auth_token, http_client=self._http)
        return self._client

    def message_params(self, row: Outbox) -> dict[str, Any]:
        """The `messages.create` arguments for one outbox row."""
        t = self._settings
        params: dict[str, Any] = {
            "to": row.recipient,
            "body": row.payload["body"],
            "status_callback": f"{self._status_callback}?outbox={row.id}",  # finds the row even before its SID is saved
        }
        if t.messaging_service_sid:
            params["messaging_service_sid"] = t.messaging_service_sid
        else:
            prefix, sep, _ = row.recipient.partition(":")
            params["from_"] = f"{prefix}:{t.from_number}" if sep else t.from_number  # whatsapp: to whatsapp:
        return params

    async def send(self, row: Outbox) -> str | None:
        phone = row.recipient.rpartition(":")[2]
        if row.kind not in KINDS_SENT_WHEN_OPTED_OUT and await self._opted_out(phone):
            raise OutboxError("opted-out: the number sent STOP", retryable=False)
        try:
            message = await self._twilio().messages.create_async(**self.message_params(row))
        except TwilioRestException as exc:
            code = str(exc.code or "")
            if code == UNSUBSCRIBED or code in UNREACHABLE:
                await self._mark_undeliverable(phone, code, exc.msg)
            raise OutboxError(f"twilio {exc.status} {code}: {exc.msg}"[:500], retryable=is_retryable(exc)) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OutboxError(f"twilio unreachable: {type(exc).__name__}: {exc}") from exc
        log.info("outbox=%s texted %s sid=%s status=%s", row.id, redact(phone), message.sid, message.status)
        return message.sid

    async def _opted_out(self, phone: str) -> bool:
        if self._db is None:
            return False
        async with self._db.read() as session:
            contact = await find_phone_contact(session=session, phone=phone)
        return bool(contact and contact.opted_out)

    async def _mark_undeliverable(self, phone: str, code: str, reason: str) -> None:
        if self._db is None:
            return
        async with self._db.write() as session:
            await mark_phone_undeliverable(session=session, phone=phone, error_code=code, reason=reason)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None
