"""Fixtures for tests that run a whole service: a recording relay sink and an Inbox311 on loopback port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest

from gateway.app import Inbox311
from gateway.settings import Settings
from tests.smtp_sink import SmtpSink


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    s = await SmtpSink().start()
    yield s
    await s.stop()


def service_settings(settings: Settings, db_url: str, relay_port: int, **sections: dict) -> Settings:
    outbox = {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.2, **sections.pop("outbox", {})}
    return settings.replace(
        database={"url": db_url}, outbound={"email": {"relay_port": relay_port}}, outbox=outbox, **sections
    )


@pytest.fixture
async def service(settings: Settings, db_url: str, sink: SmtpSink) -> AsyncIterator[Inbox311]:
    svc = Inbox311(service_settings(settings, db_url, sink.port))
    await svc.start()
    yield svc
    await svc.stop()


def report(
    subject: str = "Pothole on Main St",
    body: str = "Big pothole in front of 12 Main St.",
    message_id: str | None = "<r1@resident.example>",
    sender: str = "Jane Resident <jane@resident.example>",
    to: str = "reports@city.example",
) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    if message_id:
        m["Message-ID"] = message_id
    m.set_content(body)
    return m
