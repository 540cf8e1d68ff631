"""SMTP command pipelining (RFC 2920) for aiosmtpd: offered in the EHLO reply, with the replies of a group sent
together.

aiosmtpd reads commands one line at a time, so it already answers commands that arrive together, one after the
other; what it lacks is the offer, without which a client waits for each reply before its next command (four round
trips a message), and the grouping of replies: it writes each one as it goes, a socket write on this side and a
wake-up on the client's each. Mail servers (Postfix, Exim, the large providers) send MAIL, RCPT and DATA as one
group where it is offered, and read the replies together.

Here a reply to MAIL, RCPT or RSET (the commands RFC 2920 §3.1 lets a group go on after) is held while the client's
next command is already waiting, whole, in the buffer; it goes out with the first reply that is not held. Any other
reply, and every reply with no whole command behind it, is written at once with those held before it, so nothing is
held while the session waits for input (§3.2) or before it closes the connection. At most HOLD_MAX replies are
held, so a client that streams commands without reading the replies is held back by the socket's buffer (the write
is drained) as it is without pipelining.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiosmtpd.smtp import SMTP, syntax

log = logging.getLogger("mail.log")  # aiosmtpd's own logger, as its `push` uses

EXTENSION = b"250-PIPELINING"
HOLD_MAX = 64


class PipeliningSMTP(SMTP):
    """aiosmtpd's protocol with PIPELINING offered and the replies of a group written together."""

    _may_hold = False  # True while MAIL, RCPT or RSET runs: its reply may wait for the next command's
    _held: list[bytes] | None = None  # replies waiting to be written, each with its CRLF
    _ehlo_lines: list[bytes] | None = None  # the EHLO reply's lines, while EHLO makes them

    async def push(self, status: str | bytes) -> None:
        response = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii") if isinstance(status, str) else status
        if self._ehlo_lines is not None:
            self._ehlo_lines.append(response)
            return
        if log.isEnabledFor(logging.DEBUG) and self.session is not None:
            log.debug("%r << %r", self.session.peer, response)
        held = self._held
        if held is None:
            held = self._held = []
        # The one private attribute read: whether the client's next command has arrived whole (aiosmtpd reads its
        # commands up to b"\n" from this same buffer).
        if self._may_hold and len(held) < HOLD_MAX and b"\n" in self._reader._buffer:  # type: ignore[attr-defined]
            held.append(response + b"\r\n")
            return
        if held:
            held.append(response + b"\r\n")
            self._writer.write(b"".join(held))
            held.clear()
        else:
            self._writer.write(response + b"\r\n")
        await self._writer.drain()

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        lines: list[bytes] = []
        self._ehlo_lines = lines
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._ehlo_lines = None
        if len(lines) > 1 and lines[0].startswith(b"250-") and lines[-1].startswith(b"250 "):
            lines.insert(-1, EXTENSION)
        if lines:
            await self.push(b"\r\n".join(lines))  # in one write, where aiosmtpd writes each line

    async def _grouped(self, command: Callable[[str | None], Awaitable[None]], arg: str | None) -> None:
        """Runs a command whose reply may wait for the next command's (RFC 2920 §3.1)."""
        self._may_hold = True
        try:
            await command(arg)
        finally:
            self._may_hold = False

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        await self._grouped(super().smtp_MAIL, arg)  # type: ignore[arg-type]

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        await self._grouped(super().smtp_RCPT, arg)  # type: ignore[arg-type]

    @syntax("RSET")
    async def smtp_RSET(self, arg: str | None) -> None:
        await self._grouped(super().smtp_RSET, arg)  # type: ignore[arg-type]
