"""Stopping the SMTP edge under traffic: a transaction already begun is stored and answered before the service
stops; a new one is refused with 421 and its connection closed, so the sending MTA retries later (RFC 5321 §3.8)."""

from __future__ import annotations

import asyncio

from gateway.app import Inbox311
from gateway.settings import Settings
from storage.raw import list_raw
from storage.states import RawState
from tests.gateway.conftest import report, service_settings
from tests.smtp_sink import SmtpSink


async def _say(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    writer.write(line + b"\r\n")
    return await reader.readline()


async def _session(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    assert (await reader.readline()).startswith(b"220")
    assert (await _say(reader, writer, b"HELO resident.example")).startswith(b"250")
    return reader, writer


async def test_stop_finishes_the_transaction_begun_and_refuses_a_new_one(
    settings: Settings, sqlite_url: str, sink: SmtpSink
) -> None:
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port))
    await svc.start()
    stopping: asyncio.Task[None] | None = None
    try:
        host, port = svc.smtp_address
        begun = await _session(host, port)  # a transaction under way when the stop comes
        assert (await _say(*begun, b"MAIL FROM:<jane@resident.example>")).startswith(b"250")
        assert (await _say(*begun, b"RCPT TO:<reports@city.example>")).startswith(b"250")
        idle = await _session(host, port)  # connected, between transactions

        stopping = asyncio.create_task(svc.stop())
        await asyncio.sleep(0.3)
        assert not stopping.done()  # it waits for the transaction begun

        assert await _say(*idle, b"MAIL FROM:<late@resident.example>") == (
            b"421 4.3.2 Service shutting down, please try again later\r\n"
        )
        assert await asyncio.wait_for(idle[0].read(), 5) == b""  # and the connection is closed

        assert (await _say(*begun, b"DATA")).startswith(b"354")
        begun[1].write(report(message_id="<begun@resident.example>").as_bytes().replace(b"\n", b"\r\n") + b".\r\n")
        assert (await begun[0].readline()).startswith(b"250 2.0.0 OK: queued as ")
        await asyncio.wait_for(stopping, 30)
        for _, writer in (begun, idle):
            writer.close()
    finally:
        if stopping is None:
            await svc.stop()

    svc = Inbox311(service_settings(settings, sqlite_url, sink.port))  # the message stored is processed after it
    await svc.start()
    try:
        await svc.worker.drain()
        async with svc.db.read() as session:
            [raw] = await list_raw(session=session)
        assert raw.message_id == "begun@resident.example" and raw.state == RawState.DONE
    finally:
        await svc.stop()
