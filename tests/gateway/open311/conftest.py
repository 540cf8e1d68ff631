"""A running Inbox311 with the Open311 API on a loopback port, its rules-only classifier, and an API key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import Inbox311
from gateway.outbox.templates import build_templates
from gateway.pipeline import Services
from gateway.settings import Settings
from gateway.signing import load_signer
from gateway.staff.actions import Actor, StaffContext, change_status
from rules.classify import RulesAndModelClassifier
from rules.loader import load_rules
from storage.apikeys import create_api_key
from storage.staff import create_staff_user, get_staff_by_email
from storage.tickets import get_ticket_by_number
from tests.gateway.conftest import service_settings
from tests.smtp_sink import SmtpSink


def rules_only_services(settings: Settings) -> Services:
    """The shipped rules without the text model: the category of an Open311 request comes from its service_code."""
    services = Services(settings=settings, templates=build_templates())
    services.classifier = RulesAndModelClassifier(load_rules(settings.rules.file or None), None, 0.5)
    return services


async def start_service(settings: Settings) -> Inbox311:
    service = Inbox311(settings, services=rules_only_services(settings))
    await service.start()
    return service


async def add_key(service: Inbox311, name: str = "test-client") -> str:
    async with service.db.write() as session:
        return (await create_api_key(session=session, name=name)).secret


def base_url(service: Inbox311) -> str:
    host, port = service.http_address
    return f"http://{host}:{port}/open311/v2"


@pytest.fixture
def open311_config() -> dict[str, Any]:
    """Overridden by a test module to change `[open311]` for its service."""
    return {}


@pytest.fixture
async def o311(
    settings: Settings, db_url: str, sink: SmtpSink, open311_config: dict[str, Any]
) -> AsyncIterator[Inbox311]:
    service = await start_service(service_settings(settings, db_url, sink.port, open311=open311_config))
    yield service
    await service.stop()


@pytest.fixture
async def api_key(o311: Inbox311) -> str:
    return await add_key(o311)


@pytest.fixture
async def client(o311: Inbox311) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(o311), timeout=20) as c:
        yield c


async def staff_sets_status(service: Inbox311, number: str, status: str, note: str = "") -> None:
    """What a staff member does in the inbox: the status change through the staff service."""
    async with service.db.write() as session:
        signer = await load_signer(session=session, settings=service.settings)
        ticket = await get_ticket_by_number(session=session, tracking_number=number)
        assert ticket is not None and ticket.id is not None
        crew = await get_staff_by_email(session=session, email="crew@city.example") or await create_staff_user(
            session=session, email="crew@city.example", password_hash="-", role="agent"
        )
        assert crew.id is not None
    staff = StaffContext(db=service.db, services=service.services, signer=signer)
    assert await change_status(staff, Actor(id=crew.id, email=crew.email), [ticket.id], status, note) == 1
