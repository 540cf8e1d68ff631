"""Staff login: argon2 hashes, signed sessions, CSRF on the login form itself, lockout with doubling, rate limits
per client address, logout, roles, and sessions that end when the password changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import Inbox311
from gateway.settings import Settings
from gateway.web.auth import hash_password
from storage.models import StaffUser
from storage.staff import get_staff_by_email, set_staff_password
from tests.gateway.conftest import service_settings
from tests.gateway.web.conftest import PASSWORD, add_staff, base_url, csrf_of, login
from tests.smtp_sink import SmtpSink


@pytest.fixture
async def auth_service(settings: Settings, sqlite_url: str, sink: SmtpSink) -> AsyncIterator[Inbox311]:
    web = {"login_max_failures": 3, "login_lockout_seconds": 0.5, "login_attempts_per_minute": 12}
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port, web=web))
    await svc.start()
    await add_staff(svc.db, "agent@city.example", "agent")
    await add_staff(svc.db, "viewer@city.example", "viewer")
    yield svc
    await svc.stop()


@pytest.fixture
async def client(auth_service: Inbox311) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(auth_service)) as c:
        yield c


async def _user(service: Inbox311, email: str) -> StaffUser:
    async with service.db.read() as session:
        user = await get_staff_by_email(session=session, email=email)
    assert user is not None
    return user


async def test_pages_need_a_login_and_the_hash_is_argon2(auth_service: Inbox311, client: httpx.AsyncClient) -> None:
    first = await client.get("/inbox?view=mine")
    assert first.status_code == 303 and first.headers["location"] == "/inbox/login?next=%2Finbox%3Fview%3Dmine"
    assert (await client.get("/inbox/tickets/1")).status_code == 303
    assert (await _user(auth_service, "agent@city.example")).password_hash.startswith("$argon2id$")
    done = await login(client, "agent@city.example")
    assert done.status_code == 303
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # http base URL
    assert (await client.get("/inbox")).status_code == 200


async def test_wrong_password_and_unknown_account_look_the_same(client: httpx.AsyncClient) -> None:
    wrong = await login(client, "agent@city.example", "not the password")
    unknown = await login(client, "nobody@city.example", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email address or password." in wrong.text and "Wrong email address or password." in unknown.text


async def test_login_form_has_csrf_and_refuses_offsite_redirects(client: httpx.AsyncClient) -> None:
    no_token = await client.post("/inbox/login", data={"email": "agent@city.example", "password": PASSWORD})
    assert no_token.status_code == 403
    page = await client.get("/inbox/login?next=https://evil.example/")
    done = await client.post(
        "/inbox/login",
        data={"email": "agent@city.example", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "//evil"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/inbox"


async def test_lockout_after_failures_then_it_lifts(auth_service: Inbox311, client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await login(client, "agent@city.example", "guess")).status_code == 401
    locked = await login(client, "agent@city.example")  # the right password, but the account is locked
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    user = await _user(auth_service, "agent@city.example")
    assert user.failed_logins == 3 and user.locked_until is not None
    await asyncio.sleep(0.6)
    assert (await login(client, "agent@city.example")).status_code == 303
    assert (await _user(auth_service, "agent@city.example")).failed_logins == 0


async def test_too_many_attempts_from_one_address(client: httpx.AsyncClient) -> None:
    # 12 a minute: the bucket refills as the attempts go on, so count until the first refusal.
    statuses = []
    while 429 not in statuses and len(statuses) < 40:
        statuses.append((await login(client, f"nobody{len(statuses)}@city.example", "x")).status_code)
    assert statuses[:12] == [401] * 12 and statuses[-1] == 429


async def test_viewer_cannot_change_anything(auth_service: Inbox311, client: httpx.AsyncClient) -> None:
    await login(client, "viewer@city.example")
    page = await client.get("/inbox")
    assert page.status_code == 200 and 'name="ticket_id"' not in page.text
    csrf = csrf_of(page.text)
    bulk = await client.post("/inbox/bulk", data={"csrf_token": csrf, "action": "status", "status": "closed"})
    status = await client.post("/inbox/tickets/1/status", data={"csrf_token": csrf, "status": "closed"})
    assert bulk.status_code == status.status_code == 403


async def test_logout_and_password_change_end_sessions(auth_service: Inbox311, client: httpx.AsyncClient) -> None:
    await login(client, "agent@city.example")
    page = await client.get("/inbox")
    copied = client.cookies.get("inbox311_session")
    out = await client.post("/inbox/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and (await client.get("/inbox")).status_code == 303
    async with httpx.AsyncClient(base_url=str(client.base_url), cookies={"inbox311_session": copied}) as thief:
        assert (await thief.get("/inbox")).status_code == 303  # a copy of the cookie died with the logout

    await login(client, "agent@city.example")
    assert (await client.get("/inbox")).status_code == 200
    user = await _user(auth_service, "agent@city.example")
    async with auth_service.db.write() as session:
        await set_staff_password(session=session, staff_id=user.id, password_hash=hash_password("a new long password"))
    assert (await client.get("/inbox")).status_code == 303  # the old cookie no longer opens anything
