"""An SMTP transaction's DATA read in a few large reads instead of one per line.

aiosmtpd reads DATA with one `readuntil(b"\\r\\n")` per line, under a stream limit of one line (1001 bytes), so
that a 4 KB report costs some seventy awaits and the transport is paused and resumed each time more than two lines
wait in the buffer. Here the limit is raised to what the message may still grow by, and the data is read up to each
`.\\r\\n`: only a chunk whose dot starts a line ends the message, so a message takes one read and one more for each
line of its text that ends in a full stop.

The result is aiosmtpd's exactly: the same bytes with the dot-stuffing removed (RFC 5321 §4.5.2), `552` when the
data is longer than the size limit and `500` when a line is longer than the line limit, the data drained to its end
either way, and anything the client sent after the end left unread for the next command. One difference: a message
that is both too long and has a too-long line is answered `552` whichever came first.
"""

from __future__ import annotations

import asyncio
import sys

END = b".\r\n"
TOO_MUCH = "552 Error: Too much mail data"
TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"


class Refused(Exception):
    """The data was read to its end and is refused with this reply."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


async def read_data(reader: asyncio.StreamReader, *, size_limit: int | None, line_limit: int) -> bytes:
    """The message after `354`, up to and without its terminating line, with the dot-stuffing removed.

    Raises `Refused` (having read the data to its end) for a message over `size_limit` bytes or with a line,
    CRLF included, over `line_limit` bytes."""
    allowance = size_limit or sys.maxsize
    received = bytearray()
    # The one private attribute used: StreamReader has no public way to read past its limit (aiosmtpd itself clears
    # the reader's `_buffer`). It is restored before anything else reads from this stream.
    own_limit = reader._limit  # type: ignore[attr-defined]
    try:
        while True:
            reader._limit = max(allowance - len(received), 0) + len(END)  # type: ignore[attr-defined]
            try:
                received += await reader.readuntil(END)
            except asyncio.LimitOverrunError:  # no end within what the message may still grow by
                reader._limit = own_limit  # type: ignore[attr-defined]
                await _drain(reader)
                raise Refused(TOO_MUCH) from None
            dot = len(received) - len(END)
            if dot == 0 or received.endswith(b"\r\n", 0, dot):  # the dot starts a line: the end of the data
                del received[dot:]
                break
    finally:
        reader._limit = own_limit  # type: ignore[attr-defined]
    if len(received) > allowance:
        raise Refused(TOO_MUCH)
    if len(received) > line_limit - 2 and max(map(len, received.split(b"\r\n"))) > line_limit - 2:
        raise Refused(TOO_LONG)
    if received.startswith(b"."):
        del received[0]
    return bytes(received).replace(b"\r\n.", b"\r\n")


async def _drain(reader: asyncio.StreamReader) -> None:
    """Read and drop lines, from the start of one, up to and including the line that ends the data."""
    within_line = False  # the last read ended inside a line longer than the stream's limit
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as overrun:
            await reader.read(overrun.consumed)
            within_line = True
            continue
        if line == END and not within_line:
            return
        within_line = False
