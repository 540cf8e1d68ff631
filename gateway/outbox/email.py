"""Sends outbox email through the configured relay with aiosmtplib, over a few reused connections."""

from __future__ import annotations

import asyncio
import email.policy
import functools
import logging
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import formatdate
from typing import Any

import aiosmtplib

from gateway.outbox.email_render import envelope, render_email
from gateway.outbox.worker import OutboxError
from gateway.settings import EmailOutboundSettings
from storage.models import Outbox

log = logging.getLogger(__name__)


class _VerbatimHeader(UnstructuredHeader):
    """Written as given, never folded: RFC 2369 URL headers must stay intact. The default policy would turn a long
    unsubscribe URL into RFC 2047 encoded words, which mail clients do not decode there (RFC 8058 one-click breaks).
    Our values are ASCII and far below RFC 5322's 998-character line limit."""

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


class _HeaderClasses(HeaderRegistry):
    """The standard registry makes a new class at every lookup, twice per header set, a good part of building a
    message; the class depends only on the header's name, so each one is made once and kept."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._made.pop(name.lower(), None)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        made = self._made.get(name.lower())
        if made is None:
            made = self._made[name.lower()] = super().__getitem__(name)
        return made


# aiosmtplib reads every envelope address twice a send with the stdlib's general address parser (`sendmail`
# checks them all, then MAIL and RCPT read their own): four parses, about a tenth of the sending process's CPU a
# reply. The result depends on the string alone, and the sender address is the same for every reply.
_parse_address = functools.lru_cache(maxsize=4096)(aiosmtplib.email.parse_address)
aiosmtplib.smtp.parse_address = aiosmtplib.email.parse_address = _parse_address  # (MAIL and RCPT: via quote_address)

_HEADERS = _HeaderClasses()
for _name in ("list-unsubscribe", "list-unsubscribe-post"):
    _HEADERS.map_to_type(_name, _VerbatimHeader)
MESSAGE_POLICY = email.policy.default.clone(header_factory=_HEADERS)


def build_email(payload: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage(policy=MESSAGE_POLICY)
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
        return await open_relay(self._settings)

    async def send(self, row: Outbox) -> str | None:
        return await self.send_payload(row.payload)

    async def send_payload(self, payload: dict[str, Any]) -> None:
        """Send one outbox payload; raises OutboxError."""
        data = render_email(payload, date=formatdate(localtime=False))
        message = build_email(payload) if data is None else None  # an address outside ASCII: SMTPUTF8 via the library
        async with self._slots:
            client = None if self._idle.empty() else self._idle.get_nowait()
            try:
                if client is None or not client.is_connected:
                    client = await self._connect()
                if data is not None:
                    await client.sendmail(*envelope(payload), data)
                else:
                    assert message is not None
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

    async def close(self) -> None:
        while not self._idle.empty():
            await _close(self._idle.get_nowait())


async def open_relay(s: EmailOutboundSettings) -> aiosmtplib.SMTP:
    """A connection to the relay, secured and logged in as configured (also used by `inbox311 check-config`)."""
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


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None or not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
