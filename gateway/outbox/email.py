"""Sends outbox email through the configured relay with aiosmtplib, over a few reused connections."""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from gateway.outbox.worker import OutboxError
from gateway.settings import EmailOutboundSettings
from storage.models import Outbox

log = logging.getLogger(__name__)


def build_email(row: Outbox) -> EmailMessage:
    payload = row.payload
    msg = EmailMessage()
    msg["From"] = payload["from"]
    msg["To"] = payload["to"]
    msg["Subject"] = payload["subject"]
    msg["Date"] = formatdate(localtime=False)
    for name, value in payload.get("headers", {}).items():
        msg[name] = value
    msg.set_content(payload["text"])
    return msg


class SmtpSender:
    channel = "email"

    def __init__(self, settings: EmailOutboundSettings) -> None:
        self._settings = settings
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._open = 0
        self._slots = asyncio.Semaphore(settings.connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.relay_host,
            port=s.relay_port,
            timeout=s.timeout_seconds,
            use_tls=s.use_tls,
            start_tls=s.starttls if not s.use_tls else False,
        )
        await client.connect()
        if s.username:
            await client.login(s.username, s.password)
        return client

    async def send(self, row: Outbox) -> str | None:
        message = build_email(row)
        async with self._slots:
            client = None if self._idle.empty() else self._idle.get_nowait()
            try:
                if client is None or not client.is_connected:
                    client = await self._connect()
                await client.send_message(message)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await _close(client)
                codes = [r.code for r in exc.recipients]
                raise OutboxError(f"recipient refused: {codes}", retryable=all(c < 500 for c in codes)) from exc
            except aiosmtplib.SMTPResponseException as exc:
                await _close(client)
                raise OutboxError(f"relay said {exc.code} {exc.message}", retryable=exc.code < 500) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await _close(client)
                raise OutboxError(f"relay unreachable: {type(exc).__name__}: {exc}") from exc
            self._idle.put_nowait(client)
        return None

    async def close(self) -> None:
        while not self._idle.empty():
            await _close(self._idle.get_nowait())


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None or not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
