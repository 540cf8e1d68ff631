"""The SMTP edge: aiosmtpd on the service's own event loop. Checks recipients at RCPT, stores at DATA, then 250.

No parsing or rules run here: the only work between DATA and 250 is committing the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.ingest.admission import Backlog
from gateway.ingest.smtp_scan import IngestSMTP, message_id_of
from gateway.ingest.writer import IngestError, RawWriter
from gateway.listen import cannot_listen
from gateway.metrics import Metrics
from gateway.redact import redact
from gateway.settings import ConfigError, SmtpSettings
from storage.raw import NewRaw

log = logging.getLogger(__name__)


def _envelope_sender(envelope: Envelope) -> bytes:
    sender = str(envelope.mail_from or "").strip().strip("<>")
    return "".join(ch for ch in sender if ch.isprintable() and ch not in "<>\r\n").encode("utf-8", "replace")


def idempotency_key(raw: bytes, message_id: str | None) -> str:
    if message_id:
        return f"mid:{message_id}"
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


class SmtpIngestHandler:
    """aiosmtpd handler hooks: RCPT and DATA."""

    def __init__(
        self, settings: SmtpSettings, writer: RawWriter, metrics: Metrics | None = None, backlog: Backlog | None = None
    ) -> None:
        self._domains = frozenset(settings.domains)
        self._writer = writer
        self._metrics = metrics
        self._backlog = backlog
        self.stopping = False  # set by the listener's stop: a new transaction is answered 421 (IngestSMTP)
        self._open: set[Envelope] = set()  # transactions begun (MAIL accepted) and not yet ended
        self.quiet = asyncio.Event()  # set whenever no transaction is open
        self.quiet.set()

    def transaction_began(self, envelope: Envelope) -> None:
        self._open.add(envelope)
        self.quiet.clear()

    def transaction_ended(self, envelope: Envelope) -> None:
        self._open.discard(envelope)
        if not self._open:
            self.quiet.set()

    @property
    def open_transactions(self) -> int:
        return len(self._open)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain not in self._domains:
            # Never an open relay: only our own domains are accepted (RFC 5321 §3.6.2).
            return "550 5.1.1 Recipient address rejected: not a mailbox of this service"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only when decode_data=True, which we never set
            raw = raw.encode("utf-8", "surrogateescape")
        message_id = message_id_of(raw)
        # As the final delivery agent we record the envelope sender (RFC 5321 §4.4): "<>" marks a bounce.
        raw = b"Return-Path: <" + _envelope_sender(envelope) + b">\r\n" + raw
        item = NewRaw(
            channel="email",
            source="smtp",
            idempotency_key=idempotency_key(raw, message_id),
            raw=raw,
            message_id=message_id,
            envelope_from=str(envelope.mail_from or ""),
            envelope_to=",".join(envelope.rcpt_tos),
        )
        if self._backlog is not None and not await self._backlog.admit():
            log.warning("smtp: backlog full, message_id=%s deferred with 451", message_id)
            return "451 4.3.2 Too many reports waiting to be processed, please try again later"
        try:
            stored = await self._writer.store(item)
        except IngestError as exc:
            if self._backlog is not None:
                self._backlog.release()
            # (while stopping, only a transaction still open after the grace period: its sender retries later)
            (log.warning if self.stopping else log.error)(
                "smtp: could not store message_id=%s from=%s: %s",
                message_id,
                redact(str(envelope.mail_from or "")),
                exc,
            )
            return "451 4.3.0 Temporary failure storing the message, please try again later"
        if self._backlog is not None:
            (self._backlog.release if stored.duplicate else self._backlog.stored)()
        if stored.duplicate:
            if self._metrics is not None:
                self._metrics.duplicates.labels("email").inc()
            log.info("smtp: duplicate message_id=%s acknowledged, not stored again", message_id)
            return "250 2.0.0 OK: already received"
        if self._metrics is not None:
            self._metrics.accepted.labels("email").inc()
        log.info(
            "smtp: accepted raw=%s message_id=%s from=%s size=%d",
            stored.raw_id,
            message_id,
            redact(str(envelope.mail_from or "")),
            len(raw),
        )
        return f"250 2.0.0 OK: queued as {stored.raw_id}"


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    except FileNotFoundError as exc:  # (the ssl module does not say which of the two files is missing)
        missing = next((f for f in (settings.tls_cert, settings.tls_key) if f and not Path(f).is_file()), "")
        key = "smtp.tls_key" if missing and missing == settings.tls_key else "smtp.tls_cert"
        raise ConfigError(f"config key {key}: {missing or settings.tls_cert}: no such file") from exc
    except (OSError, ssl.SSLError) as exc:
        key_file = settings.tls_key or "(in the same file)"
        reason = exc.strerror or exc
        problem = f"cannot load {settings.tls_cert} with key {key_file}: {reason}"
        raise ConfigError(f"config key smtp.tls_cert: {problem}") from exc
    return context


class SmtpListener:
    """Runs the aiosmtpd protocol on a server created on the running loop (not the threaded Controller)."""

    def __init__(
        self, settings: SmtpSettings, writer: RawWriter, metrics: Metrics | None = None, backlog: Backlog | None = None
    ) -> None:
        self._settings = settings
        self.handler = SmtpIngestHandler(settings, writer, metrics, backlog)
        self._server: asyncio.Server | None = None
        self._tls = _tls_context(settings)

    def _protocol(self) -> SMTP:
        kwargs: dict[str, Any] = {
            "data_size_limit": self._settings.max_message_bytes,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "hostname": self._settings.hostname,
            "ident": "Inbox311 ESMTP",
        }
        if self._tls is not None:
            kwargs.update(tls_context=self._tls, require_starttls=self._settings.require_starttls)
        return IngestSMTP(self.handler, **kwargs)

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on `[smtp] host:port`, or on `sock` when the address was bound already (`gateway.listen`)."""
        loop = asyncio.get_running_loop()
        host, port = self._settings.host, self._settings.port
        self.handler.stopping = False
        try:
            if sock is not None:
                self._server = await loop.create_server(self._protocol, sock=sock)
            else:
                self._server = await loop.create_server(self._protocol, host=host, port=port)
        except OSError as exc:
            raise cannot_listen("smtp", host, port, exc) from exc
        log.info("smtp: listening on %s:%d (domains: %s)", *self.address, ", ".join(self._settings.domains))

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop accepting connections and transactions (a new MAIL is answered 421, and its connection closed; the
        sender retries later), and let the transactions already begun finish, stored and answered, within `grace`."""
        if self._server is None:
            return
        self.handler.stopping = True
        self._server.close()
        try:
            await asyncio.wait_for(self.handler.quiet.wait(), grace)
        except TimeoutError:
            log.warning("smtp: %d transaction(s) still open after %.0f s", self.handler.open_transactions, grace)
        self._server = None
