"""Fixtures for the staff inbox tests: a running service with a relay sink, staff accounts, logged-in clients."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import Inbox311
from gateway.settings import Settings
from gateway.web.auth import hash_password
from storage.db import Database
from storage.staff import create_staff_user
from tests.gateway.conftest import service_settings
from tests.smtp_sink import SmtpSink

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def web_service(settings: Settings, sqlite_url: str, sink: SmtpSink) -> AsyncIterator[Inbox311]:
    """The whole service on SQLite (the inbox queries are checked on both backends in tests/storage)."""
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port))
    await svc.start()
    yield svc
    await svc.stop()


async def add_staff(db: Database, email: str, role: str = "agent", name: str | None = None) -> int:
    async with db.write() as session:
        user = await create_staff_user(
            session=session, email=email, password_hash=hash_password(PASSWORD), role=role, name=name
        )
    assert user.id is not None
    return user.id


def base_url(service: Inbox311) -> str:
    host, port = service.http_address
    return f"http://{host}:{port}"


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/inbox/login")
    return await client.post(
        "/inbox/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/inbox"}
    )


@pytest.fixture
async def agent_client(web_service: Inbox311) -> AsyncIterator[httpx.AsyncClient]:
    await add_staff(web_service.db, "agent@city.example", "agent", name="Alex Agent")
    async with httpx.AsyncClient(base_url=base_url(web_service)) as client:
        response = await login(client, "agent@city.example")
        assert response.status_code == 303 and response.headers["location"] == "/inbox"
        yield client
