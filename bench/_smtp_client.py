"""The load generator's SMTP client: one session reused for many messages, as a mail server talks to the next hop.

Where the server offers PIPELINING (RFC 2920) the envelope and DATA go as one group and their replies are read
together, as Postfix and the large providers send; elsewhere one command a round trip. Every reply's code is
checked. It is lighter than aiosmtplib (no per-command locks, timeouts or response objects), which matters here
because the load generator shares the machine's two cores with the server it measures.
"""

from __future__ import annotations

import asyncio


class Refused(Exception):
    """The server did not take a message: the reply that refused it."""

    @classmethod
    def by(cls, reply: tuple[int, list[bytes]]) -> Refused:
        return cls(b" / ".join(reply[1]).decode("utf-8", "replace"))


def wire_data(data: bytes) -> bytes:
    """A message as it goes after 354: CRLF line ends, dot-stuffed (RFC 5321 §4.5.2), with its terminating line."""
    if b"\n" in data.replace(b"\r\n", b""):
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class PlainSMTP:
    """A connected SMTP session: `connect`, then `send` for each message, then `quit`."""

    def __init__(self, host: str, port: int, *, timeout: float = 120.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.pipelining = False

    @property
    def is_connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port), self._timeout
        )
        self._expect(await self._reply(), 220)
        self._writer.write(b"EHLO loadgen.example\r\n")
        code, lines = await self._reply()
        self._expect((code, lines), 250)
        self.pipelining = any(line[4:].strip().upper() == b"PIPELINING" for line in lines[1:])

    async def _reply(self) -> tuple[int, list[bytes]]:
        assert self._reader is not None
        lines = []
        async with asyncio.timeout(self._timeout):  # (not wait_for, which makes a task of every read)
            while True:
                line = await self._reader.readuntil(b"\r\n")
                lines.append(line[:-2])
                if line[3:4] != b"-":
                    return int(line[:3]), lines

    @staticmethod
    def _expect(reply: tuple[int, list[bytes]], code: int) -> None:
        if reply[0] != code:
            raise Refused.by(reply)

    async def send(self, sender: str, recipient: str, data: bytes) -> None:
        """One message from `sender` to `recipient`; raises `Refused` (the session reset) if it was not taken."""
        assert self._writer is not None
        envelope = (f"MAIL FROM:<{sender}>\r\n", f"RCPT TO:<{recipient}>\r\n", "DATA\r\n")
        if self.pipelining:
            self._writer.write("".join(envelope).encode())
            replies = [await self._reply() for _ in envelope]
        else:
            replies = []
            for command in envelope:
                self._writer.write(command.encode())
                replies.append(await self._reply())
                if replies[-1][0] >= 400:
                    break
        codes = [code for code, _ in replies]
        if codes[-1] == 354 and codes[:2] != [250, 250]:
            self._writer.write(b".\r\n")  # (an empty message, to end the DATA the server took)
            replies.append(await self._reply())
        elif codes == [250, 250, 354]:
            self._writer.write(wire_data(data))
            reply = await self._reply()
            if reply[0] == 250:
                return
            replies.append(reply)
        self._writer.write(b"RSET\r\n")
        await self._reply()
        raise Refused.by(next((r for r in replies if r[0] >= 400), replies[-1]))

    async def quit(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.write(b"QUIT\r\n")
            await self._reply()
        finally:
            self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
