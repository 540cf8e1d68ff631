"""PIPELINING (RFC 2920) at the SMTP edge: offered in EHLO, the replies of a group written together, and every
conversation answered exactly as aiosmtpd answers it, reply for reply.

Real SMTP conversations on loopback; the service's `IngestSMTP` counts its socket writes so that a test can see
which replies went out together.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from gateway.ingest.smtp_pipelining import EXTENSION, HOLD_MAX
from gateway.ingest.smtp_scan import IngestSMTP
from tests.smtp_keeper import Keeper


class CountingSMTP(IngestSMTP):
    """`IngestSMTP` that keeps every socket write it makes, in `writes` (one list per server)."""

    writes: list[bytes]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        write = self._writer.write

        def counted(data: bytes) -> None:
            self.writes.append(bytes(data))
            write(data)

        self._writer.write = counted  # type: ignore[method-assign]


@dataclass
class Server:
    handler: Keeper
    port: int
    writes: list[bytes]


@asynccontextmanager
async def serving(protocol: type[SMTP]) -> AsyncIterator[Server]:
    handler, writes = Keeper(), []
    kwargs: dict[str, Any] = {"data_size_limit": 4000, "decode_data": False, "enable_SMTPUTF8": True}

    def made() -> SMTP:
        session = protocol(handler, **kwargs)
        session.writes = writes  # type: ignore[attr-defined]
        return session

    server = await asyncio.get_running_loop().create_server(made, "127.0.0.1", 0)
    try:
        yield Server(handler, server.sockets[0].getsockname()[1], writes)
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def ours() -> AsyncIterator[Server]:
    async with serving(CountingSMTP) as server:
        yield server


async def reply(reader: asyncio.StreamReader) -> list[str]:
    """One reply, all its lines; ["closed"] at the end of the connection."""
    lines = []
    while True:
        line = (await asyncio.wait_for(reader.readline(), 5)).decode().rstrip("\r\n")
        if not line:
            return [*lines, "closed"]
        lines.append(line)
        if line[3:4] != "-":
            return lines


async def session(port: int, ehlo: bytes = b"EHLO client.example") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reply(reader))[0].startswith("220")
    writer.write(ehlo + b"\r\n")
    await reply(reader)
    return reader, writer


async def test_ehlo_offers_pipelining_before_its_last_line_and_helo_is_unchanged(ours: Server) -> None:
    async with serving(SMTP) as plain:
        for ehlo in (b"EHLO client.example", b"HELO client.example"):
            answers = []
            for port in (plain.port, ours.port):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                await reply(reader)
                writer.write(ehlo + b"\r\n")
                answers.append([line.replace("Inbox311", "") for line in await reply(reader)])
                writer.close()
            theirs, own = answers
            if ehlo.startswith(b"EHLO"):
                assert own == [*theirs[:-1], EXTENSION.decode(), theirs[-1]]
                assert theirs[-1] == "250 HELP" and len(theirs) > 2
            else:
                assert own == theirs and len(own) == 1


async def test_a_group_is_answered_in_one_write_and_the_data_after_it(ours: Server) -> None:
    reader, writer = await session(ours.port)
    ours.writes.clear()
    writer.write(
        b"MAIL FROM:<jane@resident.example>\r\nRCPT TO:<reports@city.example>\r\n"
        b"RCPT TO:<someone@elsewhere.example>\r\nDATA\r\n"
    )
    replies = [(await reply(reader))[0][:3] for _ in range(4)]
    assert replies == ["250", "250", "550", "354"]
    assert len(ours.writes) == 1 and ours.writes[0].count(b"\r\n") == 4
    writer.write(b"Subject: pothole\r\n\r\nOn Elm St.\r\n.\r\n")
    assert (await reply(reader))[0].startswith("250 2.0.0")
    assert len(ours.writes) == 2
    assert ours.handler.contents == [b"Subject: pothole\r\n\r\nOn Elm St.\r\n"]
    writer.close()


async def test_a_reply_is_not_held_for_a_command_that_has_not_arrived_whole(ours: Server) -> None:
    reader, writer = await session(ours.port)
    writer.write(b"MAIL FROM:<jane@resident.example>\r\nRCPT TO:<rep")  # the client is slow to send the rest
    assert (await reply(reader))[0].startswith("250")  # answered now, not after the RCPT
    writer.write(b"orts@city.example>\r\n")
    assert (await reply(reader))[0].startswith("250")
    writer.close()


async def test_held_replies_go_out_with_a_reply_that_ends_a_group(ours: Server) -> None:
    reader, writer = await session(ours.port)
    ours.writes.clear()
    writer.write(b"RSET\r\nMAIL FROM:<jane@resident.example>\r\nRSET\r\nNOOP\r\nNOOP\r\n")
    assert [(await reply(reader))[0][:3] for _ in range(5)] == ["250"] * 5
    assert [w.count(b"\r\n") for w in ours.writes] == [4, 1]  # NOOP ends a group (RFC 2920 §3.1)
    writer.close()


async def test_a_stopping_service_answers_what_came_before_the_421(ours: Server) -> None:
    reader, writer = await session(ours.port)
    ours.handler.stopping = True
    writer.write(b"RSET\r\nMAIL FROM:<jane@resident.example>\r\nRCPT TO:<reports@city.example>\r\n")
    assert (await reply(reader))[0].startswith("250")
    assert (await reply(reader))[0].startswith("421")
    assert await asyncio.wait_for(reader.read(), 5) == b""  # and the connection is closed
    writer.close()


def _group(rng: random.Random) -> bytes:
    """Commands of the kinds a group may hold, good and bad, some followed by a message."""
    # Half the groups a transaction as a mail server sends it (MAIL, RCPT..., DATA), the rest any mixture.
    commands = [b"RSET"] if rng.random() < 0.3 else []
    if rng.random() < 0.5:
        commands += [b"MAIL FROM:<jane@resident.example>", b"RCPT TO:<reports@city.example>"]
        commands += [b"RCPT TO:<x@elsewhere.example>"] * rng.randrange(2)
    for _ in range(rng.randrange(1, 7)):
        kind = rng.randrange(10)
        if kind < 3:
            commands.append(rng.choice([b"MAIL FROM:<jane@resident.example>", b"MAIL FROM:<>", b"MAIL FROM:jane",
                                        b"MAIL FROM:<a@b.example> SIZE=99999"]))  # fmt: skip
        elif kind < 6:
            commands.append(rng.choice([b"RCPT TO:<reports@city.example>", b"RCPT TO:<x@elsewhere.example>",
                                        b"RCPT TO:", b"RCPT TO:<@bad>"]))  # fmt: skip
        elif kind == 6:
            commands.append(rng.choice([b"RSET", b"NOOP", b"VRFY someone", b"BOGUS", b"HELP", b""]))
        else:
            commands.append(b"DATA")
            # Lines that read as NOOPs where the DATA is refused, so that no server closes the session for bogus
            # commands while the client still writes; sometimes over the size limit, in lines of a legal length
            # (the one documented difference from aiosmtpd is a message both too long and with too long a line).
            body = (b"NOOP %d " % rng.randrange(1000) + b"x" * 70 + b"\r\n") * rng.choice((0, 1, 60))
            return b"".join(c + b"\r\n" for c in commands) + body + b".\r\n"
    return b"".join(c + b"\r\n" for c in commands)


async def _converse(port: int, group: bytes, cuts: list[int]) -> list[str]:
    reader, writer = await session(port)
    try:
        for a, b in zip([0, *cuts], [*cuts, len(group)], strict=True):
            writer.write(group[a:b])
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"QUIT\r\n")
        answers = []
        while not answers or answers[-1][:3] not in ("221", "clo"):
            answers.append((await reply(reader))[-1])
        return answers
    finally:
        writer.close()


async def test_random_groups_are_answered_as_aiosmtpd_answers_them(ours: Server) -> None:
    rng = random.Random(20261207)
    async with serving(SMTP) as plain:
        grouped = 0
        for case in range(150):
            group = _group(rng)
            cuts = sorted(rng.sample(range(1, len(group)), min(len(group) - 1, rng.randrange(0, 3))))
            expected = await _converse(plain.port, group, cuts)
            ours.writes.clear()
            got = await _converse(ours.port, group, cuts)
            assert got == expected, (case, group[:300], cuts)
            grouped += sum(w.count(b"\r\n") > 1 and not w.startswith(b"250-") for w in ours.writes)  # (not EHLO's)
        assert plain.handler.contents == ours.handler.contents
        assert len(ours.handler.contents) > 10
        assert grouped > 50  # and many of the replies went out together


async def test_a_long_stream_of_commands_is_answered_in_writes_of_at_most_hold_max(ours: Server) -> None:
    reader, writer = await session(ours.port)
    ours.writes.clear()
    writer.write(b"RSET\r\n" * 500 + b"NOOP\r\n")
    assert [(await reply(reader))[0][:3] for _ in range(501)] == ["250"] * 501
    assert sum(w.count(b"\r\n") for w in ours.writes) == 501
    assert max(w.count(b"\r\n") for w in ours.writes) <= HOLD_MAX + 1
    assert len(ours.writes) < 501 / 8  # still grouped
    writer.close()
