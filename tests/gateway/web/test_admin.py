"""Administration from the inbox: only admins manage staff accounts and the rules file; every staff form, admin or
not, refuses a POST without the session's CSRF token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from fastapi.routing import APIRoute

from gateway.app import Inbox311
from gateway.settings import Settings
from gateway.web.routes import admin as admin_pages
from gateway.web.routes import auth, inbox, inbox_ticket
from rules.loader import default_rules_text
from storage.staff import get_staff_by_email
from storage.tickets import list_tickets
from tests.gateway.conftest import report, service_settings
from tests.gateway.web.conftest import add_staff, base_url, csrf_of, login
from tests.smtp_sink import SmtpSink

NEW_RULE = """
[[rule]]
name = "zeppelin-landing"
description = "Airships in the park"
category = "parks"
when.keyword_any = ["zeppelin"]
"""


@pytest.fixture
async def admin_service(settings: Settings, sqlite_url: str, sink: SmtpSink, tmp_path: Path) -> AsyncIterator[Inbox311]:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(default_rules_text(), encoding="utf-8")
    svc = Inbox311(service_settings(settings, sqlite_url, sink.port, rules={"file": str(rules_file)}))
    await svc.start()
    await add_staff(svc.db, "root@city.example", "admin", name="Robin Admin")
    await add_staff(svc.db, "agent@city.example", "agent")
    await add_staff(svc.db, "viewer@city.example", "viewer")
    yield svc
    await svc.stop()


@asynccontextmanager
async def _client(service: Inbox311, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(service)) as client:
        assert (await login(client, email)).status_code == 303
        yield client


async def test_only_admins_reach_the_admin_pages(admin_service: Inbox311) -> None:
    for email in ("agent@city.example", "viewer@city.example"):
        async with _client(admin_service, email) as client:
            csrf = csrf_of((await client.get("/inbox")).text)
            assert "/inbox/admin/users" not in (await client.get("/inbox")).text  # no link for them either
            for path in ("/inbox/admin/users", "/inbox/admin/rules"):
                assert (await client.get(path)).status_code == 403, (email, path)
            add = await client.post(
                "/inbox/admin/users",
                data={"csrf_token": csrf, "email": "x@city.example", "role": "admin", "password": "p" * 12},
            )
            promote = await client.post("/inbox/admin/users/2/role", data={"csrf_token": csrf, "role": "admin"})
            rules = await client.post("/inbox/admin/rules", data={"csrf_token": csrf, "text": ""})
            assert add.status_code == promote.status_code == rules.status_code == 403
    async with admin_service.db.read() as session:
        assert await get_staff_by_email(session=session, email="x@city.example") is None
        agent = await get_staff_by_email(session=session, email="agent@city.example")
    assert agent is not None and agent.role == "agent"


async def test_admin_adds_demotes_and_deactivates_accounts(admin_service: Inbox311) -> None:
    async with _client(admin_service, "root@city.example") as admin:
        page = await admin.get("/inbox/admin/users")
        assert page.status_code == 200 and "agent@city.example" in page.text
        csrf = csrf_of(page.text)
        short = await admin.post(
            "/inbox/admin/users", data={"csrf_token": csrf, "email": "sam@city.example", "password": "short"}
        )
        assert short.status_code == 400 and "at least 10 characters" in short.text
        added = await admin.post(
            "/inbox/admin/users",
            data={
                "csrf_token": csrf,
                "email": "Sam@City.example",
                "name": "Sam",
                "role": "agent",
                "password": "p" * 12,
            },
        )
        assert added.status_code == 303
        async with admin_service.db.read() as session:
            sam = await get_staff_by_email(session=session, email="sam@city.example")
        assert sam is not None and sam.password_hash.startswith("$argon2id$") and sam.id is not None
        async with httpx.AsyncClient(base_url=base_url(admin_service)) as as_sam:
            assert (await login(as_sam, "sam@city.example", "p" * 12)).status_code == 303
            assert (await as_sam.get("/inbox")).status_code == 200
            demoted = await admin.post(
                f"/inbox/admin/users/{sam.id}/role", data={"csrf_token": csrf, "role": "viewer", "active": "on"}
            )
            assert demoted.status_code == 303
            sam_csrf = csrf_of((await as_sam.get("/inbox")).text)
            refused = await as_sam.post("/inbox/bulk", data={"csrf_token": sam_csrf, "action": "status"})
            assert refused.status_code == 403  # the new role applies to the running session at once
            off = await admin.post(f"/inbox/admin/users/{sam.id}/role", data={"csrf_token": csrf, "role": "viewer"})
            assert off.status_code == 303  # no "active" box ticked: deactivated
            assert (await as_sam.get("/inbox")).status_code == 303  # sent to the login page
            assert (await login(as_sam, "sam@city.example", "p" * 12)).status_code == 401
        myself = await admin.get("/inbox/admin/users")
        root_id = await _id(admin_service, "root@city.example")
        self_demote = await admin.post(
            f"/inbox/admin/users/{root_id}/role", data={"csrf_token": csrf_of(myself.text), "role": "agent"}
        )
        assert self_demote.status_code == 400 and "cannot demote or deactivate yourself" in self_demote.text


async def _id(service: Inbox311, email: str) -> int:
    async with service.db.read() as session:
        user = await get_staff_by_email(session=session, email=email)
    assert user is not None and user.id is not None
    return user.id


async def test_admin_edits_the_rules_and_the_next_report_uses_them(admin_service: Inbox311, sink: SmtpSink) -> None:
    rules_file = Path(admin_service.settings.rules.file)
    before = await asyncio.to_thread(rules_file.read_text, encoding="utf-8")
    async with _client(admin_service, "root@city.example") as admin:
        page = await admin.get("/inbox/admin/rules")
        assert page.status_code == 200 and "[categories.pothole]" in page.text
        csrf = csrf_of(page.text)
        broken = before + NEW_RULE.replace('"parks"', '"no-such-category"')
        refused = await admin.post("/inbox/admin/rules", data={"csrf_token": csrf, "text": broken})
        assert refused.status_code == 400 and "zeppelin-landing" in refused.text  # the loader names the rule
        assert await asyncio.to_thread(rules_file.read_text, encoding="utf-8") == before  # nothing written
        saved = await admin.post("/inbox/admin/rules", data={"csrf_token": csrf, "text": before + NEW_RULE})
        assert saved.status_code == 303
    assert (await asyncio.to_thread(rules_file.read_text, encoding="utf-8")).endswith(NEW_RULE)
    host, port = admin_service.smtp_address
    await aiosmtplib.send(
        report(subject="A zeppelin in Oak Park", body="A zeppelin has landed on the lawn of Oak Park."),
        hostname=host,
        port=port,
    )
    await sink.handler.wait_for(1)
    async with admin_service.db.read() as session:
        [ticket] = await list_tickets(session=session)
    assert (ticket.category, ticket.category_decided_by) == ("parks", "zeppelin-landing")


async def test_every_staff_form_refuses_a_post_without_the_csrf_token(admin_service: Inbox311) -> None:
    routes = [
        r
        for pages in (auth, inbox, inbox_ticket, admin_pages)
        for r in pages.router.routes
        if isinstance(r, APIRoute) and "POST" in r.methods
    ]
    assert len(routes) >= 14  # login, logout, bulk, 7 ticket actions, split, 4 admin forms
    async with _client(admin_service, "root@city.example") as client:
        for route in routes:
            path = route.path.replace("{ticket_id}", "1").replace("{message_id}", "1").replace("{user_id}", "1")
            answer = await client.post(path, data={"email": "root@city.example", "password": "x", "body": "hi"})
            assert answer.status_code == 403, f"{path}: {answer.status_code}"
        assert (await client.get("/inbox")).status_code == 200  # still logged in: logout refused too
