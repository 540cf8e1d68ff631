"""An SMTP transaction's DATA read in a few large reads instead of one per line.

aiosmtpd reads DATA with one `readuntil(b"\\r\\n")` per line, under a stream limit of one line (1001 bytes): a 4 KB
report costs some seventy awaits, and the transport is paused and resumed whenever more than two such lines wait in
the buffer. Here the stream's limit is raised to CHUNK_BYTES while DATA is read, and the data is read up to each
`.\\r\\n` (or CHUNK_BYTES of it at a time where there is none): only a dot that starts a line ends the message, so a
message takes one read, and one more for each line of its text that ends in a full stop.

The result is aiosmtpd's exactly: the same bytes with the dot-stuffing removed (RFC 5321 §4.5.2), `552` when the
data is longer than the size limit and `500` when a line is longer than the line limit, the data read to its end
either way (and no more of it kept than the size limit), anything the client sent after the end left unread for
the next command. One difference: a message that is both too long and has a too-long line is answered `552`
whichever came first.
"""

from __future__ import annotations

import asyncio
import sys

END = b".\r\n"
CHUNK_BYTES = 64 * 1024  # the stream's limit while DATA is read: reading pauses once twice this waits unread
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
    too_much = False
    before = b"\r\n"  # the last two bytes read so far: the data starts at the start of a line
    # The one private attribute used: StreamReader has no public way to read past its limit (aiosmtpd itself clears
    # the reader's `_buffer`). It is restored before anything else reads from this stream.
    own_limit = reader._limit  # type: ignore[attr-defined]
    reader._limit = max(own_limit, CHUNK_BYTES)  # type: ignore[attr-defined]
    try:
        while True:
            try:
                chunk = await reader.readuntil(END)
                ended = (before + chunk[-5:])[-5:-3] == b"\r\n"  # the dot starts a line: the end of the data
            except asyncio.LimitOverrunError as overrun:  # no end in the next CHUNK_BYTES: take them as they are
                chunk, ended = await reader.read(overrun.consumed), False
            before = chunk[-2:]  # (a chunk is never shorter: it ends in END, or is CHUNK_BYTES long)
            if not too_much:
                received += chunk
                if len(received) - (len(END) if ended else 0) > allowance:
                    too_much, received = True, bytearray()  # read on to the end, keeping none of it
            if ended:
                break
    finally:
        reader._limit = own_limit  # type: ignore[attr-defined]
    if too_much:
        raise Refused(TOO_MUCH)
    del received[-len(END) :]
    if len(received) > line_limit - 2 and max(map(len, received.split(b"\r\n"))) > line_limit - 2:
        raise Refused(TOO_LONG)
    if received.startswith(b"."):
        del received[0]
    return bytes(received).replace(b"\r\n.", b"\r\n")
