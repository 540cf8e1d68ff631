"""Cheap readings at the SMTP edge, each exact for the plain forms nearly every client sends and falling back to
the standard library's parser for anything else.

Both run once or twice per accepted message on the event loop: the general parsers cost about 40 µs each there,
the plain forms here a few µs, with the same results.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32

import aiosmtpd.smtp
from aiosmtpd.smtp import MISSING, Envelope, syntax

from gateway.ingest.smtp_data import Refused, read_data
from gateway.ingest.smtp_pipelining import PipeliningSMTP

_headers = BytesHeaderParser(policy=compat32)

# A header block every line of which the email parser reads as a header or its continuation: a name of printable
# ASCII without ':' (RFC 5322 §2.2), or leading whitespace; every line ends in CRLF, with no lone CR or LF inside.
_PLAIN_HEAD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r\n(?:(?:[\x21-\x39\x3b-\x7e]+:|[ \t])[^\r\n]*\r\n)*")
_MESSAGE_ID = re.compile(rb"message-id:[ \t]*([\x20-\x7e]*)\r\n(?![ \t])", re.IGNORECASE)


def _parsed_message_id(head: bytes) -> str | None:
    try:
        value = _headers.parsebytes(head + b"\r\n\r\n").get("Message-ID")
    except Exception:  # a header block the parser cannot read has no usable Message-ID
        return None
    return str(value) if value else None


def _first_message_id_line(block: bytes) -> int:
    """Where the first Message-ID header starts in a plain header block, or -1."""
    lowered = block.lower()  # then a plain find: a case-blind regex search costs several times more
    if lowered.startswith(b"message-id:"):
        return 0
    found = lowered.find(b"\r\nmessage-id:")
    return found + 2 if found >= 0 else -1


def _header_message_id(head: bytes) -> str | None:
    """The first Message-ID header's value as the compat32 parser gives it; the parser itself unless plain."""
    block = head + b"\r\n"
    if _PLAIN_HEAD.fullmatch(block) is not None:
        start = _first_message_id_line(block)
        if start < 0:
            return None
        found = _MESSAGE_ID.match(block, start)
        if found is not None:  # one line of printable ASCII: exactly what the parser would give
            return found.group(1).decode("ascii") or None
    return _parsed_message_id(head)


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID from the header block only (cheap; the full parse happens in the pipeline)."""
    head, _, _ = raw.partition(b"\r\n\r\n")
    if len(head) == len(raw):
        head, _, _ = raw.partition(b"\n\n")
    value = _header_message_id(head)
    if not value:
        return None
    value = value.strip().strip("<>").strip()
    return value[:490] or None


# An SMTP path `<local@domain>` whose local part is a dot-atom and whose domain is plain labels (RFC 5321 §4.1.2),
# followed by nothing or by parameters after a space.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+(?=[^ \t(])|\Z)")


_sanitized_log = aiosmtpd.smtp.sanitized_log
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _sanitized_log_if_logged(func: Callable[..., None], msg: str, *args: object, **kwargs: object) -> None:
    """aiosmtpd's `sanitized_log`, skipped when its logger would drop the line: aiosmtpd calls it twice for every
    command (at DEBUG and INFO, which the service does not log for aiosmtpd), and it masks the arguments before the
    logger looks at the level, about 3 µs a command."""
    logger, level = getattr(func, "__self__", None), _LEVELS.get(getattr(func, "__name__", ""))
    if level is not None and isinstance(logger, logging.Logger) and not logger.isEnabledFor(level):
        return
    _sanitized_log(func, msg, *args, **kwargs)


aiosmtpd.smtp.sanitized_log = _sanitized_log_if_logged  # (the module's command loop looks it up at each call)


class IngestSMTP(PipeliningSMTP):
    """aiosmtpd's protocol, reading plain MAIL and RCPT paths without the general header parser, DATA in large
    reads (`gateway.ingest.smtp_data`) instead of one per line, with PIPELINING (`gateway.ingest.smtp_pipelining`)
    and with one idle timer a session moved lazily."""

    _deadline = 0.0

    def _reset_timeout(self, duration: float | None = None) -> None:
        """The session times out `duration` (the idle timeout) from now, as in aiosmtpd. aiosmtpd cancels its timer
        and starts another at every command, and the event loop keeps each cancelled one in its heap until it comes
        due; here the timer only moves when the new deadline is sooner, and otherwise finds the later one when it
        fires (`_timeout_due`)."""
        self._deadline = deadline = self.loop.time() + (duration or self._timeout_duration)
        handle = self._timeout_handle
        if handle is None or handle.cancelled() or handle.when() > deadline:
            if handle is not None:
                handle.cancel()
            self._timeout_handle = self.loop.call_at(deadline, self._timeout_due)

    def _timeout_due(self) -> None:
        if self.loop.time() < self._deadline:  # commands came since the timer was set: wait for the latest
            self._timeout_handle = self.loop.call_at(self._deadline, self._timeout_due)
            return
        self._timeout_cb()

    # ---- stopping: the handler may say it is (`stopping`) and be told of each transaction's start and end, so that
    # the service refuses new mail with 421 and waits for the transactions already begun rather than failing them.

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if getattr(self.event_handler, "stopping", False):
            await self.push("421 4.3.2 Service shutting down, please try again later")
            self.transport.close()  # as aiosmtpd does after its own 421
            return
        await super().smtp_MAIL(arg)
        began = getattr(self.event_handler, "transaction_began", None)
        if began is not None and self.envelope is not None and self.envelope.mail_from:
            began(self.envelope)

    def _create_envelope(self) -> Envelope:
        # A transaction's envelope is replaced when it ends: after DATA, at RSET, HELO or EHLO.
        self._transaction_ended()
        return super()._create_envelope()

    def connection_lost(self, error: Exception | None) -> None:
        self._transaction_ended()
        super().connection_lost(error)

    def _transaction_ended(self) -> None:
        ended = getattr(self.event_handler, "transaction_ended", None)
        if ended is not None and self.envelope is not None and self.envelope.mail_from:
            ended(self.envelope)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data or "DATA" not in self._handle_hooks:  # (never, in this service) aiosmtpd's own way
            await super().smtp_DATA(arg)
            return
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await read_data(self._reader, size_limit=self.data_size_limit, line_limit=self.line_length_limit)
        except Refused as refused:
            await self.push(refused.reply)
            self._set_post_data_state()
            return
        except asyncio.CancelledError:  # the connection was lost during DATA (aiosmtpd's eof_received cancels us)
            self._writer.close()
            raise
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _PLAIN_PATH.match(arg)
        if match is None:
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end() :]
