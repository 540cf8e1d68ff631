"""The SMTP session's idle timeout and aiosmtpd's command logging, made cheaper without changing what they do.

The timeout is checked on real conversations on loopback, with aiosmtpd's `SMTP` and the service's `IngestSMTP`
side by side: a session that keeps talking stays open, an idle one is closed after the timeout."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import aiosmtpd.smtp
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.ingest.smtp_scan import IngestSMTP

TIMEOUT = 0.4


class Answering:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


@pytest.fixture(params=[SMTP, IngestSMTP], ids=["aiosmtpd", "ingest"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    protocol = request.param
    server = await asyncio.get_running_loop().create_server(
        lambda: protocol(Answering(), timeout=TIMEOUT), "127.0.0.1", 0
    )
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    writer.write(line + b"\r\n")
    return await reader.readline()


async def test_a_session_that_keeps_talking_stays_open_and_an_idle_one_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reader.readline()).startswith(b"220")
    started = time.monotonic()
    while time.monotonic() - started < 3 * TIMEOUT:  # three timeouts long, a command every quarter of one
        assert (await _command(reader, writer, b"NOOP")).startswith(b"250")
        await asyncio.sleep(TIMEOUT / 4)
    assert (await _command(reader, writer, b"HELO resident.example")).startswith(b"250")
    last = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    idle = time.monotonic() - last
    assert TIMEOUT * 0.9 <= idle < TIMEOUT + 0.5
    writer.close()


async def test_the_timer_moves_only_when_the_deadline_comes_sooner() -> None:
    session = IngestSMTP(Answering(), timeout=TIMEOUT, loop=asyncio.get_running_loop())
    session._reset_timeout()
    first = session._timeout_handle
    for _ in range(50):  # aiosmtpd would cancel and schedule a timer for each command
        session._reset_timeout()
    assert session._timeout_handle is first and not first.cancelled()
    session._reset_timeout(TIMEOUT / 10)  # a shorter wait (aiosmtpd's PROXY handshake) moves it
    assert session._timeout_handle is not first and first.cancelled()
    assert session._timeout_handle is not None
    session._timeout_handle.cancel()


def test_command_logging_is_skipped_when_not_logged_and_masked_when_it_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mail_log = logging.getLogger("mail.log")
    monkeypatch.setattr(mail_log, "level", logging.WARNING)
    calls: list[bytes] = []
    real_sanitize = aiosmtpd.smtp.sanitize

    def counting_sanitize(text: bytes) -> bytes:
        calls.append(text)
        return real_sanitize(text)

    monkeypatch.setattr(aiosmtpd.smtp, "sanitize", counting_sanitize)
    aiosmtpd.smtp.sanitized_log(mail_log.info, "%r >> %r", ("127.0.0.1", 1), b"AUTH PLAIN c2VjcmV0\r\n")
    assert calls == []  # not logged at INFO: nothing masked for nothing
    with caplog.at_level(logging.INFO, logger="mail.log"):
        aiosmtpd.smtp.sanitized_log(mail_log.info, "%r >> %r", ("127.0.0.1", 1), b"AUTH PLAIN c2VjcmV0\r\n")
    assert len(calls) == 1
    [record] = [r for r in caplog.records if r.name == "mail.log"]
    assert "********" in record.getMessage() and "c2VjcmV0" not in record.getMessage()
