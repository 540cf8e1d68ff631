"""The SMTP edge answers like a careful MTA: exact reply codes for relaying, size, TLS; never an open relay."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from gateway.app import Inbox311
from gateway.ingest.smtp import _tls_context
from gateway.settings import ConfigError, Settings
from storage.raw import list_raw
from tests.gateway.conftest import report, service_settings
from tests.smtp_sink import SmtpSink


@pytest.fixture
async def small_service(settings: Settings, sqlite_url: str, sink: SmtpSink) -> AsyncIterator[Inbox311]:
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port, smtp={"max_message_bytes": 2048}))
    await svc.start()
    yield svc
    await svc.stop()


async def test_foreign_recipient_is_refused_at_rcpt(small_service: Inbox311) -> None:
    host, port = small_service.smtp_address
    async with aiosmtplib.SMTP(hostname=host, port=port) as client:
        await client.mail("spammer@elsewhere.example")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("victim@gmail.example")
        assert refused.value.code == 550 and "5.1.1" in refused.value.message
        ok = await client.rcpt("Reports@CITY.example")
        assert ok.code == 250


async def test_oversize_message_is_refused_with_552(small_service: Inbox311) -> None:
    host, port = small_service.smtp_address
    # A client that declares SIZE (RFC 1870) is refused at MAIL ...
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as at_mail:
        await aiosmtplib.send(report(body="x" * 5000), hostname=host, port=port)
    assert at_mail.value.code == 552
    # ... and one that does not is refused at the end of DATA.
    async with aiosmtplib.SMTP(hostname=host, port=port) as client:
        await client.mail("jane@resident.example")
        await client.rcpt("reports@city.example")
        with pytest.raises(aiosmtplib.SMTPDataError) as at_data:
            await client.data(report(body="x" * 5000).as_bytes())
    assert at_data.value.code == 552
    async with small_service.db.read() as session:
        assert await list_raw(session=session) == []


async def test_transcript_codes(small_service: Inbox311) -> None:
    host, port = small_service.smtp_address
    async with aiosmtplib.SMTP(hostname=host, port=port) as client:
        assert (await client.ehlo()).code == 250
        assert (await client.mail("jane@resident.example")).code == 250
        assert (await client.rcpt("reports@city.example")).code == 250
        code, message = await client.data(report().as_bytes())
        assert code == 250 and message.startswith("2.0.0 OK: queued as ")
    # a second identical delivery is acknowledged but not stored again
    _, response = await aiosmtplib.send(report(), hostname=host, port=port)
    assert response == "2.0.0 OK: already received"


async def test_a_pipelined_group_is_answered_and_stored_like_one_command_at_a_time(small_service: Inbox311) -> None:
    host, port = small_service.smtp_address
    reader, writer = await asyncio.open_connection(host, port)

    async def reply() -> list[bytes]:
        lines = [await asyncio.wait_for(reader.readline(), 10)]
        while lines[-1][3:4] == b"-":
            lines.append(await asyncio.wait_for(reader.readline(), 10))
        return lines

    assert (await reply())[0].startswith(b"220")
    writer.write(b"EHLO mx.resident.example\r\n")
    assert b"250-PIPELINING\r\n" in await reply()  # offered (RFC 2920), so a mail server sends the group below
    writer.write(
        b"MAIL FROM:<jane@resident.example>\r\nRCPT TO:<victim@gmail.example>\r\n"
        b"RCPT TO:<reports@city.example>\r\nDATA\r\n"
    )
    codes = [(await reply())[0][:3] for _ in range(4)]
    assert codes == [b"250", b"550", b"250", b"354"]
    writer.write(report().as_bytes().replace(b"\n", b"\r\n") + b".\r\n")
    assert (await reply())[0].startswith(b"250 2.0.0 OK: queued as ")
    writer.write(b"QUIT\r\n")
    await reply()
    writer.close()
    async with small_service.db.read() as session:
        stored = await list_raw(session=session)
    assert [(r.envelope_from, r.envelope_to) for r in stored] == [("jane@resident.example", "reports@city.example")]


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[str, str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


async def test_starttls_when_certificate_configured(
    settings: Settings, sqlite_url: str, sink: SmtpSink, tls_pair: tuple[str, str]
) -> None:
    cert, key = tls_pair
    svc = Inbox311(
        service_settings(
            settings, sqlite_url, sink.port, smtp={"tls_cert": cert, "tls_key": key, "require_starttls": True}
        )
    )
    await svc.start()
    try:
        host, port = svc.smtp_address
        plain = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False)
        await plain.connect()
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await plain.mail("jane@resident.example")
        assert refused.value.code == 530
        plain.close()
        context = ssl.create_default_context(cafile=cert)
        _, response = await aiosmtplib.send(report(), hostname=host, port=port, start_tls=True, tls_context=context)
        assert response.startswith("2.0.0 OK: queued as")
    finally:
        await svc.stop()


def test_a_certificate_that_cannot_be_loaded_is_a_config_error_naming_the_key(
    settings: Settings, tmp_path: Path, tls_pair: tuple[str, str]
) -> None:
    cert, key = tls_pair
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True)
    cases = {
        (str(tmp_path / "none.pem"), key): f"config key smtp.tls_cert: {tmp_path / 'none.pem'}: no such file",
        (cert, str(tmp_path / "none.key")): f"config key smtp.tls_key: {tmp_path / 'none.key'}: no such file",
        (cert, str(other)): f"config key smtp.tls_cert: cannot load {cert} with key {other}: [X509: KEY_VALUES",
    }
    for (cert_file, key_file), expected in cases.items():
        smtp = settings.replace(smtp={"tls_cert": cert_file, "tls_key": key_file}).smtp
        with pytest.raises(ConfigError) as refused:
            _tls_context(smtp)
        assert str(refused.value).startswith(expected)


async def test_health_and_metrics(service: Inbox311, sink: SmtpSink) -> None:
    host, port = service.smtp_address
    await aiosmtplib.send(report(), hostname=host, port=port)
    await sink.handler.wait_for(1)
    await service.worker.drain()
    http_host, http_port = service.http_address
    async with httpx.AsyncClient(base_url=f"http://{http_host}:{http_port}") as client:
        health = await client.get("/healthz")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["listeners"] == {"smtp": "up", "http": "up"} and body["worker"] == "up"
        assert body["raw"] == {"done": 1}
        metrics = (await client.get("/metrics")).text
        assert 'inbox311_messages_accepted_total{channel="email"} 1.0' in metrics
        assert 'inbox311_messages_processed_total{channel="email"} 1.0' in metrics
        assert 'inbox311_raw_rows{state="done"} 1.0' in metrics
        assert "inbox311_pipeline_latency_seconds_bucket" in metrics
        await service.worker.stop()
        degraded = await client.get("/healthz")
        assert degraded.status_code == 503 and degraded.json()["worker"] == "down"
